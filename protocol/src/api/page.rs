//! Pages of the long listings (the thread list, the decision log): how many, where the
//! next page starts, and which threads. A cursor names the last line of a page, so a
//! page read after new posts arrived neither repeats nor skips a line that did not move.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::id::PostId;
use crate::time::Timestamp;

/// The most lines a client may ask for in one page; a node may answer fewer, to keep a
/// response well inside one message (`MAX_MESSAGE_BYTES`), and then says where to go on.
pub const MAX_PAGE_LINES: u32 = 500;

/// The thread list from just after one thread: the one with this last activity and id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ThreadCursor {
    /// The thread's last activity.
    pub last_activity: Timestamp,
    /// The thread.
    pub id: PostId,
}

/// The decision log from just after one decision: the one written by this resolve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DecisionCursor {
    /// When the resolve was written.
    pub decided_at: Timestamp,
    /// The resolve post.
    pub resolve: PostId,
}

/// Which threads a thread list shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ThreadFilter {
    /// Every thread shown.
    #[default]
    All,
    /// Threads without a decision.
    Open,
    /// Threads with a decision.
    Resolved,
}

impl ThreadFilter {
    /// Whether a thread that is `resolved` (or not) passes this filter.
    pub fn admits(self, resolved: bool) -> bool {
        match self {
            Self::All => true,
            Self::Open => !resolved,
            Self::Resolved => resolved,
        }
    }
}

/// Why a cursor's text does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a page cursor: it is printed by `--json` output as `next`, in the form MILLISECONDS.ID"
)]
pub struct CursorParseError(String);

macro_rules! cursor_text {
    ($name:ident, $time:ident, $id:ident) => {
        /// The text form `MILLISECONDS.ID`, as `--json` output prints it.
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}.{}", self.$time.as_millis(), self.$id)
            }
        }

        impl FromStr for $name {
            type Err = CursorParseError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                let error = || CursorParseError(text.to_owned());
                let (time, id) = text.split_once('.').ok_or_else(error)?;
                Ok(Self {
                    $time: Timestamp::from_millis(time.parse().map_err(|_| error())?),
                    $id: id.parse().map_err(|_| error())?,
                })
            }
        }
    };
}

cursor_text!(ThreadCursor, last_activity, id);
cursor_text!(DecisionCursor, decided_at, resolve);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_through_their_text() {
        let cursor = ThreadCursor {
            last_activity: Timestamp::from_millis(1_800_000_000_123),
            id: PostId::from_bytes([7; 32]),
        };
        assert_eq!(cursor.to_string().parse::<ThreadCursor>(), Ok(cursor));
        let decision = DecisionCursor {
            decided_at: Timestamp::from_millis(5),
            resolve: PostId::from_bytes([9; 32]),
        };
        assert_eq!(decision.to_string().parse::<DecisionCursor>(), Ok(decision));
        for bad in ["", "12", "x.y", "12.pst1nope"] {
            assert!(bad.parse::<ThreadCursor>().is_err(), "{bad}");
        }
    }

    #[test]
    fn filters_admit_what_they_name() {
        assert!(ThreadFilter::All.admits(true) && ThreadFilter::All.admits(false));
        assert!(ThreadFilter::Open.admits(false) && !ThreadFilter::Open.admits(true));
        assert!(ThreadFilter::Resolved.admits(true) && !ThreadFilter::Resolved.admits(false));
    }
}
