//! The knobs of a reconciliation session.

use crate::limits::{
    MAX_RECONCILE_FRAME_BYTES, MAX_RECONCILE_ROUNDS, MIN_RECONCILE_FRAME_BYTES,
    RECONCILE_FRAME_TARGET_BYTES,
};

use super::SyncError;

/// How a [`SyncSession`](super::SyncSession) bounds its work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SyncConfig {
    /// The largest frame this party builds, in bytes: from
    /// `MIN_RECONCILE_FRAME_BYTES` to `MAX_RECONCILE_FRAME_BYTES`. Ranges that do not
    /// fit are summed into one fingerprint and resolved in a later round.
    pub frame_size_limit: usize,
    /// The most round trips (responder frames) this party takes part in, at least 1.
    pub max_rounds: u32,
}

impl Default for SyncConfig {
    /// `RECONCILE_FRAME_TARGET_BYTES` and `MAX_RECONCILE_ROUNDS`.
    fn default() -> Self {
        Self {
            frame_size_limit: RECONCILE_FRAME_TARGET_BYTES,
            max_rounds: MAX_RECONCILE_ROUNDS,
        }
    }
}

impl SyncConfig {
    /// This configuration with another frame size limit.
    #[must_use]
    pub const fn with_frame_size_limit(mut self, limit: usize) -> Self {
        self.frame_size_limit = limit;
        self
    }

    /// This configuration with another round limit.
    #[must_use]
    pub const fn with_max_rounds(mut self, rounds: u32) -> Self {
        self.max_rounds = rounds;
        self
    }

    /// Refuses a frame size limit or round limit outside its range.
    pub const fn check(&self) -> Result<(), SyncError> {
        if self.frame_size_limit < MIN_RECONCILE_FRAME_BYTES
            || self.frame_size_limit > MAX_RECONCILE_FRAME_BYTES
        {
            return Err(SyncError::InvalidFrameSizeLimit {
                limit: self.frame_size_limit,
                min: MIN_RECONCILE_FRAME_BYTES,
                max: MAX_RECONCILE_FRAME_BYTES,
            });
        }
        if self.max_rounds == 0 {
            return Err(SyncError::InvalidMaxRounds);
        }
        Ok(())
    }
}
