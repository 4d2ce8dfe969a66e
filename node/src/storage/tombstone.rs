//! Tombstones: the bytes of an effectively retracted post are dropped, its item is kept
//! (`spec/07-sync-and-gossip.md` 7.2), so reconciliation still lists it, peers do not
//! send it again, and storing it again is refused.

use std::collections::BTreeSet;

use parley_protocol::sync::Item;
use parley_protocol::{Content, Post, PostId, SpaceId, Timestamp};

/// The kind tag of a retraction (spec 4).
const RETRACTION_TAG: u32 = 4;

use super::error::{Corruption, StorageError};
use super::log::Pointer;
use super::posts::{decode_stored, kind_tag, thread_entry_tag};
use super::{Storage, keys};

impl Storage {
    /// Drops the bytes of the posts `ids` of `space`, keeping a tombstone of each. The
    /// caller decides which posts an effective retraction withdrew
    /// ([`parley_protocol::view::SpaceView::retracted`]). Ids not held in full, or held
    /// for another space, are skipped. Returns how many posts were dropped.
    ///
    /// The index changes (tombstones, and a note of each log record to erase) are
    /// written in one atomic batch and flushed; then the records are overwritten with
    /// zeros in the log and the notes removed. A crash before the flush leaves the posts
    /// held (still hidden by their retractions; the caller drops them again); a crash
    /// after it is finished by the next [`Storage::open`].
    pub fn drop_retracted(
        &self,
        space: &SpaceId,
        ids: &BTreeSet<PostId>,
    ) -> Result<usize, StorageError> {
        let _writer = self.lock_writer();
        let mut batch = sled::Batch::default();
        let mut erase = Vec::new();
        for id in ids {
            let Some(pointer) = self.pointer(id)? else {
                continue;
            };
            let bytes = self.log.read(pointer, id, &keys::name(&keys::post(id)))?;
            // The clock does not matter for a post being dropped.
            let post = decode_stored(id, &bytes)?;
            if post.space() != *space {
                continue;
            }
            let item = Item::from(&post);
            batch.remove(keys::post(id));
            batch.insert(keys::tombstone(id), tombstone_value(space, item.created_at));
            batch.insert(keys::item(space, &item), keys::TOMBSTONE_MARK);
            batch.insert(keys::erase(&pointer.encode()), &[]);
            // Thread index entries stay, so posts filed below this one are still found.
            erase.push(pointer);
        }
        if erase.is_empty() {
            return Ok(0);
        }
        self.db.apply_batch(batch)?;
        for id in ids {
            self.posts.remove(id);
        }
        self.db.flush()?;
        self.erase_records(&erase)?;
        Ok(erase.len())
    }

    /// Erases the log records still noted for erasing (after a crash in
    /// [`Storage::drop_retracted`]); called when the store opens.
    pub(super) fn finish_erasing(&self) -> Result<(), StorageError> {
        let mut pending = Vec::new();
        for entry in self.db.scan_prefix([keys::ERASE]) {
            let (key, _) = entry?;
            let pointer = key.get(1..).and_then(Pointer::decode).ok_or_else(|| {
                keys::corrupt(
                    &key,
                    Corruption::Length {
                        expected: 1 + Pointer::LEN,
                        found: key.len(),
                    },
                )
            })?;
            pending.push(pointer);
        }
        self.erase_records(&pending)
    }

    /// Overwrites the records in the log, then removes their erase notes.
    fn erase_records(&self, pointers: &[Pointer]) -> Result<(), StorageError> {
        let mut done = sled::Batch::default();
        for pointer in pointers {
            self.log.erase(*pointer)?;
            done.remove(keys::erase(&pointer.encode()));
        }
        // Not flushed: a note that comes back after a crash is erased again, harmlessly.
        self.db.apply_batch(done)?;
        Ok(())
    }

