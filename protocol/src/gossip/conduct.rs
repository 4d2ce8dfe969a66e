//! How a peer's bad input is judged (`spec/07-sync-and-gossip.md` 7.12): invalid items
//! (envelopes that fail validation, messages that do not decode) counted over a sliding
//! window, first throttled, then cut off with a ban.

use crate::time::Timestamp;

/// Throttle delay per invalid item from the throttle threshold on, in ms.
pub const THROTTLE_STEP_MS: u64 = 10;
/// The longest throttle delay, in ms.
pub const MAX_THROTTLE_MS: u64 = 5_000;

/// Thresholds for [`Conduct`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConductConfig {
    /// Length of the window invalid items are counted over, in ms.
    pub window_ms: u64,
    /// Invalid items in a window from which the peer is throttled.
    pub throttle_after: u64,
    /// Invalid items in a window from which the peer is disconnected and banned.
    pub disconnect_after: u64,
    /// How long a disconnected peer stays banned, in ms.
    pub ban_ms: u64,
}

impl Default for ConductConfig {
    /// A one-minute window, throttling from 16 invalid items, disconnecting from 256,
    /// a ten-minute ban.
    fn default() -> Self {
        Self {
            window_ms: 60_000,
            throttle_after: 16,
            disconnect_after: 256,
            ban_ms: 600_000,
        }
    }
}

/// What to do about a peer after its latest input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Carry on.
    Fine,
    /// Wait `delay_ms` before reading more from this peer.
    Throttle {
        /// How long to wait, in ms.
        delay_ms: u64,
    },
    /// Close the connection and refuse this peer for `ban_ms`.
    Disconnect {
        /// How long to refuse the peer, in ms.
        ban_ms: u64,
    },
}

/// One peer's record: totals, and invalid items in the current and previous window.
///
/// The window slides: the count is the current fixed window's plus the previous one's
/// weighted by how much of it still overlaps the last `window_ms`, so spreading invalid
/// items across a window boundary does not halve them.
#[derive(Clone, Debug)]
pub struct Conduct {
    config: ConductConfig,
    /// Start of the current fixed window, a multiple of the window length.
    window_start: u64,
    current: u64,
    previous: u64,
    valid_total: u64,
    invalid_total: u64,
}

impl Conduct {
    /// A clean record.
    pub fn new(config: ConductConfig) -> Self {
        Self {
            config,
            window_start: 0,
            current: 0,
            previous: 0,
            valid_total: 0,
            invalid_total: 0,
        }
    }

    /// Records `valid` accepted and `invalid` refused items (invalid envelopes,
    /// undecodable messages) at `now` and judges the peer: below `throttle_after` invalid
    /// items in the window `Fine`; from `throttle_after` `Throttle`, [`THROTTLE_STEP_MS`]
    /// per invalid item from the threshold on (so at least one step), at most
    /// [`MAX_THROTTLE_MS`]; from `disconnect_after` `Disconnect { ban_ms }`. Valid items
    /// only count towards the totals: they do not excuse invalid ones. A threshold of 0
    /// acts as 1 (no verdict without an invalid item). Time going backwards counts in the
    /// current window.
    pub fn record(&mut self, now: Timestamp, valid: u64, invalid: u64) -> Verdict {
        self.advance(now);
        self.current = self.current.saturating_add(invalid);
        self.valid_total = self.valid_total.saturating_add(valid);
        self.invalid_total = self.invalid_total.saturating_add(invalid);
        self.verdict(now)
    }

    /// The verdict at `now` without recording anything.
    pub fn verdict(&self, now: Timestamp) -> Verdict {
        let count = self.invalid_in_window(now);
        let throttle_after = self.config.throttle_after.max(1);
        if count >= self.config.disconnect_after.max(1) {
            Verdict::Disconnect {
                ban_ms: self.config.ban_ms,
            }
        } else if count >= throttle_after {
            let steps = count - throttle_after + 1;
            Verdict::Throttle {
                delay_ms: steps.saturating_mul(THROTTLE_STEP_MS).min(MAX_THROTTLE_MS),
            }
        } else {
            Verdict::Fine
        }
    }

    /// Invalid items counted in the window ending at `now`.
    pub fn invalid_in_window(&self, now: Timestamp) -> u64 {
        let mut copy = self.clone();
        copy.advance(now);
        let window = copy.window_len();
        let into = now
            .as_millis()
            .saturating_sub(copy.window_start)
            .min(window);
        let carried = u128::from(copy.previous) * u128::from(window - into) / u128::from(window);
        copy.current
            .saturating_add(u64::try_from(carried).unwrap_or(u64::MAX))
    }

    /// Invalid items recorded in all.
    pub fn invalid_total(&self) -> u64 {
        self.invalid_total
    }

    /// Valid items recorded in all.
    pub fn valid_total(&self) -> u64 {
        self.valid_total
    }

    /// The window length, at least 1 ms.
    fn window_len(&self) -> u64 {
        self.config.window_ms.max(1)
    }

