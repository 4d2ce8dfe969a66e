//! Where the client's random bytes come from: the operating system, or, when
//! `PARLEY_TEST_SEED` is set, bytes derived from that seed and what they are for, so
//! that transcript tests make the same keys and spaces on every run. The seed makes a
//! key anyone can recompute: it is for tests only.

/// The variable that seeds every random byte, for tests.
pub(crate) const TEST_SEED: &str = "PARLEY_TEST_SEED";

/// Fills `buf` with random bytes for `what` (a key, a nonce).
pub(crate) fn fill(what: &str, buf: &mut [u8]) -> Result<(), getrandom::Error> {
    match std::env::var(TEST_SEED) {
        Ok(seed) => {
            let mut hasher = blake3::Hasher::new_derive_key("parley-client test seed v1");
            hasher.update(seed.as_bytes());
            hasher.update(&[0]);
            hasher.update(what.as_bytes());
            hasher.finalize_xof().fill(buf);
            Ok(())
        }
        Err(_) => getrandom::fill(buf),
    }
}
