//! Why bytes from a peer are not a valid [`Message`](super::Message).

use crate::codec::DecodeError;

use super::ErrorCode;

/// Why bytes are not a valid message, or a message breaks a bound serde cannot express.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The encoded message is longer than `MAX_MESSAGE_BYTES`.
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    MessageTooLarge {
        /// Size of the message.
        size: usize,
        /// The bound.
        limit: usize,
    },
    /// The bytes are not the canonical encoding of any message.
    #[error("undecodable message: {0}")]
    Decode(#[from] DecodeError),
    /// A reconciliation frame is longer than `MAX_RECONCILE_FRAME_BYTES`.
    #[error("reconciliation frame of {size} bytes exceeds the limit of {limit} bytes")]
    FrameTooLarge {
        /// Size of the frame.
        size: usize,
        /// The bound.
        limit: usize,
    },
    /// An envelope in a `Posts` batch is longer than `MAX_ENVELOPE_BYTES`.
    #[error("envelope {index} of the batch has {size} bytes, over the limit of {limit} bytes")]
    EnvelopeTooLarge {
        /// Position of the envelope in the batch.
        index: usize,
        /// Size of the envelope.
        size: usize,
        /// The bound.
        limit: usize,
    },
    /// The text of an `Error` message is longer than `MAX_ERROR_TEXT_BYTES`.
    #[error("error text of {size} bytes exceeds the limit of {limit} bytes")]
    ErrorTextTooLong {
        /// Size of the text.
        size: usize,
        /// The bound.
        limit: usize,
    },
    /// A `Hello` lists no protocol version.
    #[error("hello lists no protocol version")]
    NoVersions,
}

impl WireError {
    /// A stable snake_case name for this failure (the detail of `spec/07`, 7.6), for
    /// logs, JSON output and test vectors: the decoder's detail for an undecodable
    /// message, otherwise the bound broken.
    pub fn detail(&self) -> &'static str {
        match self {
            Self::MessageTooLarge { .. } => "message_too_large",
            Self::Decode(error) => error.code(),
            Self::FrameTooLarge { .. } => "frame_too_large",
            Self::EnvelopeTooLarge { .. } => "envelope_too_large",
            Self::ErrorTextTooLong { .. } => "error_text_too_long",
            Self::NoVersions => "no_versions",
        }
    }

    /// The code to send the peer whose message this is.
    pub const fn code(&self) -> ErrorCode {
        match self {
            Self::MessageTooLarge { .. }
            | Self::FrameTooLarge { .. }
            | Self::EnvelopeTooLarge { .. }
            | Self::ErrorTextTooLong { .. }
            | Self::Decode(DecodeError::TooLarge { .. }) => ErrorCode::TooLarge,
            Self::Decode(_) | Self::NoVersions => ErrorCode::Malformed,
        }
    }
}