    /// Moves the fixed windows forward to the one holding `now`.
    fn advance(&mut self, now: Timestamp) {
        let window = self.window_len();
        let Some(elapsed) = now.as_millis().checked_sub(self.window_start) else {
            return;
        };
        let periods = elapsed / window;
        match periods {
            0 => return,
            1 => self.previous = self.current,
            _ => self.previous = 0,
        }
        self.current = 0;
        // periods * window <= elapsed: no overflow.
        self.window_start += periods * window;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A window boundary (a multiple of 60 s).
    const T0: Timestamp = Timestamp(1_795_564_800_000);

    fn at(ms: u64) -> Timestamp {
        T0.saturating_add_millis(ms)
    }

    #[test]
    fn thresholds() {
        let mut conduct = Conduct::new(ConductConfig::default());
        assert_eq!(conduct.record(T0, 1_000, 15), Verdict::Fine);
        assert_eq!(conduct.record(T0, 0, 1), Verdict::Throttle { delay_ms: 10 });
        assert_eq!(conduct.record(T0, 0, 1), Verdict::Throttle { delay_ms: 20 });
        assert_eq!(
            conduct.record(T0, 0, 238),
            Verdict::Throttle { delay_ms: 2_400 }
        );
        assert_eq!(
            conduct.record(T0, 0, 1),
            Verdict::Disconnect { ban_ms: 600_000 }
        );
        assert_eq!(conduct.invalid_total(), 256);
        assert_eq!(conduct.valid_total(), 1_000);
    }

    #[test]
    fn throttle_delay_is_capped() {
        let config = ConductConfig {
            disconnect_after: u64::MAX,
            ..ConductConfig::default()
        };
        let mut conduct = Conduct::new(config);
        assert_eq!(
            conduct.record(T0, 0, 100_000),
            Verdict::Throttle {
                delay_ms: MAX_THROTTLE_MS
            }
        );
    }

    #[test]
    fn valid_items_alone_are_fine() {
        let mut conduct = Conduct::new(ConductConfig {
            throttle_after: 0,
            disconnect_after: 0,
            ..ConductConfig::default()
        });
        assert_eq!(conduct.record(T0, u64::MAX, 0), Verdict::Fine);
        assert_eq!(
            conduct.record(T0, 0, 1),
            Verdict::Disconnect { ban_ms: 600_000 }
        );
    }

    #[test]
    fn the_window_slides_and_then_forgets() {
        let mut conduct = Conduct::new(ConductConfig::default());
        assert_eq!(
            conduct.record(at(59_000), 0, 200),
            Verdict::Throttle { delay_ms: 1_850 }
        );
        // Just past the boundary: the previous window still counts almost fully.
        assert_eq!(conduct.invalid_in_window(at(60_000)), 200);
        assert_eq!(
            conduct.record(at(60_000), 0, 60),
            Verdict::Disconnect { ban_ms: 600_000 }
        );
        // Half a window on, half of the previous window counts.
        assert_eq!(conduct.invalid_in_window(at(90_000)), 160);
        // A window on, only the second burst counts; two windows on, nothing.
        assert_eq!(
            conduct.record(at(120_000), 0, 0),
            Verdict::Throttle { delay_ms: 450 }
        );
        assert_eq!(conduct.invalid_in_window(at(120_000)), 60);
        assert_eq!(conduct.invalid_in_window(at(180_000)), 0);
        assert_eq!(conduct.invalid_total(), 260);
    }

    #[test]
    fn time_going_backwards_counts_in_the_current_window() {
        let mut conduct = Conduct::new(ConductConfig::default());
        conduct.record(at(30_000), 0, 10);
        assert_eq!(conduct.record(T0, 0, 6), Verdict::Throttle { delay_ms: 10 });
        assert_eq!(conduct.invalid_in_window(at(30_000)), 16);
    }

    #[test]
    fn extremes_do_not_overflow() {
        let mut conduct = Conduct::new(ConductConfig {
            window_ms: 0,
            throttle_after: u64::MAX,
            disconnect_after: u64::MAX,
            ban_ms: u64::MAX,
        });
        assert_eq!(
            conduct.record(Timestamp(u64::MAX), u64::MAX, u64::MAX - 1),
            Verdict::Fine
        );
        assert_eq!(
            conduct.record(Timestamp(u64::MAX), u64::MAX, u64::MAX),
            Verdict::Disconnect { ban_ms: u64::MAX }
        );
        assert_eq!(conduct.valid_total(), u64::MAX);
    }

    proptest! {
        #[test]
        fn verdict_follows_the_count(
            config in (1u64..10_000, 0u64..50, 0u64..300, any::<u64>())
                .prop_map(|(window_ms, throttle_after, disconnect_after, ban_ms)| ConductConfig {
                    window_ms, throttle_after, disconnect_after, ban_ms,
                }),
            calls in proptest::collection::vec((0u64..5_000, 0u64..100, 0u64..20), 1..40),
        ) {
            let mut conduct = Conduct::new(config);
            let (mut clock, mut total) = (0u64, 0u64);
            for (step, valid, invalid) in calls {
                clock += step;
                total += invalid;
                let verdict = conduct.record(at(clock), valid, invalid);
                let count = conduct.invalid_in_window(at(clock));
                prop_assert!(count <= total);
                let expected = if count >= config.disconnect_after.max(1) {
                    Verdict::Disconnect { ban_ms: config.ban_ms }
                } else if count >= config.throttle_after.max(1) {
                    let delay_ms = ((count - config.throttle_after.max(1) + 1) * THROTTLE_STEP_MS).min(MAX_THROTTLE_MS);
                    Verdict::Throttle { delay_ms }
                } else {
                    Verdict::Fine
                };
                prop_assert_eq!(verdict, expected);
            }
            prop_assert_eq!(conduct.invalid_total(), total);
        }
    }
}
