//! The `Hello` exchange of a connection (`spec/07-sync-and-gossip.md`, 7.5 and 7.8):
//! the checks on a peer's first `Hello` and on every later one.
//!
//! A peer's first message on the control stream must be a `Hello` naming the peer's
//! authenticated identity and a version in common. A later `Hello` may only offer more
//! spaces: it must repeat the first one's versions and node exactly, since the version
//! chosen and the identity hold for the connection's life.
//!
//! [`PeerHello`] keeps no offered spaces: each check hands back the spaces of the
//! message it accepted, and the node keeps only those it may answer
//! ([`spaces_to_answer`](super::spaces_to_answer)), so repeated `Hello`s cost it no
//! memory.

use crate::id::{NodeId, SpaceId};

use super::{ErrorCode, Message, MessageKind, negotiate_version};

/// What a peer declared in its first `Hello` on a connection, and the version chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerHello {
    versions: Vec<u16>,
    node: NodeId,
    version: u16,
}

/// Why a peer's `Hello` (or the message in its place) is refused. Every refusal ends
/// the connection: send `Error` with [`HelloError::code`] and no space, then close.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HelloError {
    /// The peer's first message on the control stream is not a `Hello`.
    #[error("expected a hello, got a {kind} message")]
    NotHello {
        /// The message received instead.
        kind: MessageKind,
    },
    /// The `Hello` names another node than the peer's authenticated identity.
    #[error("hello names node {claimed}, but the peer authenticated as {authenticated}")]
    NodeMismatch {
        /// The node the `Hello` names.
        claimed: NodeId,
        /// The peer's transport identity.
        authenticated: NodeId,
    },
    /// The peer lists no version this node speaks.
    #[error("no wire version in common")]
    NoCommonVersion,
    /// A later `Hello` lists other versions, or names another node, than the first.
    #[error("a later hello changes the versions or node of the first")]
    Changed,
}

impl HelloError {
    /// The code to send the peer before closing the connection.
    pub const fn code(&self) -> ErrorCode {
        match self {
            Self::NotHello { .. } => ErrorCode::UnexpectedMessage,
            Self::NodeMismatch { .. } | Self::Changed => ErrorCode::Malformed,
            Self::NoCommonVersion => ErrorCode::UnsupportedVersion,
        }
    }
}

impl PeerHello {
    /// Checks the peer's first message on the control stream, in the order of spec 7.8:
    /// it is a `Hello`; its node is `authenticated`, the peer's transport identity;
    /// it lists a version of `ours`. Returns the peer's declaration, with the highest
    /// version in common, and the spaces this `Hello` offers.
    pub fn first<'m>(
        message: &'m Message,
        authenticated: &NodeId,
        ours: &[u16],
    ) -> Result<(Self, &'m [SpaceId]), HelloError> {
        let (versions, node, spaces) = hello_fields(message)?;
        if node != authenticated {
            return Err(HelloError::NodeMismatch {
                claimed: *node,
                authenticated: *authenticated,
            });
        }
        let version = negotiate_version(ours, versions).ok_or(HelloError::NoCommonVersion)?;
        let hello = Self {
            versions: versions.to_vec(),
            node: *node,
            version,
        };
        Ok((hello, spaces))
    }

    /// Checks a later `Hello` from the same peer: it must list exactly the versions of
    /// the first (the same values, in the same order) and name the same node. Returns
    /// the spaces it offers, which add to those offered before.
    pub fn later<'m>(&self, message: &'m Message) -> Result<&'m [SpaceId], HelloError> {
        let (versions, node, spaces) = hello_fields(message)?;
        if versions != self.versions.as_slice() || *node != self.node {
            return Err(HelloError::Changed);
        }
        Ok(spaces)
    }

    /// The wire version chosen for the connection: the highest both sides list.
    pub fn version(&self) -> u16 {
        self.version
    }

    /// The peer's node id (equal to its transport identity).
    pub fn node(&self) -> &NodeId {
        &self.node
    }

    /// The versions the peer listed, in its order.
    pub fn versions(&self) -> &[u16] {
        &self.versions
    }
}

/// The fields of a `Hello`, or [`HelloError::NotHello`].
fn hello_fields(message: &Message) -> Result<(&[u16], &NodeId, &[SpaceId]), HelloError> {
    match message {
        Message::Hello {
            versions,
            node,
            spaces,
        } => Ok((versions, node, spaces)),
        other => Err(HelloError::NotHello { kind: other.kind() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::BoundedVec;

    fn node(n: u8) -> NodeId {
        NodeId::from_bytes([n; 32])
    }

    fn space(n: u8) -> SpaceId {
        SpaceId::from_bytes([n; 32])
    }

    fn hello(versions: &[u16], from: u8, spaces: &[u8]) -> Message {
        Message::Hello {
            versions: BoundedVec::try_from_vec(versions.to_vec()).unwrap(),
            node: node(from),
            spaces: BoundedVec::try_from_vec(spaces.iter().map(|n| space(*n)).collect()).unwrap(),
        }
    }

    #[test]
    fn a_first_hello_gives_the_highest_common_version_and_its_spaces() {
        let message = hello(&[1, 2], 7, &[1, 2]);
        let (peer, spaces) = PeerHello::first(&message, &node(7), &[1]).unwrap();
        assert_eq!(peer.version(), 1);
        assert_eq!(peer.node(), &node(7));
        assert_eq!(peer.versions(), [1, 2]);
        assert_eq!(spaces, [space(1), space(2)]);
    }

    #[test]
    fn a_first_hello_is_checked_in_order() {
        let want = Message::Want {
            space: space(1),
            ids: BoundedVec::new(),
        };
        let error = PeerHello::first(&want, &node(7), &[1]).unwrap_err();
        assert_eq!(
            error,
            HelloError::NotHello {
                kind: MessageKind::Want
            }
        );
        assert_eq!(error.code(), ErrorCode::UnexpectedMessage);

        // The identity is checked before the versions.
        let impostor = hello(&[9], 8, &[]);
        let error = PeerHello::first(&impostor, &node(7), &[1]).unwrap_err();
        assert_eq!(
            error,
            HelloError::NodeMismatch {
                claimed: node(8),
                authenticated: node(7)
            }
        );
        assert_eq!(error.code(), ErrorCode::Malformed);

        let error = PeerHello::first(&hello(&[2, 3], 7, &[]), &node(7), &[1]).unwrap_err();
        assert_eq!(error, HelloError::NoCommonVersion);
        assert_eq!(error.code(), ErrorCode::UnsupportedVersion);
    }

    #[test]
    fn a_later_hello_may_only_offer_more_spaces() {
        let first = hello(&[1, 2], 7, &[1]);
        let (peer, _) = PeerHello::first(&first, &node(7), &[1, 2]).unwrap();
        assert_eq!(
            peer.later(&hello(&[1, 2], 7, &[3, 4])),
            Ok(&[space(3), space(4)][..])
        );
        assert_eq!(peer.later(&first), Ok(&[space(1)][..]));
        for changed in [
            hello(&[1], 7, &[3]),
            hello(&[2, 1], 7, &[3]),
            hello(&[1, 2, 3], 7, &[3]),
            hello(&[1, 2], 8, &[3]),
        ] {
            let error = peer.later(&changed).unwrap_err();
            assert_eq!(error, HelloError::Changed);
            assert_eq!(error.code(), ErrorCode::Malformed);
        }
        let frame = Message::error(ErrorCode::Internal, None, "");
        assert_eq!(
            peer.later(&frame),
            Err(HelloError::NotHello {
                kind: MessageKind::Error
            })
        );
    }
}
