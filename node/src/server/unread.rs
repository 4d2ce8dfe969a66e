//! Counting what a user has not read (spec 6.14), looking only at the threads that
//! had unread posts at the last count and those folded since (`storage::unread`
//! explains why that is exact), and listing at most [`MAX_UNREAD_POSTS`] posts.

use std::collections::BTreeSet;

use parley_protocol::api::UnreadInSpace;
use parley_protocol::view::{News, ReadCursor, SpaceView, UnreadThread};
use parley_protocol::{PostId, SpaceId, UserId};

use super::refold::Refolding;
use crate::storage::StorageError;

/// Most unread posts one answer lists (their ids and titles fit one message many
/// times over); the rest are listed once these are read.
pub(crate) const MAX_UNREAD_POSTS: usize = 2_000;

/// Where an unread thread goes in the answer: its space's place, then thread-list order.
pub(crate) type UnreadOrder = (usize, std::cmp::Reverse<parley_protocol::Timestamp>, PostId);

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
            Some(line) => self
                .refolding
                .fold_thread(space, self.spine, root)?
                .map(|thread| -> Result<_, StorageError> {
                    let mut cursor = ReadCursor::new();
                    let news = News::of(&thread);
                    let listed = thread.posts.iter().map(|post| post.id);
                    for id in listed.chain(news.iter().map(|news| news.post)) {
                        if storage.is_read(user, space, &id)? {
                            cursor.mark(id);
                        }
                    }
                    Ok(UnreadThread::of(&thread, user, &cursor).map(|u| (line.last_activity, u)))
                })
                .transpose()?
                .flatten(),
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
