//! Rule 13 of `spec/06-views.md`: what a user has not read yet.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::summary::ThreadSummary;
use super::text;
use super::thread::ThreadView;
use crate::id::{PostId, UserId};

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

    /// Marks every post currently shown in `thread` as read.
    pub fn mark_thread(&mut self, thread: &ThreadView) {
        self.read.extend(thread.posts.iter().map(|post| post.id));
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
}

/// The shown posts not written by `user` and not in `cursor`, by thread in thread-list
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
    /// The shown posts of `thread` not written by `user` and not in `cursor`, or `None`
    /// when there are none (rule 13 for one thread).
    pub fn of(thread: &ThreadView, user: &UserId, cursor: &ReadCursor) -> Option<Self> {
        let posts: Vec<PostId> = thread
            .posts
            .iter()
            .filter(|post| post.author != *user && !cursor.is_read(&post.id))
            .map(|post| post.id)
            .collect();
        (!posts.is_empty()).then(|| Self {
            thread: thread.id,
            title: thread.title.clone(),
            posts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::ReadCursor;
    use crate::view::fixture::{SpaceFixture, add, key, reply, thread};

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
