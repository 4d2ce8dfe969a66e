//! Time as data: milliseconds since the Unix epoch. Nothing in this crate reads a clock;
//! callers pass `now` in.

use serde::{Deserialize, Serialize};

/// A point in time, in milliseconds since 1970-01-01T00:00:00Z (UTC), as an author's
/// or validator's clock reports it.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The timestamp `ms` milliseconds since the epoch.
    pub const fn from_millis(ms: u64) -> Self {
        Self(ms)
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// This timestamp moved `ms` milliseconds later, saturating at the end of time.
    #[must_use]
    pub const fn saturating_add_millis(self, ms: u64) -> Self {
        Self(self.0.saturating_add(ms))
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

/// Why a point in time people typed could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("expected a period like 7d, 24h, 2w or a date like 2026-11-30, not `{0}`")]
pub struct PointParseError(pub String);

/// Reads a point in time people type: a period back from `now` (`30m`, `24h`, `7d`,
/// `2w`) or the start of a UTC day (`2026-11-30`).
pub fn parse_point(text: &str, now: Timestamp) -> Result<Timestamp, PointParseError> {
    let text = text.trim();
    let unit = |c: char| match c {
        'm' => Some(60_000u64),
        'h' => Some(3_600_000),
        'd' => Some(86_400_000),
        'w' => Some(7 * 86_400_000),
        _ => None,
    };
    if let Some(last) = text.chars().last()
        && let Some(ms) = unit(last)
        && let Ok(n) = text[..text.len() - 1].parse::<u64>()
    {
        return Ok(Timestamp::from_millis(
            now.as_millis().saturating_sub(n.saturating_mul(ms)),
        ));
    }
    let parts: Vec<&str> = text.split('-').collect();
    if let [y, m, d] = parts.as_slice()
        && let (Ok(y), Ok(m), Ok(d)) = (y.parse::<i64>(), m.parse::<u32>(), d.parse::<u32>())
        && (1..=12).contains(&m)
        && (1..=31).contains(&d)
        && (0..=999_999).contains(&y)
    {
        // Days from civil date (Howard Hinnant's algorithm).
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = i64::from((m + 9) % 12);
        let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        if let Ok(days) = u64::try_from(days) {
            return Ok(Timestamp::from_millis(days * 86_400_000));
        }
    }
    Err(PointParseError(text.to_owned()))
}

/// One day, in milliseconds.
pub const DAY_MILLIS: u64 = 86_400_000;
