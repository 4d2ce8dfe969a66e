//! What the node keeps of each space in memory: its spine (spec 6.16), the posts that
//! decide membership, replicas and display names. It is small and kept whole, so every
//! publish is authorized and every thread is folded without reading the space. Threads
//! are never held here: the read model in the store keeps their lines.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use parley_protocol::view::SpaceView;
use parley_protocol::{Content, NodeId, Post, PostId, SpaceId, UserId};

use crate::storage::{Storage, StorageError};

/// The spine of each space and its folded view.
#[derive(Debug, Default)]
pub(crate) struct Spaces {
    spines: BTreeMap<SpaceId, Spine>,
}

/// One space's spine.
#[derive(Debug, Default)]
struct Spine {
    /// The spine posts held, by id.
    posts: BTreeMap<PostId, Post>,
    /// Every spine id the store has filed, held in full or not (a retracted profile).
    filed: BTreeSet<PostId>,
    /// The view folded from `posts`, until a spine post arrives.
    view: Option<Arc<SpaceView>>,
}

/// Whether a post decides who belongs to a space or which nodes hold it.
pub(crate) fn is_governance(post: &Post) -> bool {
    post.content().is_governance()
}

impl Spaces {
    /// The spines of every space `storage` holds, read through the spine index.
    pub(crate) fn load(storage: &Storage) -> Result<Self, StorageError> {
        let mut spaces = Self::default();
        for space in storage.spaces()? {
            for id in storage.spine_ids(&space)? {
                let post = storage.get(&id)?;
                spaces.learn(space, id, post.as_ref());
            }
        }
        Ok(spaces)
    }

    /// Records a stored post if it belongs to its space's spine (a retraction counts
    /// when its target is a profile known here; the store files the others, and
    /// [`Spaces::learn`] brings them in).
    pub(crate) fn record(&mut self, post: &Post) {
        let spine = self.spines.entry(post.space()).or_default();
        let belongs = match post.content() {
            Content::Profile(_) => true,
            Content::Retraction(retraction) => spine
                .posts
                .get(&retraction.target)
                .is_some_and(|target| matches!(target.content(), Content::Profile(_))),
            content => content.is_governance(),
        };
        if belongs {
            spine.add(post.id(), Some(post));
        }
    }

    /// The spine ids of `space` known here, to compare with what the store has filed.
    pub(crate) fn filed(&self, space: &SpaceId) -> usize {
        self.spines.get(space).map_or(0, |spine| spine.filed.len())
    }

    /// Whether `id` is known as a spine post of `space`.
    pub(crate) fn knows(&self, space: &SpaceId, id: &PostId) -> bool {
        self.spines
            .get(space)
            .is_some_and(|spine| spine.filed.contains(id))
    }

    /// Learns a spine post the store filed: `post` is `None` when its bytes are gone.
    pub(crate) fn learn(&mut self, space: SpaceId, id: PostId, post: Option<&Post>) {
        self.spines.entry(space).or_default().add(id, post);
    }

    /// The space's membership, replica and display-name view (folded from its spine).
    pub(crate) fn membership(&mut self, space: &SpaceId) -> Option<Arc<SpaceView>> {
        let spine = self.spines.get_mut(space)?;
        let view = spine
            .view
            .get_or_insert_with(|| Arc::new(SpaceView::fold(*space, spine.posts.values())));
        view.genesis().is_some().then(|| view.clone())
    }

    /// Every held space's replica set (spaces with a genesis).
    pub(crate) fn replica_sets(&mut self) -> BTreeMap<SpaceId, BTreeSet<NodeId>> {
        let spaces: Vec<SpaceId> = self.spines.keys().copied().collect();
        spaces
            .into_iter()
            .filter_map(|space| {
                self.membership(&space)
                    .map(|view| (space, view.replicas().clone()))
            })
            .collect()
    }

    /// The spine posts of `space` held (clones share their bytes), in id order.
    pub(crate) fn spine_posts(&self, space: &SpaceId) -> Vec<Post> {
        self.spines
            .get(space)
            .map(|spine| spine.posts.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Whether `user` is currently a member of `space`.
    pub(crate) fn is_member(&mut self, space: &SpaceId, user: &UserId) -> bool {
        self.membership(space)
            .is_some_and(|view| view.is_member(user))
    }
}

impl Spine {
    fn add(&mut self, id: PostId, post: Option<&Post>) {
        let new_id = self.filed.insert(id);
        let new_post = match post {
            Some(post) => self.posts.insert(id, post.clone()).is_none(),
            None => false,
        };
        if new_id || new_post {
            self.view = None;
        }
    }
}
