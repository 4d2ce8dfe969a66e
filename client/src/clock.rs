//! The client's only clock read: `created_at` of the posts it signs, and "3h ago".

use std::time::{SystemTime, UNIX_EPOCH};

use parley_protocol::Timestamp;

/// Now, by the system clock, in milliseconds since the epoch (0 before 1970).
pub(crate) fn now() -> Timestamp {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        });
    Timestamp::from_millis(millis)
}
