//! The top-level [`Message`] enum and its codec (`spec/07-sync-and-gossip.md`,
//! "Messages").

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::encoding::{BoundedVec, ByteString};
use crate::id::{NodeId, PostId, SpaceId};
use crate::limits::{
    MAX_ENVELOPE_BYTES, MAX_ERROR_TEXT_BYTES, MAX_IDS_PER_MESSAGE, MAX_MESSAGE_BYTES,
    MAX_POSTS_PER_BATCH, MAX_RECONCILE_FRAME_BYTES, MAX_SPACES_PER_HELLO, MAX_VERSIONS_PER_HELLO,
};

use super::{ErrorCode, WireError};

/// A list of post ids, as carried by `Have` and `Want`.
pub type IdList = BoundedVec<PostId, MAX_IDS_PER_MESSAGE>;

/// Every message one node sends another. The variant order is the wire tag order
/// (`u32` little-endian, from 0) and must never change; new messages go at the end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Message {
    /// Tag 0. The first message each side sends on a connection: the protocol versions
    /// it speaks, its node id (equal to its TLS identity) and the spaces it offers to
    /// reconcile with the receiver.
    Hello {
        /// Protocol versions the sender speaks, at least one.
        versions: BoundedVec<u16, MAX_VERSIONS_PER_HELLO>,
        /// The sender's node id.
        node: NodeId,
        /// Spaces the sender offers to reconcile with the receiver.
        spaces: BoundedVec<SpaceId, MAX_SPACES_PER_HELLO>,
    },
    /// Tag 1. The initiator's first reconciliation frame for a space.
    ReconcileOpen {
        /// The space reconciled.
        space: SpaceId,
        /// The range-based reconciliation frame (`spec/07`, "Reconciliation frames").
        frame: ByteString,
    },
    /// Tag 2. Every later reconciliation frame, in either direction.
    ReconcileFrame {
        /// The space reconciled.
        space: SpaceId,
        /// The range-based reconciliation frame.
        frame: ByteString,
    },
    /// Tag 3. Envelopes of one space, as their canonical bytes, each to be checked
    /// with [`Post::decode`](crate::Post::decode) by the receiver.
    Posts {
        /// The space every envelope belongs to.
        space: SpaceId,
        /// The envelopes' canonical bytes.
        envelopes: BoundedVec<ByteString, MAX_POSTS_PER_BATCH>,
    },
    /// Tag 4. Ids of posts the sender holds and believes the receiver lacks.
    Have {
        /// The space of the posts.
        space: SpaceId,
        /// The ids.
        ids: IdList,
    },
    /// Tag 5. Ids of posts the sender asks the receiver to send in `Posts`.
    Want {
        /// The space of the posts.
        space: SpaceId,
        /// The ids.
        ids: IdList,
    },
    /// Tag 6. The sender refuses or ends an exchange.
    Error {
        /// Why.
        code: ErrorCode,
        /// The space the error is about, if any.
        space: Option<SpaceId>,
        /// Human-readable detail, at most `MAX_ERROR_TEXT_BYTES` bytes.
        text: String,
    },
}

/// The name of a [`Message`] variant, for errors and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum MessageKind {
    /// [`Message::Hello`].
    Hello,
    /// [`Message::ReconcileOpen`].
    ReconcileOpen,
    /// [`Message::ReconcileFrame`].
    ReconcileFrame,
    /// [`Message::Posts`].
    Posts,
    /// [`Message::Have`].
    Have,
    /// [`Message::Want`].
    Want,
    /// [`Message::Error`].
    Error,
}

/// Bytes of a message's tag.
const TAG_LEN: usize = 4;
/// Bytes of a length prefix.
const LEN_LEN: usize = 8;
/// Bytes of an id.
const ID_LEN: usize = 32;

