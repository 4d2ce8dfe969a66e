//! Push and relay of new posts (spec 7.10): a post written here goes in full to every
//! connected peer in its space's replica set; a post received from a peer is announced
//! by id (`Have`) to the other ones, which ask for it only if they lack it. Each node
//! relays a post once, when it first stores it, so a post crosses every link of the
//! replica set at most once in full.

use std::sync::Arc;

use parley_protocol::view::SpaceView;
use parley_protocol::wire::{Access, Message, access, have_batches, post_batches};
use parley_protocol::{NodeId, Post, SpaceId};

use crate::server::Node;

/// Announces `posts` of `space`, just stored, to every connected peer that replicates
/// the space, except `source`, the peer they came from. A former replica that one of
/// them removed is sent that post.
pub(crate) fn announce(node: &Arc<Node>, space: SpaceId, posts: &[Post], source: Option<NodeId>) {
    if posts.is_empty() {
        return;
    }
    let Some(view) = node.spaces().membership(&space) else {
        return;
    };
    let links = node.federation.table().links();
    for link in links {
        if Some(link.peer) == source {
            continue;
        }
        match access(&link.peer, Some(&view)) {
            Access::Replica => {}
            Access::Removed(_) => {
                for message in removal(&view, posts, &link.peer) {
                    link.control.push(message);
                }
                continue;
            }
            Access::Nothing => continue,
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

/// The message telling `peer`, a former replica of the space of `view`, that it was
/// removed: the unshare that removed it, if it is among `posts`, and nothing else, so
/// it stops holding and offering the space (it held the space until then, so this
/// reveals nothing new). Nothing for a node that never was a replica (spec 7.9).
pub(crate) fn removal<'p>(
    view: &SpaceView,
    posts: impl IntoIterator<Item = &'p Post>,
    peer: &NodeId,
) -> Vec<Message> {
    let Access::Removed(removal) = access(peer, Some(view)) else {
        return Vec::new();
    };
    let removals: Vec<Vec<u8>> = posts
        .into_iter()
        .filter(|post| post.id() == removal)
        .map(|post| post.bytes().to_vec())
        .collect();
    // Stored posts were valid, so none is over the bound.
    post_batches(view.space(), removals).unwrap_or_default()
}
