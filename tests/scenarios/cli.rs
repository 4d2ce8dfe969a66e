//! The binaries, driven as a user would.
