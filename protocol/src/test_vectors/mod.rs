//! The generator of `spec/vectors/*.json`: fixed seeds in, JSON documents out.
//! `examples/gen_vectors.rs` writes them; `tests/vectors.rs` checks them for drift.
