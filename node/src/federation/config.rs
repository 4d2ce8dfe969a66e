//! The knobs of federation, with defaults a team node runs well on.

use std::time::Duration;

use parley_protocol::gossip::{BackoffConfig, ConductConfig};

use crate::transport::Timeouts;

/// How a node federates.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FederationConfig {
    /// How often each connection reconciles every shared space (besides on connect and
    /// when a replica set changes); each wait is jittered by up to a quarter.
    pub sync_interval: Duration,
    /// Reconnection backoff.
    pub backoff: BackoffConfig,
    /// Connection idle timeout and keep-alive.
    pub timeouts: Timeouts,
    /// Posts per second a node ingests from one peer; faster senders are slowed down
    /// through QUIC flow control.
    pub posts_per_second: u64,
    /// How invalid input from a peer is judged.
    pub conduct: ConductConfig,
    /// Longest wait for a peer's `Hello`, and for progress on a reconciliation stream.
    pub stream_timeout: Duration,
    /// Spaces this node does not hold yet that one peer may offer on one connection.
    pub max_new_spaces: usize,
    /// Reconciliations this node runs at once on one connection as initiator.
    pub parallel_syncs: usize,
    /// Posts queued to send on one stream: a peer's `Want` beyond it is answered
    /// `rate_limited`, and a reconciliation finding more sends this many and leaves the
    /// rest to the next round.
    pub max_queued_posts: usize,
}

impl Default for FederationConfig {
    fn default() -> Self {
        Self {
            sync_interval: Duration::from_secs(60),
            backoff: BackoffConfig::default(),
            timeouts: Timeouts::default(),
            posts_per_second: 50_000,
            conduct: ConductConfig::default(),
            stream_timeout: Duration::from_secs(30),
            max_new_spaces: 1024,
            parallel_syncs: 2,
            max_queued_posts: 256 * 1024,
        }
    }
}

impl FederationConfig {
    /// This configuration with another sync interval.
    #[must_use]
    pub fn with_sync_interval(mut self, interval: Duration) -> Self {
        self.sync_interval = interval;
        self
    }

    /// This configuration with another bound on posts queued per stream.
    #[must_use]
    pub fn with_max_queued_posts(mut self, posts: usize) -> Self {
        self.max_queued_posts = posts.max(1);
        self
    }

    /// This configuration with other connection timeouts.
    #[must_use]
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// This configuration with another reconnection backoff.
    #[must_use]
    pub fn with_backoff(mut self, backoff: BackoffConfig) -> Self {
        self.backoff = backoff;
        self
    }

    /// This configuration with another per-peer ingest rate.
    #[must_use]
    pub fn with_posts_per_second(mut self, rate: u64) -> Self {
        self.posts_per_second = rate;
        self
    }

    /// This configuration with another conduct policy.
    #[must_use]
    pub fn with_conduct(mut self, conduct: ConductConfig) -> Self {
        self.conduct = conduct;
        self
    }
}
