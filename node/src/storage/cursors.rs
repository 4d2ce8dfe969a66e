//! Per-user read cursors (spec 6.14): the posts each user has read, per space. Not
//! flushed on write: a mark lost in a crash only shows a post as unread again.
//!
//! A cursor is kept in two parts: the posts marked one by one (`r user space id`), and
//! a *read mark* (`w user space`), a position in the envelope log: every post of the
//! space whose record lies before it was held when the user marked the whole space
//! read, and is read. So marking a space of a million posts read writes one record.
//! Records are appended in the order posts are stored and never move, so a post keeps
//! its side of the mark; a post stored again after its record was quarantined comes
//! after it, and shows as unread again.

use parley_protocol::view::ReadCursor;
use parley_protocol::{PostId, SpaceId, UserId};

use super::error::{Corruption, StorageError};
use super::log::Position;
use super::{Storage, keys};

impl Storage {
    /// Marks `ids` of `space` as read by `user`.
    pub fn mark_read(
        &self,
        user: &UserId,
        space: &SpaceId,
        ids: &[PostId],
    ) -> Result<(), StorageError> {
        let mut batch = sled::Batch::default();
        for id in ids {
            batch.insert(keys::read(user, space, id), &[]);
        }
        self.db.apply_batch(batch)?;
        Ok(())
    }

    /// Marks every post of `space` held now as read by `user`, and tells the unread count
    /// that nothing folded so far has anything unread for them.
    pub fn mark_space_read(&self, user: &UserId, space: &SpaceId) -> Result<(), StorageError> {
        // The latest fold before the log's end: every thread folded by then holds only
        // posts stored before that end. Threads folded later are counted again anyway.
        let latest = self.latest_change(space)?;
        let mut batch = sled::Batch::default();
        for entry in self.db.scan_prefix(keys::unread_in(user, space)) {
            let (key, _) = entry?;
            batch.remove(key);
        }
        if let Some(seq) = latest {
            batch.insert(keys::seen(user, space), &seq.to_be_bytes());
        }
        // Under the writer lock, no append is half done: a post is either before the
        // end, with its index entry, or will be stored after it.
        let _writer = self.lock_writer();
        batch.insert(keys::read_mark(user, space), &self.log.end().encode());
        self.db.apply_batch(batch)?;
        Ok(())
    }

    /// Whether `user` has read the post `id` of `space`: marked one by one, or stored
    /// before the space was marked read.
    pub fn is_read(
        &self,
        user: &UserId,
        space: &SpaceId,
        id: &PostId,
    ) -> Result<bool, StorageError> {
        if self.db.contains_key(keys::read(user, space, id))? {
            return Ok(true);
        }
        let Some(mark) = self.read_mark(user, space)? else {
            return Ok(false);
        };
        Ok(self
            .pointer(id)?
            .is_some_and(|pointer| pointer.position() < mark))
    }

    /// Where `user` last marked `space` read, if ever.
    fn read_mark(&self, user: &UserId, space: &SpaceId) -> Result<Option<Position>, StorageError> {
        let key = keys::read_mark(user, space);
        self.db
            .get(&key)?
            .map(|value| {
                Position::decode(&value).ok_or_else(|| {
                    keys::corrupt(
                        &key,
                        Corruption::Length {
                            expected: Position::LEN,
                            found: value.len(),
                        },
                    )
                })
            })
            .transpose()
    }

    /// The posts `user` marked read one by one in `space` (not those under a read mark).
    pub fn read_cursor(&self, user: &UserId, space: &SpaceId) -> Result<ReadCursor, StorageError> {
        let mut cursor = ReadCursor::new();
        for entry in self.db.scan_prefix(keys::read_in(user, space)) {
            let (key, _) = entry?;
            cursor.mark(keys::trailing_id(&key, keys::READ_LEN)?);
        }
        Ok(cursor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_per_user_and_space() {
        let tmp = tempfile::tempdir().unwrap();
        let storage = crate::storage::testing::reopen(tmp.path());
        let (ada, bob) = (UserId([1; 32]), UserId([2; 32]));
        let (one, two) = (SpaceId([1; 32]), SpaceId([2; 32]));
        let ids = [PostId([5; 32]), PostId([6; 32])];
        storage.mark_read(&ada, &one, &ids).unwrap();
        storage.mark_read(&ada, &one, &ids[..1]).unwrap();
        storage.mark_read(&bob, &two, &ids[1..]).unwrap();
        let cursor = storage.read_cursor(&ada, &one).unwrap();
        assert!(cursor.is_read(&ids[0]) && cursor.is_read(&ids[1]));
        assert_eq!(cursor.read().len(), 2);
        assert!(storage.read_cursor(&ada, &two).unwrap().read().is_empty());
        assert!(storage.read_cursor(&bob, &one).unwrap().read().is_empty());
        assert_eq!(storage.read_cursor(&bob, &two).unwrap().read().len(), 1);
    }

    #[test]
    fn a_read_mark_covers_what_was_held_when_it_was_set_and_survives_a_restart() {
        let tmp = tempfile::tempdir().unwrap();
        let posts = crate::storage::testing::thread_space(6);
        let space = posts[0].space();
        let (ada, bob) = (UserId([1; 32]), UserId([2; 32]));
        let storage = crate::storage::testing::reopen(tmp.path());
        storage.insert(&posts[..3]).unwrap();
        storage.insert(&posts[3..4]).unwrap();
        assert!(!storage.is_read(&ada, &space, &posts[1].id()).unwrap());
        storage.mark_space_read(&ada, &space).unwrap();
        storage.insert(&posts[4..]).unwrap();
        drop(storage);
        let storage = crate::storage::testing::reopen(tmp.path());
        storage.insert(&posts[5..]).unwrap();
        for (i, post) in posts.iter().enumerate() {
            assert_eq!(storage.is_read(&ada, &space, &post.id()).unwrap(), i < 4);
            assert!(!storage.is_read(&bob, &space, &post.id()).unwrap());
        }
        // Another space's mark says nothing of this one.
        storage.mark_space_read(&bob, &SpaceId([7; 32])).unwrap();
        assert!(!storage.is_read(&bob, &space, &posts[1].id()).unwrap());
        // Marked one by one after the mark: read too.
        storage.mark_read(&ada, &space, &[posts[5].id()]).unwrap();
        assert!(storage.is_read(&ada, &space, &posts[5].id()).unwrap());
    }
}