    /// The stored retractions of `space` whose target is `target` (found through the
    /// thread index, which files a retraction under its target).
    pub fn retractions_of(
        &self,
        space: &SpaceId,
        target: &PostId,
    ) -> Result<Vec<Post>, StorageError> {
        let mut found = Vec::new();
        for entry in self.db.scan_prefix(keys::filed_under(space, target)) {
            let (key, value) = entry?;
            // The entry names its post's kind: replies, edits and reactions filed here
            // are passed over without reading their envelopes.
            if thread_entry_tag(&value).is_some_and(|tag| tag != RETRACTION_TAG) {
                continue;
            }
            let id = keys::trailing_id(&key, keys::THREAD_LEN)?;
            let Some(bytes) = self.envelope(&id)? else {
                continue;
            };
            // Only retractions are decoded (and validated again).
            if kind_tag(&bytes) != Some(RETRACTION_TAG) {
                continue;
            }
            let post = decode_stored(&id, &bytes)?;
            if matches!(post.content(), Content::Retraction(r) if r.target == *target) {
                found.push(post);
            }
        }
        Ok(found)
    }

    /// The space of the post `id` if it was dropped for a retraction.
    pub(super) fn tombstone_space(&self, id: &PostId) -> Result<Option<SpaceId>, StorageError> {
        let key = keys::tombstone(id);
        match self.db.get(&key)? {
            Some(record) => match parse_tombstone(&record) {
                Some((space, _)) => Ok(Some(space)),
                None => Err(keys::corrupt(
                    &key,
                    Corruption::Length {
                        expected: TOMBSTONE_LEN,
                        found: record.len(),
                    },
                )),
            },
            None => Ok(None),
        }
    }

    /// Whether the post `id` was dropped for a retraction.
    pub fn is_retracted(&self, id: &PostId) -> Result<bool, StorageError> {
        Ok(self.db.contains_key(keys::tombstone(id))?)
    }

    /// The tombstones of `space`, in `(created_at, id)` order.
    pub fn tombstones(&self, space: &SpaceId) -> Result<Vec<Item>, StorageError> {
        let mut items = Vec::new();
        for entry in self.db.scan_prefix(keys::items_of(space)) {
            let (key, value) = entry?;
            if value.is_empty() {
                continue;
            }
            let (_, item) = keys::parse_item(&key)?;
            let record = self.db.get(keys::tombstone(&item.id))?;
            match record.as_deref().map(parse_tombstone) {
                Some(Some((owner, created_at)))
                    if owner == *space && created_at == item.created_at => {}
                Some(Some(_)) => {
                    return Err(keys::corrupt(
                        &keys::tombstone(&item.id),
                        Corruption::SpaceMismatch,
                    ));
                }
                Some(None) => {
                    let found = record.map_or(0, |r| r.len());
                    return Err(keys::corrupt(
                        &keys::tombstone(&item.id),
                        Corruption::Length {
                            expected: TOMBSTONE_LEN,
                            found,
                        },
                    ));
                }
                // Marked in the index but not yet recorded: cannot happen with atomic
                // batches; the index is what reconciliation reads, so keep it.
                None => {}
            }
            items.push(item);
        }
        Ok(items)
    }
}

impl Storage {
    /// The space of the post `id`, if its bytes were dropped for a retraction.
    pub fn retracted_from(&self, id: &PostId) -> Result<Option<SpaceId>, StorageError> {
        let key = keys::tombstone(id);
        match self.db.get(&key)? {
            Some(value) => match parse_tombstone(&value) {
                Some((space, _)) => Ok(Some(space)),
                None => Err(keys::corrupt(
                    &key,
                    Corruption::Length {
                        expected: TOMBSTONE_LEN,
                        found: value.len(),
                    },
                )),
            },
            None => Ok(None),
        }
    }
}

impl Storage {
    /// How many tombstones of `space` the store keeps (a pass over every tombstone, of
    /// every space: there are few).
    pub(super) fn tombstones_in(&self, space: &SpaceId) -> Result<u64, StorageError> {
        let mut count = 0;
        for entry in self.db.scan_prefix([keys::TOMBSTONE]) {
            let (key, value) = entry?;
            let (held_in, _) = parse_tombstone(&value).ok_or_else(|| {
                keys::corrupt(
                    &key,
                    Corruption::Length {
                        expected: TOMBSTONE_LEN,
                        found: value.len(),
                    },
                )
            })?;
            if held_in == *space {
                count += 1;
            }
        }
        Ok(count)
    }
}

/// Length of a tombstone record: space and `created_at`.
const TOMBSTONE_LEN: usize = 32 + 8;

