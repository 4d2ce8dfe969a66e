//! Per-user read cursors: the posts each user has read, per space. Not flushed on
//! write: a mark lost in a crash only shows a post as unread again.

use parley_protocol::view::ReadCursor;
use parley_protocol::{PostId, SpaceId, UserId};

use super::error::StorageError;
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

    /// What `user` has read in `space`.
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
}
