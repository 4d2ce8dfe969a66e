//! Damaged records: a post whose envelope no longer reads back (its log record does not
//! hash to its id, or is cut short, or its index entry is unreadable) costs that post
//! only. It is *quarantined*: its index entries go, so it is not held as far as reads
//! and reconciliation can tell (a replica that has it sends it again, and it is stored
//! anew), and a `q id` record keeps what is known of it for `parleyd status` until then.

use parley_protocol::envelope::{peek_header, peek_space};
use parley_protocol::sync::Item;
use parley_protocol::{PostId, SpaceId};
use serde::{Deserialize, Serialize};

use super::error::StorageError;
use super::log::Pointer;
use super::sums::SumChanges;
use super::{Storage, keys, record};

/// A quarantined post: damaged on disk, not held until a peer sends it again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quarantined {
    /// The post.
    #[serde(with = "record::text")]
    pub id: PostId,
    /// Its space, if its index entries told it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub space: Option<String>,
    /// When the damage was found (milliseconds).
    pub found_at: u64,
    /// What was wrong.
    pub problem: String,
}

/// What a [`Storage::scrub`] found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Scrubbed {
    /// Records read back.
    pub read: u64,
    /// Records found damaged, and quarantined.
    pub damaged: u64,
}

impl Storage {
    /// Quarantines the post `id`, whose record (at `pointer`, when the index could
    /// say) failed to read back with `problem`: removes its index entries in one batch
    /// and records it. What remains of the record is left where it is, unread.
    pub(super) fn quarantine(
        &self,
        id: &PostId,
        pointer: Option<Pointer>,
        problem: &StorageError,
    ) -> Result<(), StorageError> {
        // The item leaves its space's sums in the same batch.
        let _writer = self.lock_writer();
        let item = self.find_item(id, pointer)?;
        let mut batch = sled::Batch::default();
        batch.remove(keys::post(id));
        let mut sums = SumChanges::default();
        if let Some((space, item)) = &item {
            batch.remove(keys::item(space, item));
            batch.remove(keys::governance(space, item));
            batch.remove(keys::genesis(space, id));
            self.note_item(&mut sums, space, item, false)?;
        }
        sums.write(&mut batch);
        // Thread index entries stay: they name the post, and reading it finds nothing
        // until it is stored again, when the same entries are written.
        let quarantined = Quarantined {
            id: *id,
            space: item.as_ref().map(|(space, _)| space.to_string()),
            found_at: crate::clock::now().as_millis(),
            problem: problem.to_string(),
        };
        batch.insert(keys::quarantine(id), record::encode(&quarantined));
        self.db.apply_batch(batch)?;
        if let Some((space, _)) = &item {
            self.items_changed(space);
        }
        self.posts.remove(id);
        tracing::warn!(
            post = %id,
            space = quarantined.space.as_deref().unwrap_or("unknown"),
            %problem,
            "a damaged record was quarantined: the post is treated as not held until a peer sends it again"
        );
        Ok(())
    }

    /// Reads every post held in full back from the log, so a damaged record is found
    /// (and quarantined) even when nobody reads it: what the node runs in the
    /// background. Calls `pace` after each batch of records (to yield the disk and CPU),
    /// and stops early when it returns `false`. Returns how many records were read and
    /// how many of them were damaged.
    pub fn scrub(&self, mut pace: impl FnMut() -> bool) -> Result<Scrubbed, StorageError> {
        const BATCH: usize = 256;
        let mut scrubbed = Scrubbed::default();
        let mut from = vec![keys::POST];
        loop {
            // The next batch of ids, read before any is quarantined (which removes keys).
            let mut ids = Vec::with_capacity(BATCH);
            for entry in self.db.range(from.as_slice()..).take(BATCH) {
                let (key, _) = entry?;
                if key.first() != Some(&keys::POST) {
                    break;
                }
                ids.push(PostId::from_bytes(keys::single_id(&key)?));
            }
            let Some(last) = ids.last() else {
                return Ok(scrubbed);
            };
            from = keys::post(last);
            from.push(0);
            for id in &ids {
                scrubbed.read += 1;
                if self.envelope(id)?.is_none() && self.quarantined_now(id)? {
                    scrubbed.damaged += 1;
                }
            }
            if !pace() {
                return Ok(scrubbed);
            }
        }
    }

