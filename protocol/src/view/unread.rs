//! Rule 13 of `spec/06-views.md`: what a user has not read yet.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::summary::ThreadSummary;
use super::text;
use super::thread::{ThreadPost, ThreadView};
use crate::id::{PostId, UserId};
use crate::time::Timestamp;

/// The posts a user has read, kept by their client or node. Marking is idempotent and
/// commutes, so cursors from two devices merge by union ([`ReadCursor::merge`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadCursor {
    read: BTreeSet<PostId>,
}

impl ReadCursor {
    /// A cursor with nothing read.
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks one post as read.
    pub fn mark(&mut self, post: PostId) {
        self.read.insert(post);
    }

    /// Marks every post currently shown in `thread` as read, and its news (its
    /// decision, reopening or new title).
    pub fn mark_thread(&mut self, thread: &ThreadView) {
        self.read.extend(thread.posts.iter().map(|post| post.id));
        self.read
            .extend(News::of(thread).into_iter().map(|news| news.post));
    }

    /// Adds everything `other` has read.
    pub fn merge(&mut self, other: &Self) {
        self.read.extend(other.read.iter().copied());
    }

    /// Whether `post` is marked as read.
    pub fn is_read(&self, post: &PostId) -> bool {
        self.read.contains(post)
    }

    /// The posts marked as read.
    pub fn read(&self) -> &BTreeSet<PostId> {
        &self.read
    }
}

/// The unread posts of one thread.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnreadThread {
    /// The thread.
    #[serde(with = "text::id")]
    pub thread: PostId,
    /// Its current title.
    pub title: String,
    /// The unread posts (root and replies), in display order.
    #[serde(with = "text::list")]
    pub posts: Vec<PostId>,
    /// What happened to the thread that the user has not read: its decision, its
    /// reopening, its new title.
    pub news: Vec<News>,
    /// Whether one of the unread posts mentions the user.
    pub mentioned: bool,
}

/// Something that happened to a thread, as news for those who were away.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct News {
    /// What happened.
    pub kind: NewsKind,
    /// The post that did it: the deciding resolve, the reopen, the edit that set the
    /// current title.
    #[serde(with = "text::id")]
    pub post: PostId,
    /// Who did it.
    #[serde(with = "text::id")]
    pub by: UserId,
    /// When.
    pub at: Timestamp,
    /// The decision, or the new title; empty for a reopening.
    pub text: String,
}

/// What kind of news.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NewsKind {
    /// The thread was resolved (it is now).
    Decided,
    /// The thread was opened again (it is open now).
    Reopened,
    /// The thread's title was changed (this is its title now).
    Retitled,
}

impl News {
    /// The news a thread has for anyone: its current decision or reopening, and the
    /// edit that set its current title, if an edit did.
    pub fn of(thread: &ThreadView) -> Vec<Self> {
        let mut news = Vec::new();
        if let Some(resolution) = &thread.resolution {
            news.push(Self {
                kind: NewsKind::Decided,
                post: resolution.resolve,
                by: resolution.by,
                at: resolution.at,
                text: resolution.decision.clone(),
            });
        }
        if let Some(reopened) = &thread.reopened {
            news.push(Self {
                kind: NewsKind::Reopened,
                post: reopened.reopen,
                by: reopened.by,
                at: reopened.at,
                text: String::new(),
            });
        }
        if let Some(root) = thread.posts.first()
            && let Some(retitle) = root
                .revisions
                .iter()
                .skip(1)
                .rev()
                .find(|revision| revision.title.is_some())
        {
            news.push(Self {
                kind: NewsKind::Retitled,
                post: retitle.id,
                by: root.author,
                at: retitle.created_at,
                text: retitle.title.clone().unwrap_or_default(),
            });
        }
        news.sort_by_key(|news| (news.at, news.post));
        news
    }
}

/// The shown posts and news not by `user` and not in `cursor`, by thread in thread-list
/// order; threads with nothing unread are left out.
pub(super) fn unread<'a>(
    list: &[ThreadSummary],
    thread: impl Fn(&PostId) -> Option<&'a ThreadView>,
    user: &UserId,
    cursor: &ReadCursor,
) -> Vec<UnreadThread> {
    list.iter()
        .filter_map(|summary| thread(&summary.id))
        .filter_map(|view| UnreadThread::of(view, user, cursor))
        .collect()
}

