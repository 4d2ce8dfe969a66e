//! The privacy rule (`spec/07-sync-and-gossip.md`, 7.9): a node never sends anything of
//! a space to a node outside that space's replica set, and its answers about spaces and
//! posts a peer may not see are the answers it gives about ones it does not hold.
//!
//! [`access`] is the one place the rule is decided: what a peer may be told of one space,
//! from the space's current view. Every path that sends a peer posts ([`may_receive`]),
//! ids ([`ids_to_want`]), counts or fingerprints (a reconciliation is answered over the
//! space's items only under [`Access::Replica`]) or offers spaces ([`spaces_to_offer`],
//! [`spaces_to_answer`]) is built on it.

use std::collections::{BTreeMap, BTreeSet};

use crate::id::{NodeId, PostId, SpaceId};
use crate::view::SpaceView;

/// What a peer may be told of one space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// The peer is in the space's replica set: it may receive anything of the space.
    Replica,
    /// The peer was in the replica set and an unshare removed it: it may receive that
    /// one post, so it learns it was removed, and nothing else.
    Removed(PostId),
    /// Nothing: the space is not held here, or the peer never replicated it. The two
    /// cases are answered alike.
    Nothing,
}

/// What `peer` may be told of the space whose current view is `view` (`None`, or a view
/// without a genesis, when the space is not held).
pub fn access(peer: &NodeId, view: Option<&SpaceView>) -> Access {
    let Some(view) = view.filter(|view| view.genesis().is_some()) else {
        return Access::Nothing;
    };
    if view.replicas().contains(peer) {
        Access::Replica
    } else if let Some(removal) = view.removal_of(peer) {
        Access::Removed(removal)
    } else {
        Access::Nothing
    }
}

/// Whether the post `id`, whose envelope names `post_space`, may go to `peer` in a
/// message about the space `about`, whose current view is `view`: only a post of that
/// very space, to a replica, or the unshare that removed a former replica.
pub fn may_receive(
    peer: &NodeId,
    about: &SpaceId,
    post_space: &SpaceId,
    id: &PostId,
    view: Option<&SpaceView>,
) -> bool {
    if post_space != about || view.is_some_and(|view| view.space() != *about) {
        return false;
    }
    match access(peer, view) {
        Access::Replica => true,
        Access::Removed(removal) => removal == *id,
        Access::Nothing => false,
    }
}

/// Of the ids a peer announced (`Have`) or a reconciliation found it holds, all of
/// them posts of `about` by its word, those to ask it for: every id not held here as a
/// post (or tombstone) of `about`. `held_in` tells the space an id is held in here, if
/// any. An id held in another space is asked for exactly like an unknown one, so the
/// answer reveals nothing of other spaces.
pub fn ids_to_want(
    about: &SpaceId,
    ids: impl IntoIterator<Item = PostId>,
    mut held_in: impl FnMut(&PostId) -> Option<SpaceId>,
) -> Vec<PostId> {
    ids.into_iter()
        .filter(|id| held_in(id).as_ref() != Some(about))
        .collect()
}

/// Whether anything of a space whose replica set is `replica_set` may be sent to `peer`.
pub fn may_share(peer: &NodeId, replica_set: &BTreeSet<NodeId>) -> bool {
    replica_set.contains(peer)
}

/// The spaces to offer `peer` in `Hello`: every local space whose replica set holds it.
pub fn spaces_to_offer(
    peer: &NodeId,
    replica_sets: &BTreeMap<SpaceId, BTreeSet<NodeId>>,
) -> BTreeSet<SpaceId> {
    replica_sets
        .iter()
        .filter(|(_, replicas)| may_share(peer, replicas))
        .map(|(space, _)| *space)
        .collect()
}

