//! A per-peer rate limit: a token bucket in integer arithmetic (`spec/07-sync-and-gossip.md`
//! 7.12). Tokens are kept in thousandths of a unit, so a rate of `r` units per second
//! refills exactly `r` thousandths per millisecond: no rounding at any integer rate.

use crate::time::Timestamp;

/// Thousandths of a unit per unit.
const SCALE: i128 = 1_000;

/// A token bucket: `per_second` units per second, up to `burst` saved up. Taking more
/// than is saved goes into debt, and the caller waits until the debt is paid back.
#[derive(Clone, Debug)]
pub struct RateLimit {
    /// Units per second, equal to thousandths of a unit per millisecond.
    per_second: u64,
    /// The most thousandths the bucket holds.
    capacity: i128,
    /// Thousandths of a unit saved (negative: owed).
    balance: i128,
    /// The latest time seen.
    last: Timestamp,
}

impl RateLimit {
    /// `per_second` units per second, up to `burst` saved up; starts full at `now`.
    pub fn new(per_second: u64, burst: u64, now: Timestamp) -> Self {
        let capacity = i128::from(burst) * SCALE;
        Self {
            per_second,
            capacity,
            balance: capacity,
            last: now,
        }
    }

    /// Takes `amount` units at `now` (going into debt if needed) and returns how many ms
    /// the caller must wait before taking more (0 when within the rate). Time going
    /// backwards is treated as no time passing. Never panics or overflows; with a rate
    /// of 0 a debt is never paid back and the wait is `u64::MAX`.
    pub fn take(&mut self, amount: u64, now: Timestamp) -> u64 {
        self.refill(now);
        self.balance = self.balance.saturating_sub(i128::from(amount) * SCALE);
        self.wait_ms()
    }

    /// How many ms from the latest time seen until the debt is paid back (0 when there
    /// is none).
    pub fn wait_ms(&self) -> u64 {
        if self.balance >= 0 {
            return 0;
        }
        if self.per_second == 0 {
            return u64::MAX;
        }
        let owed = self.balance.unsigned_abs();
        let rate = u128::from(self.per_second);
        u64::try_from(owed.div_ceil(rate)).unwrap_or(u64::MAX)
    }

    /// Units per second.
    pub fn per_second(&self) -> u64 {
        self.per_second
    }

    /// Adds what `now - last` earned, capped at the capacity.
    fn refill(&mut self, now: Timestamp) {
        let Some(elapsed) = now.as_millis().checked_sub(self.last.as_millis()) else {
            return;
        };
        self.last = now;
        let earned = i128::from(elapsed).saturating_mul(i128::from(self.per_second));
        self.balance = self.balance.saturating_add(earned).min(self.capacity);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T0: Timestamp = Timestamp(1_795_564_800_000);

    fn at(ms: u64) -> Timestamp {
        T0.saturating_add_millis(ms)
    }

    #[test]
    fn burst_is_free_then_the_rate_applies() {
        let mut rate = RateLimit::new(10, 5, T0);
        assert_eq!(rate.take(5, T0), 0);
        // One unit over: a tenth of a second of debt.
        assert_eq!(rate.take(1, T0), 100);
        assert_eq!(rate.take(0, at(100)), 0);
        assert_eq!(rate.take(1, at(150)), 50);
    }

    #[test]
    fn fifty_thousand_a_second_is_exact_per_millisecond() {
        let mut rate = RateLimit::new(50_000, 50, T0);
        for ms in 1..=1_000 {
            assert_eq!(rate.take(50, at(ms)), 0);
        }
        assert_eq!(rate.take(1, at(1_000)), 1);
    }

    #[test]
    fn saving_stops_at_the_burst() {
        let mut rate = RateLimit::new(1_000, 100, T0);
        assert_eq!(rate.take(100, at(3_600_000)), 0);
        assert_eq!(rate.take(1_000, at(3_600_000)), 1_000);
    }

    #[test]
    fn time_going_backwards_earns_nothing() {
        let mut rate = RateLimit::new(1_000, 0, at(1_000));
        assert_eq!(rate.take(10, at(1_000)), 10);
        assert_eq!(rate.take(0, T0), 10);
        assert_eq!(rate.take(0, at(1_005)), 5);
        assert_eq!(rate.take(0, at(1_010)), 0);
    }

    #[test]
    fn extremes_do_not_overflow() {
        let mut rate = RateLimit::new(u64::MAX, u64::MAX, Timestamp(0));
        assert_eq!(rate.take(u64::MAX, Timestamp(u64::MAX)), 0);
        let mut stuck = RateLimit::new(0, 0, Timestamp(0));
        for _ in 0..1_000 {
            assert_eq!(stuck.take(u64::MAX, Timestamp(0)), u64::MAX);
        }
        assert_eq!(stuck.take(0, Timestamp(u64::MAX)), u64::MAX);
    }

    /// Calls as `(ms since the previous call, may go back, amount)`.
    fn schedule() -> impl Strategy<Value = Vec<(u64, bool, u64)>> {
        proptest::collection::vec(
            (0u64..2_000, proptest::bool::weighted(0.1), 0u64..200),
            1..60,
        )
    }

    proptest! {
        #[test]
        fn never_more_than_burst_plus_rate_without_a_wait(
            per_second in 0u64..100_000,
            burst in 0u64..1_000,
            calls in schedule(),
        ) {
            let mut rate = RateLimit::new(per_second, burst, T0);
            let (mut clock, mut latest, mut taken) = (0u64, 0u64, 0u128);
            for (step, back, amount) in calls {
                clock = if back { clock.saturating_sub(step) } else { clock + step };
                latest = latest.max(clock);
                taken += u128::from(amount);
                if rate.take(amount, at(clock)) == 0 {
                    let allowed = u128::from(burst) * 1_000 + u128::from(per_second) * u128::from(latest);
                    prop_assert!(taken * 1_000 <= allowed, "took {taken} by {latest} ms");
                }
            }
        }

        #[test]
        fn waiting_as_told_is_enough(
            per_second in 1u64..100_000,
            burst in 0u64..1_000,
            amounts in proptest::collection::vec(0u64..100_000, 1..20),
        ) {
            let mut rate = RateLimit::new(per_second, burst, T0);
            let mut clock = 0;
            for amount in amounts {
                let wait = rate.take(amount, at(clock));
                clock += wait;
                prop_assert_eq!(rate.take(0, at(clock)), 0);
            }
        }
    }
}
