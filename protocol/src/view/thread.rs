//! Rules 6 to 9 of `spec/06-views.md`: threads and their reply trees, edits,
//! reactions, and whether each thread is resolved.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::Scope;
use super::text;
use crate::content::{Content, Edit};
use crate::envelope::Post;
use crate::id::{PostId, UserId};
use crate::time::Timestamp;

/// One thread as people read it: the root and its shown replies in display order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadView {
    /// The root post's id, which is the thread's id.
    #[serde(with = "text::id")]
    pub id: PostId,
    /// The current title.
    pub title: String,
    /// Who started the thread.
    #[serde(with = "text::id")]
    pub author: UserId,
    /// When the root was written.
    pub created_at: Timestamp,
    /// The latest `created_at` of the root, a shown reply, a counting edit of one of
    /// them, or a counting resolve or reopen of the thread.
    pub last_activity: Timestamp,
    /// How many replies are shown.
    pub reply_count: usize,
    /// The decision, when the thread is resolved; `None` when it is open.
    pub resolution: Option<Resolution>,
    /// The reopen that made it open again, when the latest counting resolve or reopen
    /// is a reopen; `None` otherwise.
    pub reopened: Option<Reopening>,
    /// The root, then every shown reply, in pre-order (each post before its replies,
    /// siblings by sort key).
    pub posts: Vec<ThreadPost>,
}

/// One shown post of a thread: the root or a reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadPost {
    /// The post's id.
    #[serde(with = "text::id")]
    pub id: PostId,
    /// Its author.
    #[serde(with = "text::id")]
    pub author: UserId,
    /// When it was written.
    pub created_at: Timestamp,
    /// The post it is shown under: `None` for the root; the root for a reply whose
    /// parent is missing.
    #[serde(with = "text::option")]
    pub parent: Option<PostId>,
    /// Nesting depth: 0 for the root, 1 for its direct replies, and so on.
    pub depth: usize,
    /// Whether the reply's own parent is missing, retracted or not of this thread, so
    /// it is shown directly under the root instead.
    pub parent_missing: bool,
    /// The current title, for the root; `None` for a reply.
    pub title: Option<String>,
    /// The current body.
    pub body: String,
    /// Whether a counting edit changed the post.
    pub edited: bool,
    /// The original text, then each counting edit, by sort key. The last is current.
    pub revisions: Vec<Revision>,
    /// Reactions: each reaction text with the users who reacted so.
    #[serde(with = "text::text_to_sets")]
    pub reactions: BTreeMap<String, BTreeSet<UserId>>,
    /// The users the post mentions (edits do not change them).
    #[serde(with = "text::list")]
    pub mentions: Vec<UserId>,
}

/// One version of a post's text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revision {
    /// The post that wrote this version: the original or an edit.
    #[serde(with = "text::id")]
    pub id: PostId,
    /// When it was written.
    pub created_at: Timestamp,
    /// The title it set; `None` when it kept the previous one (and always for replies).
    pub title: Option<String>,
    /// The body it set.
    pub body: String,
}

/// A thread's decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    /// The decision text.
    pub decision: String,
    /// Who resolved the thread.
    #[serde(with = "text::id")]
    pub by: UserId,
    /// When the resolve was written.
    pub at: Timestamp,
    /// The resolve post.
    #[serde(with = "text::id")]
    pub resolve: PostId,
}

/// A thread's reopening: who opened a resolved thread again, and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reopening {
    /// Who reopened it.
    #[serde(with = "text::id")]
    pub by: UserId,
    /// When the reopen was written.
    pub at: Timestamp,
    /// The reopen post.
    #[serde(with = "text::id")]
    pub reopen: PostId,
}

/// Builds every thread of the space, by root id.
pub(super) fn build(scope: &Scope<'_, '_>) -> BTreeMap<PostId, ThreadView> {
    let parts = Parts::collect(scope);
    parts
        .roots
        .iter()
        .map(|(id, root)| (*id, parts.thread(root)))
        .collect()
}

/// Everything that counts, sorted out by the post it belongs to.
struct Parts<'a> {
    /// Threads by root id.
    roots: BTreeMap<PostId, &'a Post>,
    /// Replies that joined a thread, by reply id, with their root.
    reply_roots: BTreeMap<PostId, PostId>,
    /// Each post's replies, by the post they are shown under, in sort order, with
    /// whether their own parent was missing.
    children: BTreeMap<PostId, Vec<(&'a Post, bool)>>,
    /// Counting edits by target, in sort order.
    edits: BTreeMap<PostId, Vec<(&'a Post, &'a Edit)>>,
    /// Counting reactions by target.
    reactions: BTreeMap<PostId, BTreeMap<String, BTreeSet<UserId>>>,
    /// The latest counting resolve or reopen of each thread.
    status: BTreeMap<PostId, &'a Post>,
}

