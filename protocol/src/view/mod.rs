//! Views: the discussion model folded from a set of posts (`spec/06-views.md`).
//!
//! A view is a pure function of the *set* of verified posts of one space: the same set
//! gives the same [`SpaceView`] whatever order its posts arrived in, because folding
//! first sorts them by their sort key `(created_at, id)`. Every rule is decided from
//! the posts alone; nothing here reads a clock or remembers arrival order.
//!
//! ```
//! # use parley_protocol::{Post, SecretKey, Timestamp, content::Genesis, id::NodeId};
//! # use parley_protocol::view::SpaceView;
//! let founder = SecretKey::from_seed(&[1; 32]);
//! let genesis = Genesis {
//!     name: "team".to_owned(),
//!     description: String::new(),
//!     home_node: NodeId([9; 32]),
//!     nonce: [0; 16],
//! };
//! let now = Timestamp(1_800_000_000_000);
//! let genesis = Post::sign_genesis(&founder, now, genesis, now).unwrap();
//! let view = SpaceView::fold(genesis.space(), [&genesis]);
//! assert!(view.is_member(&founder.user_id()));
//! assert!(view.threads().is_empty());
//! ```

mod effect;
mod history;
mod membership;
mod replica;
mod retraction;
mod summary;
mod text;
mod thread;
mod unread;

#[cfg(any(test, feature = "test-support"))]
pub mod fixture;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub use self::effect::{Ignored, Standing, Target, ignored};
use self::history::History;
pub use self::membership::Timeline;
pub use self::summary::{Decision, ThreadSummary};
pub use self::thread::{Reopening, Resolution, Revision, ThreadPost, ThreadView};
pub use self::unread::{News, NewsKind, ReadCursor, UnreadThread};
use crate::content::Content;
use crate::envelope::Post;
use crate::id::{NodeId, PostId, SpaceId, UserId};
use crate::time::Timestamp;

/// Everything people see of one space, folded from a set of its posts.
///
/// Two folds of the same set are equal (`==`), whatever order the posts came in, and
/// equal again after the bytes of effectively retracted posts are dropped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SpaceView {
    /// The space.
    #[serde(with = "text::id")]
    space: SpaceId,
    /// The genesis, if the set holds one.
    genesis: Option<GenesisInfo>,
    /// Members and moderators, now and over time.
    #[serde(flatten)]
    timeline: Timeline,
    /// The current replica set.
    #[serde(serialize_with = "text::set::serialize")]
    replicas: BTreeSet<NodeId>,
    /// Former replicas, each with the unshare that removed it.
    #[serde(skip)]
    removed_replicas: BTreeMap<NodeId, PostId>,
    /// Everyone who was ever a moderator, from when (rule 5).
    #[serde(skip)]
    ever_moderators: retraction::EverModerators,
    /// Display names, by user.
    #[serde(serialize_with = "text::keyed::serialize")]
    display_names: BTreeMap<UserId, String>,
    /// The thread list.
    threads: Vec<ThreadSummary>,
    /// Every thread, by id.
    #[serde(serialize_with = "text::keyed::serialize")]
    thread_views: BTreeMap<PostId, ThreadView>,
    /// The decision log.
    decisions: Vec<Decision>,
}

/// What the genesis says about the space.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenesisInfo {
    /// The genesis post.
    #[serde(with = "text::id")]
    pub id: PostId,
    /// The space's name.
    pub name: String,
    /// What the space is for.
    pub description: String,
    /// Who created the space.
    #[serde(with = "text::id")]
    pub founder: UserId,
    /// The node that hosted the space first.
    #[serde(with = "text::id")]
    pub home_node: NodeId,
    /// When the space was created.
    pub created_at: Timestamp,
}

