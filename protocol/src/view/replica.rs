//! Rule 3 of `spec/06-views.md`: the replica set, the nodes that may hold the space.

use std::collections::{BTreeMap, BTreeSet};

use super::history::History;
use super::membership::Timeline;
use crate::content::Content;
use crate::id::{NodeId, PostId};

/// The replica set folded from a space's history.
#[derive(Debug, Default)]
pub(super) struct Replicas {
    /// The current replica set.
    pub(super) nodes: BTreeSet<NodeId>,
    /// Nodes that were in the replica set and are not now, each with the unshare that
    /// removed it (the latest, if it was shared and removed again).
    pub(super) removed: BTreeMap<NodeId, PostId>,
}

/// The current replica set: the home node, then each share or unshare by a moderator of
/// its time, in order; and which nodes an unshare took out of it.
pub(super) fn replicas(history: &History<'_>, timeline: &Timeline) -> Replicas {
    let mut nodes = BTreeSet::from([history.genesis_content.home_node]);
    let mut removed = BTreeMap::new();
    for post in &history.posts {
        let (node, share) = match post.content() {
            Content::ShareReplica(replica) => (replica.node, true),
            Content::UnshareReplica(replica) => (replica.node, false),
            _ => continue,
        };
        if !timeline.was_moderator(&post.author(), post.sort_key()) {
            continue;
        }
        if share {
            nodes.insert(node);
            removed.remove(&node);
        } else if nodes.remove(&node) {
            removed.insert(node, post.id());
        }
    }
    Replicas { nodes, removed }
}

#[cfg(test)]
mod tests {
    use crate::view::fixture::{SpaceFixture, add, grant, key, revoke, share, unshare};

    #[test]
    fn the_home_node_starts_the_replica_set() {
        let fx = SpaceFixture::new(1, "r");
        let view = fx.view([]);
        assert_eq!(
            view.replicas().iter().copied().collect::<Vec<_>>(),
            vec![key(200).node_id()]
        );
    }

    #[test]
    fn moderators_share_and_unshare_and_members_cannot() {
        let fx = SpaceFixture::new(1, "r");
        let (alice, bob, carol) = (key(1), key(2), key(3));
        let (home, other, third) = (key(200).node_id(), key(201).node_id(), key(202).node_id());
        let posts = [
            fx.post(&alice, 10, add(bob.user_id())),
            fx.post(&alice, 11, grant(carol.user_id())),
            fx.post(&alice, 20, share(other)),
            fx.post(&bob, 21, share(third)),
            fx.post(&carol, 22, unshare(home)),
            fx.post(&alice, 30, revoke(carol.user_id())),
            fx.post(&carol, 40, share(home)),
        ];
        let view = fx.view(&posts);
        assert_eq!(
            view.replicas().iter().copied().collect::<Vec<_>>(),
            vec![other]
        );
        // The home node was removed by carol's unshare; `third` was never a replica.
        assert_eq!(view.removal_of(&home), Some(posts[4].id()));
        assert_eq!(view.removal_of(&third), None);
        assert_eq!(view.removal_of(&other), None);
    }

    #[test]
    fn only_a_node_that_was_a_replica_has_a_removal() {
        let fx = SpaceFixture::new(1, "r");
        let alice = key(1);
        let (other, stranger) = (key(201).node_id(), key(202).node_id());
        let posts = [
            fx.post(&alice, 10, unshare(stranger)),
            fx.post(&alice, 20, share(other)),
            fx.post(&alice, 30, unshare(other)),
            fx.post(&alice, 40, unshare(other)),
        ];
        let view = fx.view(&posts);
        assert_eq!(view.removal_of(&stranger), None);
        assert_eq!(view.removal_of(&other), Some(posts[2].id()));
        // Shared again: no longer removed.
        let again = [posts.as_slice(), &[fx.post(&alice, 50, share(other))]].concat();
        assert_eq!(fx.view(&again).removal_of(&other), None);
    }
}
