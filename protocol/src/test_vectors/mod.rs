//! The generator of `spec/vectors/*.json`: fixed seeds in, JSON documents out.
//! `examples/gen_vectors.rs` writes them; `tests/vectors.rs` checks them for drift, and
//! checks every vector against the implementation.

pub mod cctv;
mod envelopes;
mod invalid;
mod sync;
pub mod views;

pub use envelopes::{FIXED_NOW, key, sample_posts};

/// Every vector file, by file name under `spec/vectors/`, as pretty JSON text.
pub fn all() -> Vec<(&'static str, String)> {
    let documents = [
        ("keys.json", envelopes::keys()),
        ("envelopes.json", envelopes::envelopes()),
        ("invalid.json", invalid::invalid()),
        ("views.json", views::views()),
        ("cctv-ed25519-verdicts.json", cctv::cctv_verdicts()),
        ("sync.json", sync::sync()),
    ];
    documents
        .into_iter()
        .map(|(name, value)| {
            let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
            text.push('\n');
            (name, text)
        })
        .collect()
}
