//! Reconnect backoff: exponential, capped, with "equal jitter" (`spec/07-sync-and-gossip.md`
//! 7.12). The caller supplies the randomness; nothing here reads a clock.

/// How a [`Backoff`] grows: from `initial_ms` doubling per attempt, up to `max_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackoffConfig {
    /// The ceiling of the first delay, in milliseconds.
    pub initial_ms: u64,
    /// The largest ceiling, in milliseconds; no delay exceeds it.
    pub max_ms: u64,
}

impl Default for BackoffConfig {
    /// 500 ms doubling up to one minute.
    fn default() -> Self {
        Self {
            initial_ms: 500,
            max_ms: 60_000,
        }
    }
}

impl BackoffConfig {
    /// The ceiling after `attempts` failed attempts: `min(max_ms, initial_ms * 2^attempts)`,
    /// saturating instead of overflowing.
    pub fn ceiling_ms(&self, attempts: u32) -> u64 {
        let grown = match 1u64.checked_shl(attempts) {
            Some(factor) => self.initial_ms.saturating_mul(factor),
            None if self.initial_ms == 0 => 0,
            None => u64::MAX,
        };
        grown.min(self.max_ms)
    }
}

/// The reconnect schedule for one peer: each call to [`Backoff::next_delay_ms`] is one
/// attempt; [`Backoff::reset`] starts over after a connection that worked.
#[derive(Clone, Debug)]
pub struct Backoff {
    config: BackoffConfig,
    attempts: u32,
}

impl Backoff {
    /// A schedule with no attempts made yet.
    pub fn new(config: BackoffConfig) -> Self {
        Self {
            config,
            attempts: 0,
        }
    }

    /// Delay before the next attempt, in ms: the ceiling `min(max, initial * 2^attempts)`
    /// with "equal jitter", uniformly in `[ceiling / 2, ceiling]` (half rounded down)
    /// chosen by `random`; counts one attempt. Never overflows, for any number of
    /// attempts.
    pub fn next_delay_ms(&mut self, random: u64) -> u64 {
        let ceiling = self.config.ceiling_ms(self.attempts);
        self.attempts = self.attempts.saturating_add(1);
        jitter(ceiling, random)
    }

    /// Starts over, after a connection that worked.
    pub fn reset(&mut self) {
        self.attempts = 0;
    }

    /// Attempts counted since the last reset (saturating at `u32::MAX`).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The ceiling the next call to [`Backoff::next_delay_ms`] draws under.
    pub fn ceiling_ms(&self) -> u64 {
        self.config.ceiling_ms(self.attempts)
    }

    /// The configuration this schedule follows.
    pub fn config(&self) -> BackoffConfig {
        self.config
    }
}

/// A value in `[ceiling / 2, ceiling]` picked by `random`: `random` scaled into the span
/// by a 128-bit multiply (no modulo bias worth the name, no overflow).
fn jitter(ceiling: u64, random: u64) -> u64 {
    let low = ceiling / 2;
    // ceiling - low + 1 <= 2^63 + 1: no overflow.
    let span = u128::from(ceiling - low) + 1;
    let offset = (u128::from(random) * span) >> 64;
    // offset < span, so low + offset <= ceiling.
    low + u64::try_from(offset).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn defaults_double_from_half_a_second_to_a_minute() {
        let config = BackoffConfig::default();
        let ceilings: Vec<u64> = (0..9).map(|a| config.ceiling_ms(a)).collect();
        assert_eq!(
            ceilings,
            [
                500, 1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000
            ]
        );
    }

    #[test]
    fn random_extremes_give_the_bounds() {
        let mut low = Backoff::new(BackoffConfig::default());
        let mut high = low.clone();
        assert_eq!(low.next_delay_ms(0), 250);
        assert_eq!(high.next_delay_ms(u64::MAX), 500);
        assert_eq!(low.next_delay_ms(0), 500);
        assert_eq!(high.next_delay_ms(u64::MAX), 1_000);
        assert_eq!(low.attempts(), 2);
    }

    #[test]
    fn reset_starts_over() {
        let mut backoff = Backoff::new(BackoffConfig::default());
        for _ in 0..20 {
            backoff.next_delay_ms(7);
        }
        assert_eq!(backoff.ceiling_ms(), 60_000);
        backoff.reset();
        assert_eq!(backoff.attempts(), 0);
        assert_eq!(backoff.ceiling_ms(), 500);
    }

    #[test]
    fn saturates_at_the_last_attempt() {
        let mut backoff = Backoff {
            config: BackoffConfig {
                initial_ms: u64::MAX,
                max_ms: u64::MAX,
            },
            attempts: u32::MAX,
        };
        assert_eq!(backoff.next_delay_ms(u64::MAX), u64::MAX);
        assert_eq!(backoff.attempts(), u32::MAX);
        assert_eq!(backoff.next_delay_ms(0), u64::MAX / 2);
    }

    #[test]
    fn zero_initial_never_waits() {
        let config = BackoffConfig {
            initial_ms: 0,
            max_ms: 60_000,
        };
        assert_eq!(config.ceiling_ms(u32::MAX), 0);
        assert_eq!(Backoff::new(config).next_delay_ms(u64::MAX), 0);
    }

    fn configs() -> impl Strategy<Value = BackoffConfig> {
        prop_oneof![
            (0u64..10_000, 0u64..1_000_000),
            (any::<u64>(), any::<u64>()),
        ]
        .prop_map(|(initial_ms, max_ms)| BackoffConfig { initial_ms, max_ms })
    }

    proptest! {
        #[test]
        fn delay_is_within_half_and_whole_ceiling(
            config in configs(),
            attempts in prop_oneof![0u32..80, Just(u32::MAX), any::<u32>()],
            random in any::<u64>(),
        ) {
            let mut backoff = Backoff { config, attempts };
            let ceiling = backoff.ceiling_ms();
            let delay = backoff.next_delay_ms(random);
            prop_assert!(ceiling / 2 <= delay && delay <= ceiling);
            prop_assert!(delay <= config.max_ms);
        }

        #[test]
        fn ceiling_never_shrinks(config in configs(), randoms in proptest::collection::vec(any::<u64>(), 0..80)) {
            let mut backoff = Backoff::new(config);
            let mut last = 0;
            for random in randoms {
                let ceiling = backoff.ceiling_ms();
                prop_assert!(ceiling >= last);
                last = ceiling;
                backoff.next_delay_ms(random);
            }
        }
    }
}