impl SpaceView {
    /// Folds the posts of `space` found in `posts` into its views (`spec/06-views.md`).
    /// Posts of other spaces and repeated posts are ignored; order does not matter.
    /// Runs in O(n log n) for n posts.
    pub fn fold<'a>(space: SpaceId, posts: impl IntoIterator<Item = &'a Post>) -> Self {
        let Some(history) = History::collect(space, posts) else {
            return Self::empty(space);
        };
        let timeline = Timeline::build(&history);
        let ever_moderators = retraction::ever_moderators(&history);
        let retracted = retraction::effective(&history.posts, &history.by_id, &ever_moderators);
        let scope = Scope {
            posts: &history.posts,
            by_id: &history.by_id,
            timeline: &timeline,
            retracted: &retracted,
        };
        let display_names = display_names(&scope);
        let thread_views = thread::build(&scope);
        let threads = summary::thread_list(&thread_views, &display_names);
        let decisions = summary::decisions(&thread_views);
        let genesis = &history.genesis_content;
        let replicas = replica::replicas(&history, &timeline);
        Self {
            space,
            genesis: Some(GenesisInfo {
                id: history.genesis.id(),
                name: genesis.name.clone(),
                description: genesis.description.clone(),
                founder: history.genesis.author(),
                home_node: genesis.home_node,
                created_at: history.genesis.created_at(),
            }),
            replicas: replicas.nodes,
            removed_replicas: replicas.removed,
            ever_moderators,
            timeline,
            display_names,
            threads,
            thread_views,
            decisions,
        }
    }

    /// The ids of the posts in `posts` that an effective retraction withdraws (rule 5):
    /// what a node may drop the bytes of without changing any view.
    pub fn retracted<'a>(
        space: SpaceId,
        posts: impl IntoIterator<Item = &'a Post>,
    ) -> BTreeSet<PostId> {
        History::collect(space, posts)
            .map(|history| {
                let ever = retraction::ever_moderators(&history);
                retraction::effective(&history.posts, &history.by_id, &ever)
            })
            .unwrap_or_default()
    }

    /// The space.
    pub fn space(&self) -> SpaceId {
        self.space
    }

    /// The genesis, or `None` when the set holds none (then nothing is visible).
    pub fn genesis(&self) -> Option<&GenesisInfo> {
        self.genesis.as_ref()
    }

    /// The current members.
    pub fn members(&self) -> &BTreeSet<UserId> {
        self.timeline.members()
    }

    /// The current moderators.
    pub fn moderators(&self) -> &BTreeSet<UserId> {
        self.timeline.moderators()
    }

    /// Membership over time: who was a member or moderator at any point.
    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// The current replica set: the nodes that may hold this space.
    pub fn replicas(&self) -> &BTreeSet<NodeId> {
        &self.replicas
    }

    /// The unshare that took `node` out of the replica set, if `node` was a replica and
    /// is not now: the one post of the space such a node may still be sent (spec 7.9).
    pub fn removal_of(&self, node: &NodeId) -> Option<PostId> {
        self.removed_replicas.get(node).copied()
    }

    /// Whether `user` is a member now.
    pub fn is_member(&self, user: &UserId) -> bool {
        self.timeline.members().contains(user)
    }

    /// Whether `user` is a moderator now.
    pub fn is_moderator(&self, user: &UserId) -> bool {
        self.timeline.moderators().contains(user)
    }

    /// `user`'s display name, if they set one.
    pub fn display_name(&self, user: &UserId) -> Option<&str> {
        self.display_names.get(user).map(String::as_str)
    }

    /// Every display name, by user.
    pub fn display_names(&self) -> &BTreeMap<UserId, String> {
        &self.display_names
    }

    /// The thread list, newest activity first.
    pub fn threads(&self) -> &[ThreadSummary] {
        &self.threads
    }

    /// One thread, if it is shown.
    pub fn thread(&self, id: &PostId) -> Option<&ThreadView> {
        self.thread_views.get(id)
    }

    /// The decision log: currently resolved threads, newest decision first.
    pub fn decisions(&self) -> &[Decision] {
        &self.decisions
    }

    /// What `user` has not read according to `cursor`, by thread, in thread-list order.
    pub fn unread(&self, user: &UserId, cursor: &ReadCursor) -> Vec<UnreadThread> {
        unread::unread(&self.threads, |id| self.thread_views.get(id), user, cursor)
    }

    /// The thread rooted at `root`, folded from `posts` against this view's membership
    /// and moderators: what [`SpaceView::thread`] of the whole space shows for it.
    ///
    /// A node that keeps views incrementally folds a thread alone this way. It gives
    /// the whole fold's answer when `self` was folded from the space's [spine
    /// posts](is_spine) (at least) and `posts` holds the thread's closure: the root
    /// and every post whose [anchor] is in the closure. Other posts are ignored.
    pub fn fold_thread<'a>(
        &self,
        root: &PostId,
        posts: impl IntoIterator<Item = &'a Post>,
    ) -> Option<ThreadView> {
        let genesis = self.genesis.as_ref()?;
        let start = (genesis.created_at, genesis.id);
        let sorted: BTreeMap<history::SortKey, &'a Post> = posts
            .into_iter()
            .filter(|post| post.space() == self.space && post.sort_key() > start)
            .map(|post| (post.sort_key(), post))
            .collect();
        let posts: Vec<&'a Post> = sorted.into_values().collect();
        let by_id: BTreeMap<PostId, &'a Post> = posts.iter().map(|p| (p.id(), *p)).collect();
        let retracted = retraction::effective(&posts, &by_id, &self.ever_moderators);
        let scope = Scope {
            posts: &posts,
            by_id: &by_id,
            timeline: &self.timeline,
            retracted: &retracted,
        };
        thread::build(&scope).remove(root)
    }

    /// The thread-list line of `thread`, with its author's display name from this view.
    pub fn summary_of(&self, thread: &ThreadView) -> ThreadSummary {
        summary::summary(thread, &self.display_names)
    }

    fn empty(space: SpaceId) -> Self {
        Self {
            space,
            genesis: None,
            timeline: Timeline::default(),
            replicas: BTreeSet::new(),
            removed_replicas: BTreeMap::new(),
            ever_moderators: BTreeMap::new(),
            display_names: BTreeMap::new(),
            threads: Vec::new(),
            thread_views: BTreeMap::new(),
            decisions: Vec::new(),
        }
    }
}