    /// Whether `id` is quarantined now.
    fn quarantined_now(&self, id: &PostId) -> Result<bool, StorageError> {
        Ok(self.db.contains_key(keys::quarantine(id))?)
    }

    /// The posts quarantined and not stored again since, in id order.
    pub fn quarantined(&self) -> Result<Vec<Quarantined>, StorageError> {
        let mut found = Vec::new();
        for entry in self.db.scan_prefix([keys::QUARANTINE]) {
            let (key, value) = entry?;
            found.push(record::decode(&key, &value)?);
        }
        Ok(found)
    }

    /// The space and item of the post `id` in the item index: looked up where the
    /// damaged record's own header says (right unless the damage hit the header), else
    /// found by scanning the item index (slow, but damage is rare).
    fn find_item(
        &self,
        id: &PostId,
        pointer: Option<Pointer>,
    ) -> Result<Option<(SpaceId, Item)>, StorageError> {
        let hint = pointer
            .and_then(|pointer| self.log.read_raw(pointer))
            .and_then(|bytes| Some((peek_space(&bytes)?, peek_header(&bytes)?.0)));
        if let Some((space, created_at)) = hint {
            let item = Item::new(created_at, *id);
            if self.db.contains_key(keys::item(&space, &item))? {
                return Ok(Some((space, item)));
            }
        }
        for entry in self.db.scan_prefix([keys::ITEM]) {
            let (key, _) = entry?;
            if key.ends_with(id.as_bytes()) {
                let (space, item) = keys::parse_item(&key)?;
                if item.id == *id {
                    return Ok(Some((space, item)));
                }
            }
        }
        Ok(None)
    }
}