impl UnreadThread {
    /// The shown posts and the news of `thread` not by `user` and not in `cursor`, or
    /// `None` when there are none (rule 13 for one thread).
    pub fn of(thread: &ThreadView, user: &UserId, cursor: &ReadCursor) -> Option<Self> {
        let unread: Vec<&ThreadPost> = thread
            .posts
            .iter()
            .filter(|post| post.author != *user && !cursor.is_read(&post.id))
            .collect();
        let mentioned = unread.iter().any(|post| post.mentions.contains(user));
        let posts: Vec<PostId> = unread.iter().map(|post| post.id).collect();
        let news: Vec<News> = News::of(thread)
            .into_iter()
            .filter(|news| news.by != *user && !cursor.is_read(&news.post))
            .collect();
        (!posts.is_empty() || !news.is_empty()).then(|| Self {
            thread: thread.id,
            title: thread.title.clone(),
            posts,
            news,
            mentioned,
        })
    }

    /// Every post this entry lists: the unread posts, then the posts of its news (what
    /// marking it read marks).
    pub fn all_posts(&self) -> Vec<PostId> {
        let mut all = self.posts.clone();
        all.extend(self.news.iter().map(|news| news.post));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::{NewsKind, ReadCursor};
    use crate::view::fixture::{SpaceFixture, add, edit, key, reopen, reply, resolve, thread};

    #[test]
    fn decisions_reopenings_and_new_titles_are_news_until_read() {
        let fx = SpaceFixture::new(1, "news");
        let (alice, bob) = (key(1), key(2));
        let add_bob = fx.post(&alice, 1, add(bob.user_id()));
        let root = fx.post(&alice, 100, thread("Plan", "what?"));
        let retitle = fx.post(&alice, 110, edit(root.id(), Some("Release plan"), "what?"));
        let decide = fx.post(&alice, 120, resolve(root.id(), "Friday."));
        let user = bob.user_id();
        let mut cursor = ReadCursor::new();
        cursor.mark(root.id());
        let view = fx.view([&add_bob, &root, &retitle, &decide]);
        let unread = view.unread(&user, &cursor);
        assert_eq!(unread.len(), 1, "a thread with news is listed");
        assert!(unread[0].posts.is_empty());
        let kinds: Vec<_> = unread[0]
            .news
            .iter()
            .map(|n| (n.kind, n.text.as_str()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (NewsKind::Retitled, "Release plan"),
                (NewsKind::Decided, "Friday.")
            ]
        );
        // The author of the news has none; reading the thread reads its news.
        assert!(view.unread(&alice.user_id(), &ReadCursor::new()).is_empty());
        cursor.mark_thread(view.thread(&root.id()).unwrap());
        assert!(view.unread(&user, &cursor).is_empty());
        // Reopened: the decision is no longer news, the reopening is.
        let again = fx.post(&alice, 130, reopen(root.id()));
        let view = fx.view([&add_bob, &root, &retitle, &decide, &again]);
        let unread = view.unread(&user, &cursor);
        let kinds: Vec<_> = unread[0].news.iter().map(|n| n.kind).collect();
        assert_eq!(kinds, vec![NewsKind::Reopened]);
        assert_eq!(unread[0].all_posts(), vec![again.id()]);
    }

    #[test]
    fn unread_skips_own_and_read_posts_and_follows_the_thread_list() {
        let fx = SpaceFixture::new(1, "unread");
        let (alice, bob) = (key(1), key(2));
        let add_bob = fx.post(&alice, 1, add(bob.user_id()));
        let older = fx.post(&bob, 100, thread("older", ""));
        let newer = fx.post(&alice, 200, thread("newer", ""));
        let mine = fx.post(&bob, 210, reply(newer.id(), newer.id(), "mine"));
        let answer = fx.post(&alice, 220, reply(newer.id(), mine.id(), "answer"));
        let view = fx.view([&add_bob, &older, &newer, &mine, &answer]);
        let user = bob.user_id();
        let mut cursor = ReadCursor::new();
        let unread = view.unread(&user, &cursor);
        let grouped: Vec<_> = unread.iter().map(|u| (u.thread, u.posts.clone())).collect();
        assert_eq!(grouped, vec![(newer.id(), vec![newer.id(), answer.id()])]);
        cursor.mark(newer.id());
        assert_eq!(view.unread(&user, &cursor)[0].posts, vec![answer.id()]);
        let alice_cursor = ReadCursor::new();
        let for_alice = view.unread(&alice.user_id(), &alice_cursor);
        assert_eq!(for_alice.len(), 2);
        assert_eq!(for_alice[0].posts, vec![mine.id()]);
        assert_eq!(for_alice[1].thread, older.id());
        cursor.mark_thread(view.thread(&newer.id()).unwrap());
        assert!(view.unread(&user, &cursor).is_empty());
    }

    #[test]
    fn cursors_merge_by_union() {
        let (mut a, mut b) = (ReadCursor::new(), ReadCursor::new());
        let (x, y) = (crate::id::PostId([1; 32]), crate::id::PostId([2; 32]));
        a.mark(x);
        b.mark(y);
        a.merge(&b);
        assert!(a.is_read(&x) && a.is_read(&y));
        assert_eq!(a.read().len(), 2);
    }
}
