//! Rule 3 of `spec/06-views.md`: the replica set, the nodes that may hold the space.

use std::collections::BTreeSet;

use super::history::History;
use super::membership::Timeline;
use crate::content::Content;
use crate::id::NodeId;

/// The current replica set: the home node, then each share or unshare by a moderator of
/// its time, in order.
pub(super) fn replicas(history: &History<'_>, timeline: &Timeline) -> BTreeSet<NodeId> {
    let mut nodes = BTreeSet::from([history.genesis_content.home_node]);
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
        } else {
            nodes.remove(&node);
        }
    }
    nodes
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
    }
}
