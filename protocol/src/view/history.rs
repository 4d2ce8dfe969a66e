//! Step 0 and 1 of `spec/06-views.md`: the posts of one space, without duplicates, in
//! the total order, and the genesis that starts them.

use std::collections::BTreeMap;

use crate::content::{Content, Genesis};
use crate::envelope::Post;
use crate::id::{PostId, SpaceId};
use crate::time::Timestamp;

/// The total order of posts: `(created_at, id)`.
pub(super) type SortKey = (Timestamp, PostId);

/// A space's posts after its genesis, sorted, with the genesis itself.
#[derive(Debug)]
pub(super) struct History<'a> {
    /// The winning genesis and its content.
    pub(super) genesis: &'a Post,
    /// Its content.
    pub(super) genesis_content: &'a Genesis,
    /// Every post of the space sorted after the genesis, in sort-key order.
    pub(super) posts: Vec<&'a Post>,
    /// The same posts by id.
    pub(super) by_id: BTreeMap<PostId, &'a Post>,
}

impl<'a> History<'a> {
    /// Collects the posts of `space` from `posts`, or `None` without a genesis.
    pub(super) fn collect(
        space: SpaceId,
        posts: impl IntoIterator<Item = &'a Post>,
    ) -> Option<Self> {
        // Keyed by sort key: a duplicate id has the same bytes, hence the same key.
        let sorted: BTreeMap<SortKey, &'a Post> = posts
            .into_iter()
            .filter(|post| post.space() == space)
            .map(|post| (post.sort_key(), post))
            .collect();
        let (genesis, genesis_content) = sorted.values().find_map(|post| match post.content() {
            Content::Genesis(content) => Some((*post, content)),
            _ => None,
        })?;
        let genesis_key = genesis.sort_key();
        let posts: Vec<&'a Post> = sorted
            .range((
                std::ops::Bound::Excluded(genesis_key),
                std::ops::Bound::Unbounded,
            ))
            .map(|(_, post)| *post)
            .collect();
        let by_id = posts.iter().map(|post| (post.id(), *post)).collect();
        Some(Self {
            genesis,
            genesis_content,
            posts,
            by_id,
        })
    }
}
