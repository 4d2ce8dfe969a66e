//! Why a reconciliation session failed.

use crate::id::SpaceId;
use crate::time::Timestamp;
use crate::wire::{ErrorCode, MessageKind};

use super::FrameError;

/// Why a [`SyncSession`](super::SyncSession) could not start or go on. Once `handle`
/// returns one, the session is over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// The configured frame size limit is outside the allowed range.
    #[error("frame size limit of {limit} bytes is outside {min}..={max}")]
    InvalidFrameSizeLimit {
        /// The limit asked for.
        limit: usize,
        /// The smallest allowed.
        min: usize,
        /// The largest allowed.
        max: usize,
    },
    /// The configured round limit is zero.
    #[error("the round limit must be at least 1")]
    InvalidMaxRounds,
    /// An item is dated at the last representable millisecond, which the protocol
    /// reserves for the end of the item range.
    #[error("item created at {created_at} is out of range: the last millisecond is reserved")]
    ItemOutOfRange {
        /// The item's timestamp.
        created_at: Timestamp,
    },
    /// The peer's frame breaks the frame format.
    #[error("malformed reconciliation frame: {0}")]
    MalformedFrame(#[from] FrameError),
    /// The peer's frame is longer than `MAX_RECONCILE_FRAME_BYTES`.
    #[error("reconciliation frame of {size} bytes exceeds the limit of {limit} bytes")]
    FrameTooLarge {
        /// Size of the frame.
        size: usize,
        /// The bound.
        limit: usize,
    },
    /// The reconciliation needs more round trips than the configured limit.
    #[error("reconciliation needs more than {limit} round trips")]
    TooManyRounds {
        /// The limit.
        limit: u32,
    },
    /// A message the session does not expect in its current state.
    #[error("unexpected {kind} message")]
    UnexpectedMessage {
        /// The message received.
        kind: MessageKind,
    },
    /// A message about another space than the session's.
    #[error("message about space {found}, but this session reconciles space {expected}")]
    WrongSpace {
        /// The session's space.
        expected: SpaceId,
        /// The message's space.
        found: SpaceId,
    },
    /// The peer sent an `Error` message.
    #[error("the peer ended the reconciliation: {code}")]
    Peer {
        /// The peer's error code.
        code: ErrorCode,
    },
    /// The session has already finished or failed.
    #[error("the reconciliation session has already ended")]
    Closed,
    /// The reconciliation engine refused the frame.
    #[error("reconciliation failed: {0}")]
    Reconciler(ReconcilerError),
    /// This node's index of the items could not be read (its log says why).
    #[error("the items to reconcile could not be read")]
    ItemsUnreadable,
}

/// A refusal by the reconciliation engine, for frames that pass the format check but
/// that the engine still cannot use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReconcilerError {
    /// The frame ends inside a range.
    #[error("the frame ends inside a range")]
    FrameEndsEarly,
    /// A range has a mode the engine does not know.
    #[error("unknown range mode {0}")]
    UnknownMode(u64),
    /// A bound's id prefix is longer than an id.
    #[error("a bound's id prefix is longer than 32 bytes")]
    BoundTooLong,
    /// The frame's protocol version is not one the engine speaks.
    #[error("unsupported frame version")]
    UnsupportedVersion,
    /// The engine was used against its own rules (a bug here, not the peer's fault).
    #[error("the reconciliation engine was misused")]
    Internal,
}

impl SyncError {
    /// The code to send the peer when this error ends a session.
    pub const fn code(&self) -> ErrorCode {
        match self {
            Self::FrameTooLarge { .. } => ErrorCode::TooLarge,
            Self::TooManyRounds { .. } => ErrorCode::TooManyRounds,
            Self::UnexpectedMessage { .. } | Self::WrongSpace { .. } | Self::Closed => {
                ErrorCode::UnexpectedMessage
            }
            Self::MalformedFrame(FrameError::UnsupportedVersion { .. })
            | Self::Reconciler(ReconcilerError::UnsupportedVersion) => {
                ErrorCode::UnsupportedVersion
            }
            Self::MalformedFrame(_) | Self::Reconciler(_) => ErrorCode::Malformed,
            Self::InvalidFrameSizeLimit { .. }
            | Self::InvalidMaxRounds
            | Self::ItemOutOfRange { .. }
            | Self::Peer { .. }
            | Self::ItemsUnreadable => ErrorCode::Internal,
        }
    }
}
