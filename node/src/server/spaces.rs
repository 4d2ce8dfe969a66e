//! What the node knows of each space in memory: the posts that decide membership and
//! replicas (small, kept whole, so every publish is authorized without reading the
//! space), and a cache of full views, rebuilt on the first read after a change.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use parley_protocol::view::SpaceView;
use parley_protocol::{NodeId, Post, SpaceId, UserId};

/// Membership posts and cached views, per space.
#[derive(Debug, Default)]
pub(crate) struct Spaces {
    governance: BTreeMap<SpaceId, Vec<Post>>,
    membership: BTreeMap<SpaceId, Arc<SpaceView>>,
    views: BTreeMap<SpaceId, Arc<SpaceView>>,
    generations: BTreeMap<SpaceId, u64>,
    posts: BTreeMap<SpaceId, Vec<Post>>,
}

/// Whether a post decides who belongs to a space or which nodes hold it.
pub(crate) fn is_governance(post: &Post) -> bool {
    post.content().is_governance()
}

impl Spaces {
    /// Records a stored post: governance posts update membership; every post
    /// invalidates the space's cached view.
    pub(crate) fn record(&mut self, post: &Post) {
        let space = post.space();
        if is_governance(post) {
            self.governance.entry(space).or_default().push(post.clone());
            self.membership.remove(&space);
        }
        self.views.remove(&space);
        if let Some(posts) = self.posts.get_mut(&space) {
            posts.push(post.clone());
        }
        *self.generations.entry(space).or_default() += 1;
    }

    /// How many posts of `space` were recorded; a view read at one generation is cached
    /// only if no post arrived meanwhile.
    pub(crate) fn generation(&self, space: &SpaceId) -> u64 {
        self.generations.get(space).copied().unwrap_or(0)
    }

    /// The space's membership and replica view (folded from governance posts only).
    pub(crate) fn membership(&mut self, space: &SpaceId) -> Option<Arc<SpaceView>> {
        let posts = self.governance.get(space)?;
        let view = self
            .membership
            .entry(*space)
            .or_insert_with(|| Arc::new(SpaceView::fold(*space, posts.iter())));
        view.genesis().is_some().then(|| view.clone())
    }

    /// Every held space's replica set (spaces with a genesis).
    pub(crate) fn replica_sets(&mut self) -> BTreeMap<SpaceId, BTreeSet<NodeId>> {
        let spaces: Vec<SpaceId> = self.governance.keys().copied().collect();
        spaces
            .into_iter()
            .filter_map(|space| {
                self.membership(&space)
                    .map(|view| (space, view.replicas().clone()))
            })
            .collect()
    }

    /// The governance posts of `space` held (clones share their bytes).
    pub(crate) fn governance_posts(&self, space: &SpaceId) -> Vec<Post> {
        self.governance.get(space).cloned().unwrap_or_default()
    }

    /// Whether `user` is currently a member of `space`.
    pub(crate) fn is_member(&mut self, space: &SpaceId, user: &UserId) -> bool {
        self.membership(space)
            .is_some_and(|view| view.is_member(user))
    }

    /// Every post of `space`, if loaded (clones are cheap: posts share their bytes).
    pub(crate) fn posts(&self, space: &SpaceId) -> Option<Vec<Post>> {
        self.posts.get(space).cloned()
    }

    /// Keeps the posts of `space` read at `generation`, unless newer posts arrived.
    pub(crate) fn load_posts(&mut self, space: SpaceId, generation: u64, posts: Vec<Post>) {
        if self.generation(&space) == generation {
            self.posts.insert(space, posts);
        }
    }

    /// A cached full view, if still valid.
    pub(crate) fn cached_view(&self, space: &SpaceId) -> Option<Arc<SpaceView>> {
        self.views.get(space).cloned()
    }

    /// Caches a full view built from the posts of `generation`, unless newer posts arrived.
    pub(crate) fn cache_view(&mut self, space: SpaceId, generation: u64, view: Arc<SpaceView>) {
        if self.generation(&space) == generation {
            self.views.insert(space, view);
        }
    }
}