/// Whether `post` belongs to a space's *spine*: the posts that decide membership,
/// moderators, replicas and display names (governance posts and profiles), given
/// whether `post` is a retraction of a profile (which the caller looks up). Everything
/// else a view shows hangs below a thread root through [`anchor`]s.
pub fn is_spine(post: &Post, retracts_a_profile: bool) -> bool {
    match post.content() {
        Content::Profile(_) => true,
        Content::Retraction(_) => retracts_a_profile,
        content => content.is_governance(),
    }
}

/// The post a post hangs below in a thread: a reply below its root, an edit, a
/// retraction or a reaction below its target, a resolve or reopen below its thread;
/// `None` for every other kind. A thread's closure is its root and every post whose
/// anchor is in the closure ([`SpaceView::fold_thread`]).
pub fn anchor(content: &Content) -> Option<PostId> {
    match content {
        Content::Reply(reply) => Some(reply.root),
        Content::Edit(edit) => Some(edit.target),
        Content::Retraction(retraction) => Some(retraction.target),
        Content::Reaction(reaction) => Some(reaction.target),
        Content::Resolve(resolve) => Some(resolve.thread),
        Content::Reopen(reopen) => Some(reopen.thread),
        _ => None,
    }
}

/// What a rule needs to decide whether a post counts.
#[derive(Debug)]
struct Scope<'a, 'h> {
    /// The posts folded, in sort-key order.
    posts: &'h [&'a Post],
    /// The same posts by id.
    by_id: &'h BTreeMap<PostId, &'a Post>,
    timeline: &'h Timeline,
    retracted: &'h BTreeSet<PostId>,
}

impl Scope<'_, '_> {
    /// Rule 4 and 5: a post counts when its author was a member just before it and no
    /// effective retraction withdrew it.
    fn counts(&self, post: &Post) -> bool {
        self.timeline.was_member(&post.author(), post.sort_key())
            && !self.retracted.contains(&post.id())
    }
}

/// Rule 10: each user's latest counting profile.
fn display_names(scope: &Scope<'_, '_>) -> BTreeMap<UserId, String> {
    let mut names = BTreeMap::new();
    for post in scope.posts {
        if let Content::Profile(profile) = post.content()
            && scope.counts(post)
        {
            names.insert(post.author(), profile.display_name.clone());
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::SpaceView;
    use crate::view::fixture::{SpaceFixture, add, key, profile, remove, thread};

    #[test]
    fn without_a_genesis_nothing_is_visible() {
        let fx = SpaceFixture::new(1, "no genesis");
        let post = fx.post(&key(1), 10, thread("t", ""));
        let view = SpaceView::fold(fx.space(), [&post]);
        assert!(view.genesis().is_none());
        assert!(
            view.members().is_empty() && view.threads().is_empty() && view.replicas().is_empty()
        );
    }

    #[test]
    fn the_genesis_describes_the_space() {
        let fx = SpaceFixture::new(1, "info");
        let view = fx.view([]);
        let genesis = view.genesis().unwrap();
        assert_eq!(genesis.name, "info");
        assert_eq!(genesis.founder, key(1).user_id());
        assert_eq!(genesis.home_node, key(200).node_id());
        assert_eq!(genesis.id, fx.genesis.id());
        assert_eq!(view.space(), fx.space());
    }

    #[test]
    fn posts_of_other_spaces_and_duplicates_are_ignored() {
        let fx = SpaceFixture::new(1, "here");
        let other = SpaceFixture::new(1, "elsewhere");
        let here = fx.post(&key(1), 10, thread("here", ""));
        let there = other.post(&key(1), 10, thread("there", ""));
        let once = fx.view([&here]);
        let noisy = fx.view([&here, &there, &other.genesis, &here, &fx.genesis]);
        assert_eq!(once, noisy);
        assert_eq!(once.threads().len(), 1);
    }

    #[test]
    fn display_names_are_the_latest_counting_profile() {
        let fx = SpaceFixture::new(1, "names");
        let (alice, bob, eve) = (key(1), key(2), key(5));
        let posts = [
            fx.post(&alice, 1, add(bob.user_id())),
            fx.post(&bob, 20, profile("Robert")),
            fx.post(&bob, 10, profile("Bob")),
            fx.post(&eve, 30, profile("Eve")),
            fx.post(&alice, 40, remove(bob.user_id())),
            fx.post(&bob, 50, profile("Bob the removed")),
        ];
        let view = fx.view(&posts);
        assert_eq!(view.display_name(&bob.user_id()), Some("Robert"));
        assert_eq!(view.display_name(&eve.user_id()), None);
        assert_eq!(view.display_names().len(), 1);
    }

    #[test]
    fn views_serialize_ids_in_their_text_form() {
        let fx = SpaceFixture::new(1, "json");
        let root = fx.post(&key(1), 10, thread("t", ""));
        let view = fx.view([&root]);
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["members"][0], key(1).user_id().to_string());
        assert_eq!(json["threads"][0]["id"], root.id().to_string());
        assert!(json["thread_views"][root.id().to_string()]["posts"][0]["parent"].is_null());
        assert_eq!(json["replicas"][0], key(200).node_id().to_string());
    }
}