/// Whether `error` is damage to one record (quarantined), not a failing disk or
/// database (passed on).
pub(super) fn is_damage(error: &StorageError) -> bool {
    matches!(error, StorageError::Corrupt { .. })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::io::{Read as _, Seek as _, SeekFrom, Write as _};

    use parley_protocol::Post;
    use proptest::prelude::*;

    use super::*;
    use crate::storage::Inserted;
    use crate::storage::testing::{reopen, thread_space as space};

    /// Flips one byte in the middle of the envelope of each post of `damaged` in the
    /// store's log, as a failing disk would.
    fn damage(dir: &std::path::Path, pointers: &[Pointer]) {
        for pointer in pointers {
            let path = dir.join("log").join(format!("{:08}.seg", pointer.segment));
            let mut file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .unwrap();
            let at = pointer.offset + 36 + u64::from(pointer.len) / 2;
            let mut byte = [0];
            file.seek(SeekFrom::Start(at)).unwrap();
            file.read_exact(&mut byte).unwrap();
            file.seek(SeekFrom::Start(at)).unwrap();
            file.write_all(&[byte[0] ^ 0x20]).unwrap();
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]

        /// Any records damaged, exactly those go missing, every other post reads, and
        /// storing them again (as a peer's reconciliation does) restores them.
        #[test]
        fn damaged_records_cost_exactly_those_posts(
            chosen in proptest::collection::btree_set(0..21usize, 1..6)
        ) {
            let tmp = tempfile::tempdir().unwrap();
            let posts = space(20);
            let space_id = posts[0].space();
            let damaged: BTreeSet<PostId> = chosen.iter().map(|&i| posts[i].id()).collect();
            let pointers: Vec<Pointer> = {
                let storage = reopen(tmp.path());
                storage.insert(&posts).unwrap();
                storage.flush().unwrap();
                damaged.iter().map(|id| storage.pointer(id).unwrap().unwrap()).collect()
            };
            damage(tmp.path(), &pointers);

            let storage = reopen(tmp.path());
            let read: BTreeSet<PostId> = storage
                .space_posts(&space_id)
                .unwrap()
                .iter()
                .map(Post::id)
                .collect();
            let all: BTreeSet<PostId> = posts.iter().map(Post::id).collect();
            prop_assert_eq!(&read, &all.difference(&damaged).copied().collect());
            // Not held, as far as reconciliation can tell.
            let items: BTreeSet<PostId> =
                storage.items(&space_id).unwrap().iter().map(|i| i.id).collect();
            prop_assert_eq!(&items, &read);
            for id in &damaged {
                prop_assert!(!storage.knows(id).unwrap());
            }
            let quarantined: BTreeSet<PostId> =
                storage.quarantined().unwrap().iter().map(|q| q.id).collect();
            prop_assert_eq!(&quarantined, &damaged);
            prop_assert!(storage
                .quarantined()
                .unwrap()
                .iter()
                .all(|q| q.space.as_deref() == Some(space_id.to_string().as_str())));

            // A peer sends them again.
            let again: Vec<Post> =
                posts.iter().filter(|p| damaged.contains(&p.id())).cloned().collect();
            let outcomes = storage.insert(&again).unwrap();
            prop_assert!(outcomes.iter().all(|o| *o == Inserted::New));
            let read = storage.space_posts(&space_id).unwrap().len();
            prop_assert_eq!(read, posts.len());
            prop_assert!(storage.quarantined().unwrap().is_empty());
        }
    }

    #[test]
    fn a_scrub_finds_damage_nobody_read() {
        let tmp = tempfile::tempdir().unwrap();
        let posts = space(600);
        let victims = [posts[5].id(), posts[300].id(), posts[599].id()];
        let pointers: Vec<Pointer> = {
            let storage = reopen(tmp.path());
            storage.insert(&posts).unwrap();
            storage.flush().unwrap();
            victims
                .iter()
                .map(|id| storage.pointer(id).unwrap().unwrap())
                .collect()
        };
        damage(tmp.path(), &pointers);
        let storage = reopen(tmp.path());
        // Reconciliation reads the index only: it still counts them.
        assert_eq!(storage.items(&posts[0].space()).unwrap().len(), posts.len());
        let mut batches = 0;
        let scrubbed = storage
            .scrub(|| {
                batches += 1;
                true
            })
            .unwrap();
        assert_eq!(scrubbed.read, posts.len() as u64);
        assert_eq!(scrubbed.damaged, 3);
        assert_eq!(batches, posts.len().div_ceil(256));
        assert_eq!(
            storage.items(&posts[0].space()).unwrap().len(),
            posts.len() - 3
        );
        let quarantined: BTreeSet<PostId> = storage
            .quarantined()
            .unwrap()
            .iter()
            .map(|q| q.id)
            .collect();
        assert_eq!(quarantined, victims.into_iter().collect());
    }

    #[test]
    fn a_damaged_index_entry_is_quarantined_too() {
        let tmp = tempfile::tempdir().unwrap();
        let posts = space(3);
        let storage = reopen(tmp.path());
        // Damage is found on the disk, not in the cache of posts read back.
        storage.set_post_cache_bytes(0);
        storage.insert(&posts).unwrap();
        let victim = posts[2].id();
        storage.db.insert(keys::post(&victim), &[1, 2, 3]).unwrap();
        assert_eq!(storage.get(&victim).unwrap(), None);
        assert_eq!(storage.space_posts(&posts[0].space()).unwrap().len(), 3);
        assert_eq!(storage.quarantined().unwrap()[0].id, victim);
        assert_eq!(storage.items(&posts[0].space()).unwrap().len(), 3);
    }
}