impl<'a> Parts<'a> {
    fn collect(scope: &Scope<'a, '_>) -> Self {
        let posts = scope.posts;
        let roots: BTreeMap<PostId, &'a Post> = posts
            .iter()
            .filter(|post| matches!(post.content(), Content::Thread(_)) && scope.counts(post))
            .map(|post| (post.id(), *post))
            .collect();
        let mut parts = Self {
            roots,
            reply_roots: BTreeMap::new(),
            children: BTreeMap::new(),
            edits: BTreeMap::new(),
            reactions: BTreeMap::new(),
            status: BTreeMap::new(),
        };
        let live = || posts.iter().copied().filter(|post| scope.counts(post));
        for post in live() {
            if let Content::Reply(reply) = post.content()
                && parts.roots.contains_key(&reply.root)
            {
                parts.reply_roots.insert(post.id(), reply.root);
            }
        }
        for post in live() {
            match post.content() {
                Content::Reply(reply) => {
                    if !parts.reply_roots.contains_key(&post.id()) {
                        continue; // pending: its root is absent or retracted
                    }
                    let joined = reply.parent == reply.root
                        || parts.reply_roots.get(&reply.parent) == Some(&reply.root);
                    let under = if joined { reply.parent } else { reply.root };
                    parts
                        .children
                        .entry(under)
                        .or_default()
                        .push((post, !joined));
                }
                Content::Edit(edit) if edit_counts(scope, post, edit) => {
                    parts
                        .edits
                        .entry(edit.target)
                        .or_default()
                        .push((post, edit));
                }
                Content::Reaction(reaction) => {
                    parts
                        .reactions
                        .entry(reaction.target)
                        .or_default()
                        .entry(reaction.reaction.clone())
                        .or_default()
                        .insert(post.author());
                }
                Content::Resolve(_) | Content::Reopen(_) => parts.note_status(scope, post),
                _ => {}
            }
        }
        parts
    }

    /// Records a resolve or reopen if it counts (rule 9).
    fn note_status(&mut self, scope: &Scope<'a, '_>, post: &'a Post) {
        let thread = match post.content() {
            Content::Resolve(resolve) => resolve.thread,
            Content::Reopen(reopen) => reopen.thread,
            _ => return,
        };
        let Some(root) = self.roots.get(&thread) else {
            return;
        };
        let by_thread_author = post.author() == root.author();
        if !by_thread_author
            && !scope
                .timeline
                .was_moderator(&post.author(), post.sort_key())
        {
            return;
        }
        // Posts come in sort order, so this one is the latest so far, and no earlier
        // one has a later `created_at`.
        self.status.insert(thread, post);
    }

    /// The view of the thread rooted at `root`, built from the root downward.
    fn thread(&self, root: &'a Post) -> ThreadView {
        let mut posts = Vec::new();
        let mut last_activity = root.created_at();
        let mut stack = vec![(root, None, 0, false)];
        while let Some((post, parent, depth, parent_missing)) = stack.pop() {
            let view = self.post(post, parent, depth, parent_missing);
            for revision in &view.revisions {
                last_activity = last_activity.max(revision.created_at);
            }
            posts.push(view);
            if let Some(children) = self.children.get(&post.id()) {
                for (child, missing) in children.iter().rev() {
                    stack.push((child, Some(post.id()), depth + 1, *missing));
                }
            }
        }
        let (mut resolution, mut reopened) = (None, None);
        if let Some(latest) = self.status.get(&root.id()) {
            last_activity = last_activity.max(latest.created_at());
            match latest.content() {
                Content::Resolve(resolve) => {
                    resolution = Some(Resolution {
                        decision: resolve.decision.clone(),
                        by: latest.author(),
                        at: latest.created_at(),
                        resolve: latest.id(),
                    });
                }
                _ => {
                    reopened = Some(Reopening {
                        by: latest.author(),
                        at: latest.created_at(),
                        reopen: latest.id(),
                    });
                }
            }
        }
        ThreadView {
            id: root.id(),
            title: posts
                .first()
                .and_then(|p| p.title.clone())
                .unwrap_or_default(),
            author: root.author(),
            created_at: root.created_at(),
            last_activity,
            reply_count: posts.len().saturating_sub(1),
            resolution,
            reopened,
            posts,
        }
    }