fn tombstone_value(space: &SpaceId, created_at: Timestamp) -> Vec<u8> {
    let mut value = Vec::with_capacity(TOMBSTONE_LEN);
    value.extend_from_slice(space.as_bytes());
    value.extend_from_slice(&created_at.as_millis().to_be_bytes());
    value
}

fn parse_tombstone(value: &[u8]) -> Option<(SpaceId, Timestamp)> {
    if value.len() != TOMBSTONE_LEN {
        return None;
    }
    let space: [u8; 32] = value[..32].try_into().ok()?;
    let created_at: [u8; 8] = value[32..].try_into().ok()?;
    Some((
        SpaceId::from_bytes(space),
        Timestamp::from_millis(u64::from_be_bytes(created_at)),
    ))
}

#[cfg(test)]
mod tests {
    use parley_protocol::content::{Reply, Retraction, Thread};
    use parley_protocol::encoding::BoundedVec;
    use parley_protocol::view::SpaceView;
    use parley_protocol::{Content, NodeId, Post, SecretKey};

    use super::*;
    use crate::storage::Inserted;

    #[test]
    fn a_retracted_post_becomes_a_tombstone_that_stays_an_item() {
        let tmp = tempfile::tempdir().unwrap();
        let storage = crate::storage::testing::reopen(tmp.path());
        let now = Timestamp::from_millis(1_800_000_000_000);
        let ada = SecretKey::from_seed(&[1; 32]);
        let genesis = parley_protocol::content::Genesis {
            name: "ops".into(),
            description: String::new(),
            home_node: NodeId([9; 32]),
            nonce: [0; 16],
        };
        let genesis = Post::sign_genesis(&ada, now, genesis, now).unwrap();
        let space = genesis.space();
        let at = |ms| now.saturating_add_millis(ms);
        let root = thread_root(&ada, space, at(1), now);
        let reply = reply_to(&ada, &root, "oops", at(2), now);
        let retraction = Post::sign(
            &ada,
            space,
            at(3),
            Content::Retraction(Retraction { target: reply.id() }),
            now,
        )
        .unwrap();
        let reply_bytes = reply.bytes().to_vec();
        let posts = [genesis, root.clone(), reply.clone(), retraction.clone()];
        storage.insert(&posts).unwrap();
        assert_eq!(storage.spine_posts(&space).unwrap(), [posts[0].clone()]);
        let before = storage.items(&space).unwrap();
        let view = SpaceView::fold(space, posts.iter());

        let retracted = SpaceView::retracted(space, storage.space_posts(&space).unwrap().iter());
        assert_eq!(retracted, BTreeSet::from([reply.id()]));
        assert_eq!(
            storage
                .drop_retracted(&SpaceId::from_bytes([0; 32]), &retracted)
                .unwrap(),
            0
        );
        assert_eq!(storage.drop_retracted(&space, &retracted).unwrap(), 1);
        assert_eq!(storage.drop_retracted(&space, &retracted).unwrap(), 0);

        assert_eq!(storage.items(&space).unwrap(), before);
        assert_eq!(storage.tombstones(&space).unwrap(), [Item::from(&reply)]);
        assert!(storage.is_retracted(&reply.id()).unwrap() && storage.knows(&reply.id()).unwrap());
        assert!(!storage.contains(&reply.id()).unwrap());
        assert_eq!(storage.get(&reply.id()).unwrap(), None);
        assert_eq!(storage.count(&space).unwrap(), 3);
        assert_eq!(
            storage.insert(&[reply.clone(), reply]).unwrap(),
            [Inserted::Retracted; 2]
        );
        // The thread still reaches the retraction filed under the dropped reply.
        let thread: Vec<_> = storage
            .thread_posts(&space, &root.id())
            .unwrap()
            .iter()
            .map(Post::id)
            .collect();
        assert_eq!(thread, [root.id(), retraction.id()]);
        // The retracted bytes are gone from the log files.
        assert!(!log_holds(tmp.path(), reply_bytes.as_slice()));
        // Views are unchanged by dropping the bytes.
        assert_eq!(
            SpaceView::fold(space, storage.space_posts(&space).unwrap().iter()),
            view
        );
    }

