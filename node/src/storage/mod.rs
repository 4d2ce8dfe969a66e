//! Storage in sled, and only here.
