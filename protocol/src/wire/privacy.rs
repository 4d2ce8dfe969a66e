//! The privacy rule (`spec/07-sync-and-gossip.md`, "Privacy"): a node never sends
//! anything of a space to a node outside that space's replica set.
//!
//! These helpers are the one place the rule is decided; the node consults them before
//! it offers a space in `Hello`, answers a reconciliation, or sends `Posts`, `Have` or
//! `Want` about a space.

use std::collections::{BTreeMap, BTreeSet};

use crate::id::{NodeId, SpaceId};

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
}
