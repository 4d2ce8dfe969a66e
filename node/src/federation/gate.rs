//! The privacy rule of spec 7.9 applied to one peer, against this node's current view of
//! each space: what the protocol's `wire::privacy` decides, with the store and the
//! membership views it needs. Every post leaving for a peer passes [`Gate::posts`] in the
//! stream's writer, and every id list a peer is asked for passes [`Gate::ids_to_want`].

use std::sync::Arc;

use parley_protocol::view::SpaceView;
use parley_protocol::wire::{Access, access, ids_to_want, may_receive};
use parley_protocol::{NodeId, PostId, SpaceId};

use crate::server::Node;

/// The privacy rule for one peer.
#[derive(Clone, Debug)]
pub(crate) struct Gate {
    node: Arc<Node>,
    peer: NodeId,
}

impl Gate {
    /// The rule for `peer` on `node`.
    pub(crate) fn new(node: Arc<Node>, peer: NodeId) -> Self {
        Self { node, peer }
    }

    /// The membership view of `space` now, if it is held.
    fn view(&self, space: &SpaceId) -> Option<Arc<SpaceView>> {
        self.node.spaces().membership(space)
    }

    /// What the peer may be told of `space` now.
    pub(crate) fn access(&self, space: &SpaceId) -> Access {
        access(&self.peer, self.view(space).as_deref())
    }

    /// Of `envelopes` (stored, so valid), to go in a message about `space`, those the
    /// peer may receive now; the others are left out exactly as posts not held are.
    pub(crate) fn posts(&self, space: &SpaceId, envelopes: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
        let view = self.view(space);
        envelopes
            .into_iter()
            .filter(|bytes| {
                let Some(post_space) = parley_protocol::envelope::peek_space(bytes) else {
                    return false;
                };
                may_receive(
                    &self.peer,
                    space,
                    &post_space,
                    &PostId::of_bytes(bytes),
                    view.as_deref(),
                )
            })
            .collect()
    }

    /// Of `ids` the peer says it holds in `space`, those to ask it for: every id not
    /// held here in `space`, ids held in other spaces included (they are asked for as
    /// unknown ones are); all of them when the peer may not read `space`, which is then
    /// answered as a space not held. An id whose record cannot be read is not asked for.
    pub(crate) fn ids_to_want(&self, space: &SpaceId, ids: Vec<PostId>) -> Vec<PostId> {
        if self.access(space) != Access::Replica {
            return ids_to_want(space, ids, |_| None);
        }
        let storage = &self.node.storage;
        ids_to_want(space, ids, |id| match storage.held_in(id) {
            Ok(held) => held,
            Err(error) => {
                tracing::warn!(%id, %error, "could not read a stored post");
                Some(*space)
            }
        })
    }
}