    #[test]
    fn retractions_of_a_post_are_found_whether_or_not_thread_entries_name_their_kind() {
        let tmp = tempfile::tempdir().unwrap();
        let storage = crate::storage::testing::reopen(tmp.path());
        let now = Timestamp::from_millis(1_800_000_000_000);
        let ada = SecretKey::from_seed(&[1; 32]);
        let space = SpaceId::from_bytes([3; 32]);
        let at = |ms| now.saturating_add_millis(ms);
        let root = thread_root(&ada, space, at(1), now);
        let mut posts = vec![root.clone()];
        for n in 0..5 {
            posts.push(reply_to(&ada, &root, &format!("reply {n}"), at(2 + n), now));
        }
        let retract = |target: PostId, ms| {
            let content = Content::Retraction(Retraction { target });
            Post::sign(&ada, space, at(ms), content, now).unwrap()
        };
        let of_root = retract(root.id(), 10);
        let of_reply = retract(posts[1].id(), 11);
        posts.extend([of_root.clone(), of_reply]);
        storage.insert(&posts).unwrap();
        let found = |storage: &Storage| storage.retractions_of(&space, &root.id()).unwrap();
        assert_eq!(found(&storage), std::slice::from_ref(&of_root));
        // Entries a format-1 store migrated carry no kind: the envelopes tell.
        let filed: Vec<_> = storage
            .db
            .scan_prefix(keys::filed_under(&space, &root.id()))
            .map(|entry| entry.unwrap().0)
            .collect();
        assert_eq!(filed.len(), 6);
        for key in filed {
            storage.db.insert(key, &[]).unwrap();
        }
        assert_eq!(found(&storage), [of_root]);
    }

    fn thread_root(key: &SecretKey, space: SpaceId, at: Timestamp, now: Timestamp) -> Post {
        let thread = Content::Thread(Thread {
            title: "t".into(),
            body: "b".into(),
            mentions: BoundedVec::new(),
        });
        Post::sign(key, space, at, thread, now).unwrap()
    }

    fn reply_to(key: &SecretKey, root: &Post, body: &str, at: Timestamp, now: Timestamp) -> Post {
        let reply = Content::Reply(Reply {
            root: root.id(),
            parent: root.id(),
            body: body.into(),
            mentions: BoundedVec::new(),
        });
        Post::sign(key, root.space(), at, reply, now).unwrap()
    }

    /// Whether any segment of the store in `dir` contains `bytes`.
    fn log_holds(dir: &std::path::Path, bytes: &[u8]) -> bool {
        std::fs::read_dir(dir.join("log")).unwrap().any(|entry| {
            let content = std::fs::read(entry.unwrap().path()).unwrap();
            content.windows(bytes.len()).any(|w| w == bytes)
        })
    }

    #[test]
    fn an_erase_a_crash_interrupted_is_finished_when_the_store_opens() {
        let tmp = tempfile::tempdir().unwrap();
        let now = Timestamp::from_millis(1_800_000_000_000);
        let ada = SecretKey::from_seed(&[1; 32]);
        let thread = Content::Thread(Thread {
            title: "to be withdrawn".into(),
            body: "a secret".into(),
            mentions: BoundedVec::new(),
        });
        let post = Post::sign(&ada, SpaceId::from_bytes([3; 32]), now, thread, now).unwrap();
        {
            let storage = crate::storage::testing::reopen(tmp.path());
            storage.insert(std::slice::from_ref(&post)).unwrap();
            // What `drop_retracted` makes durable before erasing: the index entry gone
            // and the note to erase; then the crash.
            let pointer = storage.pointer(&post.id()).unwrap().unwrap();
            let mut batch = sled::Batch::default();
            batch.remove(keys::post(&post.id()));
            batch.insert(keys::erase(&pointer.encode()), &[]);
            storage.db.apply_batch(batch).unwrap();
            storage.flush().unwrap();
        }
        assert!(log_holds(tmp.path(), post.bytes()));
        let storage = crate::storage::testing::reopen(tmp.path());
        assert!(!log_holds(tmp.path(), post.bytes()));
        assert_eq!(storage.db.scan_prefix([keys::ERASE]).count(), 0);
    }
}
