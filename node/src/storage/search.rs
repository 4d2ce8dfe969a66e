//! Marks that keep the search index (the node's `search` module) in step with the read
//! model across crashes: every fold of a thread marks it `E space root` with the fold's
//! sequence number, in the same batch as its line. The indexer clears a mark only once
//! the documents of that fold (or a later one) are committed to the index, and only if
//! no later fold marked the thread again meanwhile. Whatever is marked when the node
//! starts is indexed again; rebuilding the index marks every thread the store shows,
//! a group at a time, recording in `B` where it got to.

use parley_protocol::{PostId, SpaceId};

use super::{Storage, StorageError, keys};

/// Thread lines marked per batch when every thread is marked for a rebuild.
const GROUP: usize = 4096;

/// A thread whose search documents are to be written again: its space and root, and
/// the fold that marked it (0 when a rebuild did).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SearchMark {
    /// The thread's space.
    pub space: SpaceId,
    /// The thread's root.
    pub root: PostId,
    /// The fold's sequence number.
    pub seq: u64,
}

impl Storage {
    /// Up to `limit` marked threads, after `after` (in key order).
    pub fn search_marks(
        &self,
        after: Option<&SearchMark>,
        limit: usize,
    ) -> Result<Vec<SearchMark>, StorageError> {
        let start = match after {
            Some(mark) => {
                let mut key = keys::search(&mark.space, &mark.root);
                key.push(0);
                key
            }
            None => vec![keys::SEARCH],
        };
        let mut marks = Vec::new();
        for entry in self.db.range(start..).take(limit) {
            let (key, value) = entry?;
            if key.first() != Some(&keys::SEARCH) {
                break;
            }
            let (space, root) = keys::space_and_root(&key)?;
            let seq = keys::be_u64(&key, &value)?;
            marks.push(SearchMark { space, root, seq });
        }
        Ok(marks)
    }

    /// How many threads are marked, counted up to `bound`.
    pub fn search_mark_count(&self, bound: usize) -> Result<usize, StorageError> {
        let mut count = 0;
        for entry in self.db.scan_prefix([keys::SEARCH]).keys().take(bound) {
            entry?;
            count += 1;
        }
        Ok(count)
    }

    /// Clears the marks of `done` whose fold is the one indexed (a thread marked again
    /// since keeps its mark). Under the writer lock, so no fold marks one in between.
    pub fn clear_search_marks(&self, done: &[SearchMark]) -> Result<(), StorageError> {
        if done.is_empty() {
            return Ok(());
        }
        let _writer = self.lock_writer();
        let mut batch = sled::Batch::default();
        for mark in done {
            let key = keys::search(&mark.space, &mark.root);
            if self.db.get(&key)?.as_deref() == Some(&mark.seq.to_be_bytes()[..]) {
                batch.remove(key);
            }
        }
        self.db.apply_batch(batch)?;
        Ok(())
    }

    /// Starts marking every shown thread for the search index (a rebuild): the next
    /// calls of [`Storage::mark_all_for_search`] mark them a group at a time.
    pub fn start_search_rebuild(&self) -> Result<(), StorageError> {
        self.db.insert(keys::SEARCH_BUILD, &[])?;
        self.db.flush()?;
        Ok(())
    }

    /// Marks the next group of shown threads for the search index, if a rebuild is
    /// under way; returns whether one still is. Restartable: the position is recorded
    /// with each group.
    pub fn mark_all_for_search(&self) -> Result<bool, StorageError> {
        let Some(from) = self.db.get(keys::SEARCH_BUILD)? else {
            return Ok(false);
        };
        let start = if from.is_empty() {
            vec![keys::LINE]
        } else {
            let mut key = vec![keys::LINE];
            key.extend_from_slice(&from);
            key.push(0);
            key
        };
        let mut batch = sled::Batch::default();
        let mut last = None;
        for entry in self.db.range(start..).keys().take(GROUP) {
            let key = entry?;
            if key.first() != Some(&keys::LINE) {
                break;
            }
            let (space, root) = keys::space_and_root(&key)?;
            // A fold's own mark is newer than the rebuild: keep it.
            if !self.db.contains_key(keys::search(&space, &root))? {
                batch.insert(keys::search(&space, &root), &0u64.to_be_bytes());
            }
            last = Some(key);
        }
        let under_way = match last {
            Some(key) => {
                batch.insert(keys::SEARCH_BUILD, &key[1..]);
                true
            }
            None => {
                batch.remove(keys::SEARCH_BUILD);
                false
            }
        };
        self.db.apply_batch(batch)?;
        Ok(under_way)
    }

    /// Whether a rebuild's marking is under way.
    pub fn search_rebuild_pending(&self) -> Result<bool, StorageError> {
        Ok(self.db.contains_key(keys::SEARCH_BUILD)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_is_cleared_only_for_the_fold_that_set_it() {
        let tmp = tempfile::tempdir().unwrap();
        let storage = crate::storage::testing::reopen(tmp.path());
        let (space, root) = (SpaceId([1; 32]), PostId([2; 32]));
        let key = keys::search(&space, &root);
        storage.db.insert(&key, &7u64.to_be_bytes()).unwrap();
        let marks = storage.search_marks(None, 10).unwrap();
        assert_eq!(
            marks,
            vec![SearchMark {
                space,
                root,
                seq: 7
            }]
        );
        // An older fold's documents do not clear a newer fold's mark.
        storage
            .clear_search_marks(&[SearchMark {
                space,
                root,
                seq: 6,
            }])
            .unwrap();
        assert_eq!(storage.search_mark_count(10).unwrap(), 1);
        storage.clear_search_marks(&marks).unwrap();
        assert_eq!(storage.search_mark_count(10).unwrap(), 0);
    }
}
