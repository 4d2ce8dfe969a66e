//! The node's one reading of the wall clock, as a protocol timestamp.

use std::time::{SystemTime, UNIX_EPOCH};

use parley_protocol::Timestamp;

/// Now, in milliseconds since the Unix epoch. A clock before 1970 reads as the epoch.
pub fn now() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    Timestamp::from_millis(ms)
}
