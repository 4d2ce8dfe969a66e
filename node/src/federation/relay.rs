//! Push and relay of new posts (spec 7.10): a post written here goes in full to every
//! connected peer in its space's replica set; a post received from a peer is announced
//! by id (`Have`) to the other ones, which ask for it only if they lack it. Each node
//! relays a post once, when it first stores it, so a post crosses every link of the
//! replica set at most once in full.

use std::sync::Arc;

use parley_protocol::content::Content;
use parley_protocol::wire::{have_batches, may_share, post_batches};
use parley_protocol::{NodeId, Post, SpaceId};

use crate::server::Node;

use super::link::Link;

/// Announces `posts` of `space`, just stored, to every connected peer that replicates
/// the space, except `source`, the peer they came from.
pub(crate) fn announce(node: &Arc<Node>, space: SpaceId, posts: &[Post], source: Option<NodeId>) {
    if posts.is_empty() {
        return;
    }
    let Some(replicas) = node
        .spaces()
        .membership(&space)
        .map(|view| view.replicas().clone())
    else {
        return;
    };
    let links = node.federation.table().links();
    for link in links {
        if Some(link.peer) == source {
            continue;
        }
        if !may_share(&link.peer, &replicas) {
            tell_removed(&link, space, posts);
            continue;
        }
        let messages = match source {
            None => {
                post_batches(space, posts.iter().map(|p| p.bytes().to_vec())).unwrap_or_default()
            }
            Some(_) => {
                let ids: Vec<_> = posts.iter().map(Post::id).collect();
                have_batches(space, &ids)
            }
        };
        let count = posts.len() as u64;
        let mut pushed = true;
        for message in messages {
            pushed &= link.control.push(message);
        }
        if !pushed {
            tracing::debug!(peer = %link.peer, "a slow peer's queue is full: the announcement waits for reconciliation");
        } else if source.is_none() {
            link.counters.add_sent(count);
        }
    }
}

/// A node just removed from a space's replica set is sent the post that removed it, and
/// nothing else, so it knows to stop holding and offering the space (it held the space
/// until then, so the post reveals nothing new).
fn tell_removed(link: &Link, space: SpaceId, posts: &[Post]) {
    let removals: Vec<Vec<u8>> = posts
        .iter()
        .filter(|post| matches!(post.content(), Content::UnshareReplica(r) if r.node == link.peer))
        .map(|post| post.bytes().to_vec())
        .collect();
    if removals.is_empty() {
        return;
    }
    for message in post_batches(space, removals).unwrap_or_default() {
        link.control.push(message);
    }
}