impl Message {
    /// The canonical bytes of this message.
    ///
    /// A message built by hand may break a bound that only [`Message::check`] sees
    /// (a frame or text too long); build with the helpers of [`batch`](super::batch)
    /// or check before sending.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes a message from a peer, refusing anything over a bound, trailing bytes,
    /// unknown tags and non-canonical bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(WireError::MessageTooLarge {
                size: bytes.len(),
                limit: MAX_MESSAGE_BYTES,
            });
        }
        let message: Self = codec::decode_message(bytes)?;
        message.check()?;
        Ok(message)
    }

    /// Checks the bounds the encoding itself cannot express: frame length, envelope
    /// length, error text length, a non-empty version list, total size.
    pub fn check(&self) -> Result<(), WireError> {
        match self {
            Self::Hello { versions, .. } if versions.is_empty() => {
                return Err(WireError::NoVersions);
            }
            Self::ReconcileOpen { frame, .. } | Self::ReconcileFrame { frame, .. }
                if frame.0.len() > MAX_RECONCILE_FRAME_BYTES =>
            {
                return Err(WireError::FrameTooLarge {
                    size: frame.0.len(),
                    limit: MAX_RECONCILE_FRAME_BYTES,
                });
            }
            Self::Posts { envelopes, .. } => {
                if let Some((index, envelope)) = envelopes
                    .iter()
                    .enumerate()
                    .find(|(_, e)| e.0.len() > MAX_ENVELOPE_BYTES)
                {
                    return Err(WireError::EnvelopeTooLarge {
                        index,
                        size: envelope.0.len(),
                        limit: MAX_ENVELOPE_BYTES,
                    });
                }
            }
            Self::Error { text, .. } if text.len() > MAX_ERROR_TEXT_BYTES => {
                return Err(WireError::ErrorTextTooLong {
                    size: text.len(),
                    limit: MAX_ERROR_TEXT_BYTES,
                });
            }
            _ => {}
        }
        let size = self.encoded_len();
        if size > MAX_MESSAGE_BYTES {
            return Err(WireError::MessageTooLarge {
                size,
                limit: MAX_MESSAGE_BYTES,
            });
        }
        Ok(())
    }

    /// The length of [`Message::encode`]'s output, computed without encoding.
    pub fn encoded_len(&self) -> usize {
        TAG_LEN
            + match self {
                Self::Hello {
                    versions, spaces, ..
                } => LEN_LEN + 2 * versions.len() + ID_LEN + LEN_LEN + ID_LEN * spaces.len(),
                Self::ReconcileOpen { frame, .. } | Self::ReconcileFrame { frame, .. } => {
                    ID_LEN + LEN_LEN + frame.0.len()
                }
                Self::Posts { envelopes, .. } => {
                    ID_LEN + LEN_LEN + envelopes.iter().map(|e| LEN_LEN + e.0.len()).sum::<usize>()
                }
                Self::Have { ids, .. } | Self::Want { ids, .. } => {
                    ID_LEN + LEN_LEN + ID_LEN * ids.len()
                }
                Self::Error { space, text, .. } => {
                    2 + 1 + if space.is_some() { ID_LEN } else { 0 } + LEN_LEN + text.len()
                }
            }
    }

    /// Which message this is.
    pub const fn kind(&self) -> MessageKind {
        match self {
            Self::Hello { .. } => MessageKind::Hello,
            Self::ReconcileOpen { .. } => MessageKind::ReconcileOpen,
            Self::ReconcileFrame { .. } => MessageKind::ReconcileFrame,
            Self::Posts { .. } => MessageKind::Posts,
            Self::Have { .. } => MessageKind::Have,
            Self::Want { .. } => MessageKind::Want,
            Self::Error { .. } => MessageKind::Error,
        }
    }

    /// The space the message is about, if it is about one. The privacy rule
    /// (`spec/07`, "Privacy") applies to every message that has one.
    pub const fn space(&self) -> Option<SpaceId> {
        match self {
            Self::Hello { .. } => None,
            Self::ReconcileOpen { space, .. }
            | Self::ReconcileFrame { space, .. }
            | Self::Posts { space, .. }
            | Self::Have { space, .. }
            | Self::Want { space, .. } => Some(*space),
            Self::Error { space, .. } => *space,
        }
    }

    /// An `Error` message, its text cut to `MAX_ERROR_TEXT_BYTES` at a character
    /// boundary.
    pub fn error(code: ErrorCode, space: Option<SpaceId>, text: &str) -> Self {
        let mut end = text.len().min(MAX_ERROR_TEXT_BYTES);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        Self::Error {
            code,
            space,
            text: text[..end].to_owned(),
        }
    }
}

impl std::fmt::Display for MessageKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Hello => "hello",
            Self::ReconcileOpen => "reconcile-open",
            Self::ReconcileFrame => "reconcile-frame",
            Self::Posts => "posts",
            Self::Have => "have",
            Self::Want => "want",
            Self::Error => "error",
        })
    }
}