/// Of the spaces `peer` offered, those this node may reconcile with it: spaces it holds
/// whose replica set holds the peer. Any other offered space is ignored, whether this
/// node does not know it or may not share it, so the answer reveals nothing either way.
pub fn spaces_to_answer(
    peer: &NodeId,
    replica_sets: &BTreeMap<SpaceId, BTreeSet<NodeId>>,
    offered: &[SpaceId],
) -> BTreeSet<SpaceId> {
    offered
        .iter()
        .filter(|space| {
            replica_sets
                .get(space)
                .is_some_and(|replicas| may_share(peer, replicas))
        })
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::fixture::{SpaceFixture, key, share, thread, unshare};

    fn node(n: u8) -> NodeId {
        NodeId::from_bytes([n; 32])
    }

    fn space(n: u8) -> SpaceId {
        SpaceId::from_bytes([n; 32])
    }

    /// Space 1 is shared with nodes 1 and 2; space 2 with node 2 only; space 3 with no one.
    fn replica_sets() -> BTreeMap<SpaceId, BTreeSet<NodeId>> {
        BTreeMap::from([
            (space(1), BTreeSet::from([node(1), node(2)])),
            (space(2), BTreeSet::from([node(2)])),
            (space(3), BTreeSet::new()),
        ])
    }

    #[test]
    fn a_peer_is_offered_only_spaces_it_replicates() {
        let sets = replica_sets();
        assert_eq!(spaces_to_offer(&node(1), &sets), BTreeSet::from([space(1)]));
        assert_eq!(
            spaces_to_offer(&node(2), &sets),
            BTreeSet::from([space(1), space(2)])
        );
        assert!(spaces_to_offer(&node(9), &sets).is_empty());
    }

    #[test]
    fn only_offered_shared_spaces_are_answered() {
        let sets = replica_sets();
        let offered = [space(1), space(2), space(3), space(4)];
        assert_eq!(
            spaces_to_answer(&node(1), &sets, &offered),
            BTreeSet::from([space(1)])
        );
        assert_eq!(
            spaces_to_answer(&node(2), &sets, &offered),
            BTreeSet::from([space(1), space(2)])
        );
        assert!(spaces_to_answer(&node(2), &sets, &[space(3), space(4)]).is_empty());
        assert!(spaces_to_answer(&node(1), &sets, &[]).is_empty());
    }

    #[test]
    fn may_share_needs_membership_of_the_replica_set() {
        let sets = replica_sets();
        assert!(may_share(&node(1), &sets[&space(1)]));
        assert!(!may_share(&node(1), &sets[&space(2)]));
        assert!(!may_share(&node(2), &sets[&space(3)]));
    }

    #[test]
    fn replicas_former_replicas_and_strangers_have_their_own_access() {
        let fx = SpaceFixture::new(1, "s");
        let alice = key(1);
        let (home, gone, stranger) = (key(200).node_id(), key(201).node_id(), key(202).node_id());
        let posts = [
            fx.post(&alice, 10, share(gone)),
            fx.post(&alice, 20, unshare(gone)),
            fx.post(&alice, 30, unshare(stranger)),
        ];
        let view = fx.view(&posts);
        assert_eq!(access(&home, Some(&view)), Access::Replica);
        assert_eq!(access(&gone, Some(&view)), Access::Removed(posts[1].id()));
        assert_eq!(access(&stranger, Some(&view)), Access::Nothing);
        assert_eq!(access(&home, None), Access::Nothing);

        let space = fx.space();
        let other = SpaceFixture::new(1, "t").space();
        let removal = posts[1].id();
        let unrelated = posts[2].id();
        assert!(may_receive(&home, &space, &space, &unrelated, Some(&view)));
        assert!(may_receive(&gone, &space, &space, &removal, Some(&view)));
        assert!(!may_receive(&gone, &space, &space, &unrelated, Some(&view)));
        assert!(!may_receive(
            &stranger,
            &space,
            &space,
            &posts[2].id(),
            Some(&view)
        ));
        // A post of another space never goes in a message about this one, whatever the peer may read.
        assert!(!may_receive(&home, &space, &other, &unrelated, Some(&view)));
        assert!(!may_receive(&home, &other, &other, &unrelated, Some(&view)));
        assert!(!may_receive(&home, &space, &space, &unrelated, None));
    }

    #[test]
    fn ids_held_in_another_space_are_wanted_like_unknown_ones() {
        let fx = SpaceFixture::new(1, "s");
        let root = fx.post(&key(1), 10, thread("t", ""));
        let (here, there, unknown) = (
            root.id(),
            PostId::from_bytes([7; 32]),
            PostId::from_bytes([8; 32]),
        );
        let held = |id: &PostId| match *id {
            id if id == here => Some(fx.space()),
            id if id == there => Some(space(9)),
            _ => None,
        };
        assert_eq!(
            ids_to_want(&fx.space(), [here, there, unknown], held),
            vec![there, unknown]
        );
    }
}
