//! Counting what a user has not read (spec 6.14), looking only at the threads that
//! had unread posts at the last count and those folded since (`storage::unread`
//! explains why that is exact), and listing at most [`MAX_UNREAD_POSTS`] posts.

use std::collections::{BTreeMap, BTreeSet};

use parley_protocol::api::UnreadInSpace;
use parley_protocol::view::{News, ReadCursor, SpaceView, UnreadThread};
use parley_protocol::{PostId, SpaceId, UserId};

use super::refold::Refolding;
use crate::storage::StorageError;

/// Most unread posts one answer lists (their ids and titles fit one message many
/// times over); the rest are listed once these are read.
pub(crate) const MAX_UNREAD_POSTS: usize = 2_000;

/// The most unread posts and news a space's entry in the space list counts.
pub(crate) const SPACE_UNREAD_BOUND: usize = 1_000;

/// Where an unread thread goes in the answer: its space's place, then thread-list order.
pub(crate) type UnreadOrder = (usize, std::cmp::Reverse<parley_protocol::Timestamp>, PostId);

/// What `user` has not read of the thread `root` of `space`: folded, then each post
/// and news looked up in the user's cursor.
fn unread_thread(
    refolding: &Refolding<'_>,
    user: &UserId,
    space: &SpaceId,
    spine: &SpaceView,
    root: &PostId,
) -> Result<Option<UnreadThread>, StorageError> {
    let storage = refolding.storage;
    let Some(thread) = refolding.fold_thread(space, spine, root)? else {
        return Ok(None);
    };
    let mut cursor = ReadCursor::new();
    let news = News::of(&thread);
    let listed = thread.posts.iter().map(|post| post.id);
    for id in listed.chain(news.iter().map(|news| news.post)) {
        if storage.is_read(user, space, &id)? {
            cursor.mark(id);
        }
    }
    Ok(UnreadThread::of(&thread, user, &cursor))
}

/// How many posts and news of each thread of `roots` (of `space`) `user` has not read,
/// for threads with any. Only threads that had unread posts at the user's last count,
/// or were folded since, are looked at (the others have none; see `storage::unread`),
/// and nothing is recorded.
pub(crate) fn unread_counts(
    refolding: &Refolding<'_>,
    user: &UserId,
    space: &SpaceId,
    spine: &SpaceView,
    roots: &[PostId],
) -> Result<BTreeMap<PostId, u32>, StorageError> {
    let storage = refolding.storage;
    let pending: BTreeSet<PostId> = storage.unread_threads(user, space)?.into_iter().collect();
    let seen = storage.unread_seen(user, space)?;
    let mut counts = BTreeMap::new();
    for root in roots {
        let changed = match seen {
            None => true,
            Some(seen) => storage.line_fold(space, root)?.is_none_or(|seq| seq > seen),
        };
        if !changed && !pending.contains(root) {
            continue;
        }
        if let Some(unread) = unread_thread(refolding, user, space, spine, root)? {
            let count = unread.posts.len() + unread.news.len();
            counts.insert(*root, u32::try_from(count).unwrap_or(u32::MAX));
        }
    }
    Ok(counts)
}

/// One space's part of an unread count: the threads that had unread posts at the last
/// count and those folded since (see `storage::unread`), a thread at a time.
pub(crate) struct UnreadCount<'a> {
    pub(crate) refolding: Refolding<'a>,
    pub(crate) user: &'a UserId,
    pub(crate) space: &'a SpaceId,
    pub(crate) spine: &'a SpaceView,
    pub(crate) mark: bool,
    pub(crate) budget: &'a mut usize,
    pub(crate) found: &'a mut Vec<(UnreadOrder, UnreadInSpace)>,
    pub(crate) order: usize,
}

impl UnreadCount<'_> {
    /// Counts; returns whether every changed thread was looked at (`false`: the
    /// answer is full, and the rest wait for the next count).
    pub(crate) fn run(&mut self) -> Result<bool, StorageError> {
        let storage = self.refolding.storage;
        let pending: BTreeSet<PostId> = storage
            .unread_threads(self.user, self.space)?
            .into_iter()
            .collect();
        for root in &pending {
            if *self.budget == 0 {
                return Ok(false);
            }
            self.examine(root)?;
        }
        let seen = storage.unread_seen(self.user, self.space)?;
        // Folds share sequence numbers in groups: the count may only say it saw a
        // number once it looked at the whole group.
        let (mut looked_at, mut current) = (None, None);
        let mut complete = true;
        storage.changes_since(self.space, seen, |seq, root| {
            if current != Some(seq) {
                looked_at = current;
                current = Some(seq);
            }
            if *self.budget == 0 {
                complete = false;
                return Ok(false);
            }
            if !pending.contains(&root) {
                self.examine(&root)?;
            }
            Ok(true)
        })?;
        if complete {
            looked_at = current;
        }
        if let Some(seq) = looked_at {
            storage.set_unread_seen(self.user, self.space, seq)?;
        }
        Ok(complete)
    }

    /// Counts one thread's unread posts, lists them, and records whether any remain.
    fn examine(&mut self, root: &PostId) -> Result<(), StorageError> {
        let storage = self.refolding.storage;
        let (user, space) = (self.user, self.space);
        let unread = match storage.line(space, root)? {
            Some(line) => unread_thread(&self.refolding, user, space, self.spine, root)?
                .map(|unread| (line.last_activity, unread)),
            None => None,
        };
        let Some((last_activity, unread)) = unread else {
            return storage.set_unread(user, space, root, false);
        };
        if self.mark {
            storage.mark_read(user, space, &unread.all_posts())?;
        }
        storage.set_unread(user, space, root, !self.mark)?;
        *self.budget = self
            .budget
            .saturating_sub(unread.posts.len() + unread.news.len());
        let space_name = self
            .spine
            .genesis()
            .map(|g| g.name.clone())
            .unwrap_or_default();
        self.found.push((
            (self.order, std::cmp::Reverse(last_activity), *root),
            UnreadInSpace {
                space: *space,
                space_name,
                thread: unread,
            },
        ));
        Ok(())
    }
}