    /// The view of one shown post.
    fn post(
        &self,
        post: &Post,
        parent: Option<PostId>,
        depth: usize,
        parent_missing: bool,
    ) -> ThreadPost {
        let (title, body, mentions) = match post.content() {
            Content::Thread(thread) => (
                Some(thread.title.clone()),
                thread.body.clone(),
                thread.mentions.as_slice().to_vec(),
            ),
            Content::Reply(reply) => (None, reply.body.clone(), reply.mentions.as_slice().to_vec()),
            _ => (None, String::new(), Vec::new()),
        };
        let mut current_title = title.clone();
        let mut revisions = vec![Revision {
            id: post.id(),
            created_at: post.created_at(),
            title,
            body,
        }];
        for (edit_post, edit) in self.edits.get(&post.id()).into_iter().flatten() {
            if edit.title.is_some() {
                current_title.clone_from(&edit.title);
            }
            revisions.push(Revision {
                id: edit_post.id(),
                created_at: edit_post.created_at(),
                title: edit.title.clone(),
                body: edit.body.clone(),
            });
        }
        ThreadPost {
            id: post.id(),
            author: post.author(),
            created_at: post.created_at(),
            parent,
            depth,
            parent_missing,
            title: current_title,
            body: revisions.last().map(|r| r.body.clone()).unwrap_or_default(),
            edited: revisions.len() > 1,
            revisions,
            reactions: self.reactions.get(&post.id()).cloned().unwrap_or_default(),
            mentions,
        }
    }
}

