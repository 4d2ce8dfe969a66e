//! The node's gossip policy, as pure decisions (`spec/07-sync-and-gossip.md` 7.12).
//!
//! The node owns the clock, the randomness and the sockets; these pieces only decide,
//! from the time and random numbers it passes in:
//!
//! - [`Backoff`]: how long to wait before redialling a peer (exponential, capped, with
//!   equal jitter).
//! - [`RateLimit`]: a per-peer token bucket (posts per second, with a burst).
//! - [`Conduct`]: how a peer's invalid input is judged ([`Verdict`]: fine, throttle,
//!   disconnect and ban).
//! - [`Priority`]: the order posts a peer lacks are sent in (state first, then newest
//!   first), so a new or returning replica catches up usefully.
//!
//! None of this is a wire requirement: another node may choose other values.

pub mod backoff;
pub mod conduct;
pub mod priority;
pub mod rate;

pub use backoff::{Backoff, BackoffConfig};
pub use conduct::{Conduct, ConductConfig, MAX_THROTTLE_MS, THROTTLE_STEP_MS, Verdict};
pub use priority::{Class, Priority, class_of_kind};
pub use rate::RateLimit;
