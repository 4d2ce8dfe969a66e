//! The client's only clock read: `created_at` of the posts it signs, and "3h ago".
//!
//! `PARLEY_TEST_CLOCK` (milliseconds since the epoch) stops the clock there, so that
//! transcript tests sign the same posts and print the same times on every run. It is
//! for tests only.

use std::time::{SystemTime, UNIX_EPOCH};

use parley_protocol::Timestamp;

/// The variable that fixes the clock, for tests.
pub(crate) const TEST_CLOCK: &str = "PARLEY_TEST_CLOCK";

/// Now, by the system clock (or `PARLEY_TEST_CLOCK`), in milliseconds since the epoch
/// (0 before 1970).
pub(crate) fn now() -> Timestamp {
    if let Some(fixed) = std::env::var(TEST_CLOCK)
        .ok()
        .and_then(|value| value.trim().parse::<u64>().ok())
    {
        return Timestamp::from_millis(fixed);
    }
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        });
    Timestamp::from_millis(millis)
}