/// Rule 7: an edit counts when it is by the target's author, the target is a thread or
/// reply of the space that is not retracted, and a reply's edit carries no title.
/// (Whether the edit itself is visible and not retracted is checked by the caller.)
fn edit_counts(scope: &Scope<'_, '_>, post: &Post, edit: &Edit) -> bool {
    let Some(target) = scope.by_id.get(&edit.target) else {
        return false;
    };
    if scope.retracted.contains(&target.id()) || target.author() != post.author() {
        return false;
    }
    match target.content() {
        Content::Thread(_) => true,
        Content::Reply(_) => edit.title.is_none(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use crate::envelope::Post;
    use crate::view::fixture::{
        SpaceFixture, add, edit, grant, key, react, remove, reopen, reply, resolve, thread,
    };

    /// Alice founded; Bob, Carol and Dave are members; Dave is a moderator.
    fn space() -> (SpaceFixture, Vec<Post>) {
        let fx = SpaceFixture::new(1, "threads");
        let alice = key(1);
        let base = vec![
            fx.post(&alice, 1, add(key(2).user_id())),
            fx.post(&alice, 2, add(key(3).user_id())),
            fx.post(&alice, 3, grant(key(4).user_id())),
        ];
        (fx, base)
    }

    fn ids(thread: &super::ThreadView) -> Vec<(crate::id::PostId, usize)> {
        thread.posts.iter().map(|p| (p.id, p.depth)).collect()
    }

    #[test]
    fn replies_show_in_pre_order_with_siblings_by_sort_key() {
        let (fx, base) = space();
        let (bob, carol) = (key(2), key(3));
        let root = fx.post(&bob, 100, thread("t", "body"));
        let late = fx.post(&carol, 130, reply(root.id(), root.id(), "late"));
        let early = fx.post(&carol, 110, reply(root.id(), root.id(), "early"));
        let nested = fx.post(&bob, 140, reply(root.id(), early.id(), "nested"));
        let deeper = fx.post(&carol, 150, reply(root.id(), nested.id(), "deeper"));
        let view = fx.view(base.iter().chain([&deeper, &late, &nested, &root, &early]));
        let thread = view.thread(&root.id()).unwrap();
        assert_eq!(
            ids(thread),
            vec![
                (root.id(), 0),
                (early.id(), 1),
                (nested.id(), 2),
                (deeper.id(), 3),
                (late.id(), 1)
            ]
        );
        assert_eq!(thread.posts[0].parent, None);
        assert_eq!(thread.posts[2].parent, Some(early.id()));
        assert!(thread.posts.iter().all(|p| !p.parent_missing));
        assert_eq!(thread.reply_count, 4);
        assert_eq!(thread.last_activity, deeper.created_at());
        assert_eq!(thread.posts[0].title.as_deref(), Some("t"));
        assert_eq!(thread.posts[1].title, None);
    }

    #[test]
    fn an_orphan_reply_waits_for_its_root_and_shows_once_it_arrives() {
        let (fx, base) = space();
        let root = fx.post(&key(2), 100, thread("t", ""));
        let answer = fx.post(&key(3), 110, reply(root.id(), root.id(), "hi"));
        let before = fx.view(base.iter().chain([&answer]));
        assert!(before.threads().is_empty());
        assert!(
            before
                .unread(&key(1).user_id(), &Default::default())
                .is_empty()
        );
        let after = fx.view(base.iter().chain([&answer, &root]));
        assert_eq!(
            ids(after.thread(&root.id()).unwrap()),
            vec![(root.id(), 0), (answer.id(), 1)]
        );
    }

    #[test]
    fn a_reply_to_a_reply_of_another_thread_shows_under_its_root() {
        let (fx, base) = space();
        let (bob, carol) = (key(2), key(3));
        let one = fx.post(&bob, 100, thread("one", ""));
        let two = fx.post(&bob, 101, thread("two", ""));
        let in_one = fx.post(&carol, 110, reply(one.id(), one.id(), "in one"));
        let confused = fx.post(&carol, 120, reply(two.id(), in_one.id(), "confused"));
        let to_other_root = fx.post(&carol, 121, reply(two.id(), one.id(), "other root"));
        let view = fx.view(
            base.iter()
                .chain([&one, &two, &in_one, &confused, &to_other_root]),
        );
        let thread = view.thread(&two.id()).unwrap();
        assert_eq!(thread.posts.len(), 3);
        assert!(
            thread.posts[1..]
                .iter()
                .all(|p| p.parent_missing && p.parent == Some(two.id()) && p.depth == 1)
        );
        assert_eq!(view.thread(&one.id()).unwrap().posts.len(), 2);
    }

    #[test]
    fn a_reply_whose_parent_is_missing_shows_under_the_root() {
        let (fx, base) = space();
        let (bob, carol) = (key(2), key(3));
        let root = fx.post(&bob, 100, thread("t", ""));
        let lost = fx.post(&carol, 110, reply(root.id(), root.id(), "never arrives"));
        let answer = fx.post(&bob, 120, reply(root.id(), lost.id(), "answer"));
        let view = fx.view(base.iter().chain([&root, &answer]));
        let shown = &view.thread(&root.id()).unwrap().posts[1];
        assert!(shown.parent_missing);
        let view = fx.view(base.iter().chain([&root, &answer, &lost]));
        let shown = &view.thread(&root.id()).unwrap().posts[2];
        assert!(!shown.parent_missing);
        assert_eq!(shown.depth, 2);
    }

    #[test]
    fn a_reply_rooted_at_a_reply_is_not_shown() {
        let (fx, base) = space();
        let root = fx.post(&key(2), 100, thread("t", ""));
        let first = fx.post(&key(3), 110, reply(root.id(), root.id(), "first"));
        let wrong = fx.post(
            &key(3),
            120,
            reply(first.id(), first.id(), "rooted at a reply"),
        );
        let view = fx.view(base.iter().chain([&root, &first, &wrong]));
        assert_eq!(view.thread(&root.id()).unwrap().posts.len(), 2);
        assert_eq!(view.threads().len(), 1);
    }

    #[test]
    fn non_members_and_removed_members_are_not_shown() {
        let (fx, base) = space();
        let (alice, bob, eve) = (key(1), key(2), key(5));
        let root = fx.post(&bob, 100, thread("t", ""));
        let by_eve = fx.post(&eve, 110, reply(root.id(), root.id(), "let me in"));
        let eve_thread = fx.post(&eve, 111, thread("spam", ""));
        let eve_likes = fx.post(&eve, 112, react(root.id(), "+1"));
        let remove_bob = fx.post(&alice, 200, remove(bob.user_id()));
        let bob_after = fx.post(&bob, 210, reply(root.id(), root.id(), "still here?"));
        let view = fx.view(base.iter().chain([
            &root,
            &by_eve,
            &eve_thread,
            &eve_likes,
            &remove_bob,
            &bob_after,
        ]));
        assert_eq!(
            view.threads().len(),
            1,
            "bob's thread stays; eve's never shows"
        );
        let thread = view.thread(&root.id()).unwrap();
        assert_eq!(thread.posts.len(), 1);
        assert!(thread.posts[0].reactions.is_empty());
    }

    #[test]
    fn edits_by_the_author_make_revisions_and_others_are_ignored() {
        let (fx, base) = space();
        let (alice, bob, carol) = (key(1), key(2), key(3));
        let root = fx.post(&bob, 100, thread("draft", "v1"));
        let answer = fx.post(&carol, 110, reply(root.id(), root.id(), "r1"));
        let edits = [
            fx.post(&bob, 120, edit(root.id(), Some("final"), "v2")),
            fx.post(&bob, 130, edit(root.id(), None, "v3")),
            fx.post(
                &alice,
                140,
                edit(root.id(), Some("hijack"), "moderators cannot edit"),
            ),
            fx.post(
                &carol,
                150,
                edit(answer.id(), Some("a title"), "a reply's edit with a title"),
            ),
            fx.post(&carol, 160, edit(answer.id(), None, "r2")),
            fx.post(&bob, 170, edit(answer.id(), None, "not bob's")),
        ];
        let view = fx.view(base.iter().chain([&root, &answer]).chain(&edits));
        let thread = view.thread(&root.id()).unwrap();
        assert_eq!(thread.title, "final");
        let root_view = &thread.posts[0];
        assert_eq!(root_view.body, "v3");
        assert!(root_view.edited);
        let history: Vec<_> = root_view
            .revisions
            .iter()
            .map(|r| (r.title.as_deref(), r.body.as_str()))
            .collect();
        assert_eq!(
            history,
            vec![(Some("draft"), "v1"), (Some("final"), "v2"), (None, "v3")]
        );
        let reply_view = &thread.posts[1];
        assert_eq!(reply_view.body, "r2");
        assert_eq!(reply_view.revisions.len(), 2);
        assert_eq!(thread.last_activity, edits[4].created_at());
        assert!(view.threads()[0].edited);
    }

    #[test]
    fn a_backdated_edit_still_follows_the_original() {
        let (fx, base) = space();
        let bob = key(2);
        let root = fx.post(&bob, 100, thread("t", "original"));
        let early = fx.post(&bob, 50, edit(root.id(), None, "dated before the post"));
        let view = fx.view(base.iter().chain([&early, &root]));
        let post = &view.thread(&root.id()).unwrap().posts[0];
        assert_eq!(post.revisions[0].body, "original");
        assert_eq!(post.body, "dated before the post");
    }

    #[test]
    fn reactions_group_users_by_text() {
        let (fx, base) = space();
        let (bob, carol, dave) = (key(2), key(3), key(4));
        let root = fx.post(&bob, 100, thread("t", ""));
        let reactions = [
            fx.post(&carol, 110, react(root.id(), "+1")),
            fx.post(&carol, 111, react(root.id(), "+1")),
            fx.post(&dave, 112, react(root.id(), "+1")),
            fx.post(&dave, 113, react(root.id(), "eyes")),
        ];
        let view = fx.view(base.iter().chain([&root]).chain(&reactions));
        let shown = &view.thread(&root.id()).unwrap().posts[0].reactions;
        assert_eq!(shown.len(), 2);
        assert_eq!(shown["+1"].len(), 2);
        assert!(shown["eyes"].contains(&dave.user_id()));
        assert_eq!(
            view.thread(&root.id()).unwrap().last_activity,
            root.created_at()
        );
    }

    #[test]
    fn the_latest_counting_resolve_or_reopen_decides() {
        let (fx, base) = space();
        let (bob, carol, dave) = (key(2), key(3), key(4));
        let root = fx.post(&bob, 100, thread("t", ""));
        let by_author = fx.post(&bob, 110, resolve(root.id(), "yes"));
        let by_member = fx.post(&carol, 120, reopen(root.id()));
        let view = fx.view(base.iter().chain([&root, &by_author, &by_member]));
        let resolution = view.thread(&root.id()).unwrap().resolution.clone().unwrap();
        assert_eq!(
            (resolution.decision.as_str(), resolution.by),
            ("yes", bob.user_id())
        );
        let by_moderator = fx.post(&dave, 130, reopen(root.id()));
        let view = fx.view(
            base.iter()
                .chain([&root, &by_author, &by_member, &by_moderator]),
        );
        let thread = view.thread(&root.id()).unwrap();
        assert!(thread.resolution.is_none());
        assert_eq!(thread.last_activity, by_moderator.created_at());
        let again = fx.post(&dave, 140, resolve(root.id(), "no"));
        let view =
            fx.view(
                base.iter()
                    .chain([&root, &by_author, &by_member, &by_moderator, &again]),
            );
        assert_eq!(
            view.thread(&root.id())
                .unwrap()
                .resolution
                .as_ref()
                .unwrap()
                .decision,
            "no"
        );
    }

    #[test]
    fn resolving_a_reply_does_nothing() {
        let (fx, base) = space();
        let bob = key(2);
        let root = fx.post(&bob, 100, thread("t", ""));
        let answer = fx.post(&bob, 110, reply(root.id(), root.id(), "r"));
        let wrong = fx.post(&bob, 120, resolve(answer.id(), "decided"));
        let view = fx.view(base.iter().chain([&root, &answer, &wrong]));
        assert!(view.decisions().is_empty());
        assert!(view.thread(&root.id()).unwrap().resolution.is_none());
    }
}
