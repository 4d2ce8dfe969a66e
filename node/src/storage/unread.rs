//! What each user has not read, kept so that counting it looks only at what changed
//! (spec 6.14, rule 13).
//!
//! Every time a shown thread is folded again it gets a new sequence number, from
//! sled's monotonic id generator (`o space seq root`; its line records the latest). A user's count remembers the last sequence number it looked at
//! (`y user space`) and the threads that still had unread posts (`f user space root`).
//! The next count looks at those threads and the ones folded since, and at nothing
//! else. That is exact: a thread outside both had nothing unread at the last count and
//! shows the same posts since, and read cursors only grow.

use parley_protocol::{PostId, SpaceId, UserId};

use super::error::{Corruption, StorageError};
use super::{Storage, keys};

impl Storage {
    /// The threads of `space` folded after sequence number `after` (all with `None`),
    /// in fold order, each with its sequence number; `visit` returns `false` to stop.
    pub fn changes_since(
        &self,
        space: &SpaceId,
        after: Option<u64>,
        mut visit: impl FnMut(u64, PostId) -> Result<bool, StorageError>,
    ) -> Result<(), StorageError> {
        let prefix = keys::changes_of(space);
        let start = match after {
            Some(seq) => keys::change(space, seq, &PostId::from_bytes([0xff; 32])),
            None => prefix.clone(),
        };
        for entry in self.db.range(start..) {
            let (key, _) = entry?;
            if !key.starts_with(&prefix) {
                break;
            }
            let root = keys::trailing_id(&key, keys::CHANGE_LEN)?;
            let seq = parse_seq(&key, &key[1 + 32..1 + 32 + 8])?;
            if after.is_some_and(|after| seq <= after) {
                continue;
            }
            if !visit(seq, root)? {
                break;
            }
        }
        Ok(())
    }

    /// The sequence number of the latest fold of a thread of `space`, if any.
    pub(super) fn latest_change(&self, space: &SpaceId) -> Result<Option<u64>, StorageError> {
        match self.db.scan_prefix(keys::changes_of(space)).next_back() {
            Some(entry) => {
                let (key, _) = entry?;
                if key.len() != keys::CHANGE_LEN {
                    return Err(keys::corrupt(
                        &key,
                        Corruption::Length {
                            expected: keys::CHANGE_LEN,
                            found: key.len(),
                        },
                    ));
                }
                parse_seq(&key, &key[1 + 32..1 + 32 + 8]).map(Some)
            }
            None => Ok(None),
        }
    }

    /// The last fold `user`'s unread count in `space` looked at, if it ever counted.
    pub fn unread_seen(&self, user: &UserId, space: &SpaceId) -> Result<Option<u64>, StorageError> {
        let key = keys::seen(user, space);
        self.db
            .get(&key)?
            .map(|value| parse_seq(&key, &value))
            .transpose()
    }

    /// Records that `user`'s unread count in `space` looked at every fold up to `seq`.
    pub fn set_unread_seen(
        &self,
        user: &UserId,
        space: &SpaceId,
        seq: u64,
    ) -> Result<(), StorageError> {
        self.db
            .insert(keys::seen(user, space), &seq.to_be_bytes())?;
        Ok(())
    }

    /// The threads of `space` that had posts `user` had not read at the last count.
    pub fn unread_threads(
        &self,
        user: &UserId,
        space: &SpaceId,
    ) -> Result<Vec<PostId>, StorageError> {
        let mut roots = Vec::new();
        for entry in self.db.scan_prefix(keys::unread_in(user, space)) {
            let (key, _) = entry?;
            roots.push(keys::trailing_id(&key, keys::UNREAD_LEN)?);
        }
        Ok(roots)
    }

    /// Records whether the thread `root` has posts `user` has not read.
    pub fn set_unread(
        &self,
        user: &UserId,
        space: &SpaceId,
        root: &PostId,
        unread: bool,
    ) -> Result<(), StorageError> {
        let key = keys::unread(user, space, root);
        if unread {
            self.db.insert(key, &[])?;
        } else {
            self.db.remove(key)?;
        }
        Ok(())
    }
}

/// A sequence number stored as 8 bytes (big-endian).
pub(super) fn parse_seq(key: &[u8], bytes: &[u8]) -> Result<u64, StorageError> {
    let bytes: [u8; 8] = bytes.try_into().map_err(|_| {
        keys::corrupt(
            key,
            Corruption::Length {
                expected: 8,
                found: bytes.len(),
            },
        )
    })?;
    Ok(u64::from_be_bytes(bytes))
}
