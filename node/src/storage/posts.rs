//! Posts and their indexes: storing a group atomically, and reading posts back by id,
//! by space, by thread.

use std::collections::{BTreeMap, BTreeSet};

use parley_protocol::envelope::peek_header;
use parley_protocol::sync::Item;
use parley_protocol::validate::InvalidPost;
use parley_protocol::{Content, Post, PostId, SpaceId};

use super::error::{Corruption, StorageError};
use super::log::Pointer;
use super::quarantine::is_damage;
use super::readmodel::{Up, files_in_spine};
use super::sums::SumChanges;
use super::{Storage, keys};

/// An envelope's bytes up to and including its space (version and space id, spec
/// 4.1): what [`Storage::held_in`] reads of a stored post.
const SPACE_HEADER_BYTES: usize = 1 + 32;

/// What storing one post did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Inserted {
    /// The post is new and now stored with its index entries.
    New,
    /// The post was stored already (or earlier in the same group); nothing was written.
    Duplicate,
    /// The post was retracted and its bytes dropped; it is refused for good.
    Retracted,
}

impl Storage {
    /// Stores `posts` and all their index entries in one atomic batch and reports, in
    /// order, what happened to each. Does not flush: use the [`super::Committer`] to
    /// acknowledge posts durably.
    pub fn insert(&self, posts: &[Post]) -> Result<Vec<Inserted>, StorageError> {
        let _writer = self.lock_writer();
        let mut seen: BTreeMap<PostId, Inserted> = BTreeMap::new();
        let mut fresh: Vec<&Post> = Vec::new();
        let mut outcomes = Vec::with_capacity(posts.len());
        for post in posts {
            let id = post.id();
            let outcome = match seen.get(&id) {
                Some(Inserted::Retracted) => Inserted::Retracted,
                Some(_) => Inserted::Duplicate,
                None if self.db.contains_key(keys::tombstone(&id))? => Inserted::Retracted,
                None if self.db.contains_key(keys::post(&id))? => Inserted::Duplicate,
                None => {
                    fresh.push(post);
                    Inserted::New
                }
            };
            seen.insert(id, outcome);
            outcomes.push(outcome);
        }
        if fresh.is_empty() {
            return Ok(outcomes);
        }
        // Never into the last bytes of the disk: refused whole, nothing written.
        self.check_room(fresh.iter().map(|p| p.bytes().len() as u64).sum())?;
        // The envelopes are durable in the log before any index entry points at them.
        let records: Vec<(PostId, &[u8])> = fresh.iter().map(|p| (p.id(), p.bytes())).collect();
        let pointers = self.log.append(&records)?;
        let mut batch = sled::Batch::default();
        let mut sums = SumChanges::default();
        for (post, pointer) in fresh.iter().zip(pointers) {
            write_post(&mut batch, post, pointer);
            self.note_item(&mut sums, &post.space(), &Item::from(*post), true)?;
        }
        sums.write(&mut batch);
        self.note_new_posts(&mut batch, &fresh)?;
        self.db.apply_batch(batch)?;
        let spaces: BTreeSet<SpaceId> = fresh.iter().map(|post| post.space()).collect();
        spaces.iter().for_each(|space| self.items_changed(space));
        self.split_grown(&sums)?;
        spaces.iter().for_each(|space| self.items_changed(space));
        // Folding their threads reads them back at once.
        fresh.iter().for_each(|post| self.posts.insert(post));
        Ok(outcomes)
    }

    /// The post `id`, if held in full. Its bytes must still hash to `id` and decode
    /// ([`Post::decode_verified`]); its signature was verified when it was stored, and
    /// no clock is involved (a post stored earlier is never refused for its date).
    pub fn get(&self, id: &PostId) -> Result<Option<Post>, StorageError> {
        if let Some(post) = self.posts.get(id) {
            return Ok(Some(post));
        }
        match self.envelope(id)? {
            Some(bytes) => {
                let post = decode_stored(id, &bytes)?;
                self.posts.insert(&post);
                // Dropped for a retraction meanwhile (which empties the cache of it
                // after its batch): not cached after all.
                if !self.db.contains_key(keys::post(id))? {
                    self.posts.remove(id);
                }
                Ok(Some(post))
            }
            None => Ok(None),
        }
    }

    /// The stored envelope bytes of the post `id`, if held in full, without validating
    /// them again (they were validated when stored): what a node sends its peers.
    /// The bytes are checked to hash to `id` (a damaged log record is
    /// [`StorageError::Corrupt`]).
    ///
    /// A damaged record costs that post only: it is quarantined (see the `quarantine`
    /// module) and reported as not held.
    pub fn envelope(&self, id: &PostId) -> Result<Option<Vec<u8>>, StorageError> {
        let pointer = match self.pointer(id) {
            Ok(Some(pointer)) => pointer,
            Ok(None) => return Ok(None),
            Err(error) if is_damage(&error) => {
                self.quarantine(id, None, &error)?;
                return Ok(None);
            }
            Err(error) => return Err(error),
        };
        match self.log.read(pointer, id, &keys::name(&keys::post(id))) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(error) if is_damage(&error) => {
                self.quarantine(id, Some(pointer), &error)?;
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    /// Where the envelope bytes of the post `id` lie on disk, if it is held in full: the
    /// segment file, the offset of the bytes in it and their length. For tools and
    /// tests that inspect (or damage) records.
    pub fn envelope_location(
        &self,
        id: &PostId,
    ) -> Result<Option<(std::path::PathBuf, u64, u32)>, StorageError> {
        Ok(self.pointer(id)?.map(|pointer| {
            (
                self.log.segment_path(pointer.segment),
                pointer.offset + super::log::RECORD_HEAD as u64,
                pointer.len,
            )
        }))
    }

    /// Where the envelope of the post `id` is in the log, if it is held in full.
    pub(super) fn pointer(&self, id: &PostId) -> Result<Option<Pointer>, StorageError> {
        let key = keys::post(id);
        match self.db.get(&key)? {
            Some(value) => Pointer::decode(&value).map(Some).ok_or_else(|| {
                keys::corrupt(
                    &key,
                    Corruption::Length {
                        expected: Pointer::LEN,
                        found: value.len(),
                    },
                )
            }),
            None => Ok(None),
        }
    }

    /// Whether the post `id` is held in full.
    pub fn contains(&self, id: &PostId) -> Result<bool, StorageError> {
        Ok(self.db.contains_key(keys::post(id))?)
    }

    /// Whether the post `id` is held in full or as a tombstone: either way a peer need
    /// not send it.
    pub fn knows(&self, id: &PostId) -> Result<bool, StorageError> {
        Ok(self.contains(id)? || self.is_retracted(id)?)
    }

    /// The space the post `id` is held in, in full or as a tombstone; `None` when it is
    /// not held at all. What decides whether a peer's id of some space is news here.
    /// Reads the stored envelope's header only (it was validated when stored).
    pub fn held_in(&self, id: &PostId) -> Result<Option<SpaceId>, StorageError> {
        if let Some(space) = self.tombstone_space(id)? {
            return Ok(Some(space));
        }
        let pointer = match self.pointer(id) {
            Ok(pointer) => pointer,
            // A damaged index entry: not held (reading the post quarantines it).
            Err(error) if is_damage(&error) => None,
            Err(error) => return Err(error),
        };
        Ok(pointer
            .and_then(|pointer| self.log.read_prefix(pointer, SPACE_HEADER_BYTES))
            .and_then(|header| parley_protocol::envelope::peek_space(&header)))
    }

    /// Every item of `space`, posts and tombstones, in `(created_at, id)` order: what
    /// reconciliation runs over.
    pub fn items(&self, space: &SpaceId) -> Result<Vec<Item>, StorageError> {
        let mut items = Vec::new();
        for entry in self.db.scan_prefix(keys::items_of(space)) {
            let (key, _) = entry?;
            items.push(keys::parse_item(&key)?.1);
        }
        Ok(items)
    }

    /// Every post of `space` held in full, in `(created_at, id)` order, each validated
    /// again (a record that no longer validates is [`StorageError::Corrupt`]).
    pub fn space_posts(&self, space: &SpaceId) -> Result<Vec<Post>, StorageError> {
        let mut posts = Vec::new();
        for entry in self.db.scan_prefix(keys::items_of(space)) {
            let (key, value) = entry?;
            if !value.is_empty() {
                continue; // a tombstone
            }
            let (_, item) = keys::parse_item(&key)?;
            // A post dropped for a retraction between the two reads is skipped.
            if let Some(post) = self.get(&item.id)? {
                posts.push(post);
            }
        }
        Ok(posts)
    }

    /// The spine of `space` (spec 6.16): the posts that decide its membership,
    /// replicas and display names (genesis, members, moderators, replicas, profiles and
    /// retractions of profiles) held in full, in `(created_at, id)` order, validated
    /// again. Read through their own index, so a node starts in time proportional to
    /// them, whatever else its spaces hold.
    pub fn spine_posts(&self, space: &SpaceId) -> Result<Vec<Post>, StorageError> {
        let mut posts = Vec::new();
        for entry in self.db.scan_prefix(keys::governance_of(space)) {
            let (key, _) = entry?;
            let id = keys::trailing_id(&key, keys::GOVERNANCE_LEN)?;
            // A post dropped for a retraction is skipped.
            if let Some(post) = self.get(&id)? {
                posts.push(post);
            }
        }
        Ok(posts)
    }

    /// How many posts of `space` are held in full: its items, counted by their sums
    /// (a few records per 16,384 items), less its tombstones.
    pub fn count(&self, space: &SpaceId) -> Result<u64, StorageError> {
        let items = self.item_total(space)?;
        Ok(items.saturating_sub(self.tombstones_in(space)?))
    }

    /// The thread rooted at `root` as stored: the root and every post reachable from it
    /// through the thread index (replies, edits, reactions, retractions, resolves and
    /// reopens, and posts about those), held in full, in `(created_at, id)` order.
    pub fn thread_posts(&self, space: &SpaceId, root: &PostId) -> Result<Vec<Post>, StorageError> {
        let mut found = BTreeSet::from([*root]);
        let mut frontier = vec![*root];
        while let Some(anchor) = frontier.pop() {
            for entry in self.db.scan_prefix(keys::filed_under(space, &anchor)) {
                let (key, _) = entry?;
                let id = keys::trailing_id(&key, keys::THREAD_LEN)?;
                if found.insert(id) {
                    frontier.push(id);
                }
            }
        }
        let mut posts = Vec::with_capacity(found.len());
        for id in &found {
            if let Some(post) = self.get(id)?
                && post.space() == *space
            {
                posts.push(post);
            }
        }
        posts.sort_by_key(Post::sort_key);
        Ok(posts)
    }

    /// The reactions of `space` to `target` held in full, in `(created_at, id)` order.
    /// Only entries the thread index records as reactions are read (and entries of a
    /// migrated format-1 store, which record no kind).
    pub fn reactions_to(
        &self,
        space: &SpaceId,
        target: &PostId,
    ) -> Result<Vec<Post>, StorageError> {
        let mut posts = Vec::new();
        for entry in self.db.scan_prefix(keys::filed_under(space, target)) {
            let (key, value) = entry?;
            if thread_entry_tag(&value).is_some_and(|tag| tag != super::readmodel::REACTION) {
                continue;
            }
            let id = keys::trailing_id(&key, keys::THREAD_LEN)?;
            if let Some(post) = self.get(&id)?
                && post.space() == *space
            {
                posts.push(post);
            }
        }
        Ok(posts)
    }

    /// The spaces with at least one item (post or tombstone), in id order.
    pub fn spaces(&self) -> Result<Vec<SpaceId>, StorageError> {
        let mut spaces = Vec::new();
        let mut from = vec![keys::ITEM];
        while let Some(entry) = self.db.range(from.as_slice()..).next() {
            let (key, _) = entry?;
            if key.first() != Some(&keys::ITEM) {
                break;
            }
            let (space, _) = keys::parse_item(&key)?;
            spaces.push(space);
            match keys::after_prefix(&keys::items_of(&space)) {
                Some(next) => from = next,
                None => break,
            }
        }
        Ok(spaces)
    }

    /// The genesis post of `space`, if held.
    pub fn genesis(&self, space: &SpaceId) -> Result<Option<Post>, StorageError> {
        for entry in self.db.scan_prefix(keys::genesis_of(space)) {
            let (key, _) = entry?;
            let id = keys::trailing_id(&key, keys::GENESIS_LEN)?;
            if let Some(post) = self.get(&id)? {
                return Ok(Some(post));
            }
        }
        Ok(None)
    }

    /// The space's name: from its stored [`super::SpaceState`], else from its genesis.
    pub fn space_name(&self, space: &SpaceId) -> Result<Option<String>, StorageError> {
        if let Some(state) = self.space_state(space)? {
            return Ok(Some(state.name));
        }
        Ok(self.genesis(space)?.and_then(|post| match post.content() {
            Content::Genesis(genesis) => Some(genesis.name.clone()),
            _ => None,
        }))
    }
}

/// The post a post's content files it under in the thread index (see the module
/// documentation): none for posts outside threads.
pub(super) use parley_protocol::view::anchor;

/// The value of a post's thread index entry: its kind tag in one byte, so a scan of
/// what is filed under a post can pick out one kind without reading envelopes.
fn thread_value(post: &Post) -> Vec<u8> {
    u8::try_from(post.content().tag()).map_or_else(|_| Vec::new(), |tag| vec![tag])
}

/// The kind tag a thread index entry's value records: `None` when it records none
/// (entries migrated from format 1 are empty; the envelope tells).
pub(super) fn thread_entry_tag(value: &[u8]) -> Option<u32> {
    match value {
        [tag] => Some(u32::from(*tag)),
        _ => None,
    }
}

/// The kind tag of stored envelope bytes, read without decoding.
pub(super) fn kind_tag(bytes: &[u8]) -> Option<u32> {
    peek_header(bytes).map(|(_, tag)| tag)
}

/// Decodes a stored envelope, checking it still validates and hashes to its key.
///
/// Its signature was verified when it was stored; the bytes must still hash to the id
/// they were kept under (so they are those very bytes) and decode canonically
/// ([`Post::decode_verified`]). The clock does not matter: a post stored earlier is
/// never refused for being dated ahead of it.
pub(super) fn decode_stored(id: &PostId, bytes: &[u8]) -> Result<Post, StorageError> {
    Post::decode_verified(bytes, id).map_err(|error| {
        let problem = match error {
            InvalidPost::IdMismatch { computed, .. } => Corruption::IdMismatch { computed },
            error => Corruption::Envelope(error),
        };
        keys::corrupt(&keys::post(id), problem)
    })
}

/// Writes the index entries of a new post, whose envelope is at `pointer` in the log,
/// into `batch`.
pub(super) fn write_post(batch: &mut sled::Batch, post: &Post, pointer: Pointer) {
    let space = post.space();
    let item = Item::from(post);
    batch.insert(keys::post(&item.id), &pointer.encode());
    // Stored again after its record was found damaged: no longer missing.
    batch.remove(keys::quarantine(&item.id));
    batch.insert(keys::item(&space, &item), &[]);
    if let Some(anchor) = anchor(post.content()) {
        batch.insert(keys::thread(&space, &anchor, &item), thread_value(post));
    }
    if matches!(post.content(), Content::Genesis(_)) {
        batch.insert(keys::genesis(&space, &item.id), &[]);
    }
    if files_in_spine(post.content().tag()) {
        batch.insert(keys::governance(&space, &item), &[]);
    }
    batch.insert(keys::up(&item.id), Up::of(post).encode());
}

#[cfg(test)]
mod tests {
    use parley_protocol::content::{Reaction, Reply, Retraction, Thread};
    use parley_protocol::encoding::BoundedVec;
    use parley_protocol::{SecretKey, Timestamp};

    use super::*;

    const NOW: u64 = 1_800_000_000_000;

    fn post(key: u8, space: u8, at: u64, content: Content) -> Post {
        let now = Timestamp::from_millis(NOW);
        let key = SecretKey::from_seed(&[key; 32]);
        Post::sign(
            &key,
            SpaceId::from_bytes([space; 32]),
            Timestamp::from_millis(at),
            content,
            now,
        )
        .unwrap()
    }

    fn thread(title: &str) -> Content {
        Content::Thread(Thread {
            title: title.into(),
            body: String::new(),
            mentions: BoundedVec::new(),
        })
    }

    fn reply(root: PostId, parent: PostId) -> Content {
        Content::Reply(Reply {
            root,
            parent,
            body: "re".into(),
            mentions: BoundedVec::new(),
        })
    }

    #[test]
    fn a_group_is_stored_once_and_read_back_by_space_and_thread() {
        let tmp = tempfile::tempdir().unwrap();
        let storage = crate::storage::testing::reopen(tmp.path());
        let root = post(1, 1, NOW - 50, thread("root"));
        let r1 = post(2, 1, NOW - 40, reply(root.id(), root.id()));
        let r2 = post(1, 1, NOW - 30, reply(root.id(), r1.id()));
        let like = post(
            3,
            1,
            NOW - 20,
            Content::Reaction(Reaction {
                target: r1.id(),
                reaction: "+1".into(),
            }),
        );
        let unlike = post(
            3,
            1,
            NOW - 10,
            Content::Retraction(Retraction { target: like.id() }),
        );
        let other = post(1, 1, NOW - 45, thread("other"));
        let elsewhere = post(1, 2, NOW - 60, thread("elsewhere"));
        // Out of order, with a repeat inside the group.
        let group = [
            unlike.clone(),
            r2.clone(),
            root.clone(),
            like.clone(),
            r1.clone(),
            other.clone(),
            elsewhere.clone(),
            r1.clone(),
        ];
        let outcomes = storage.insert(&group).unwrap();
        assert_eq!(&outcomes[..7], &[Inserted::New; 7]);
        assert_eq!(outcomes[7], Inserted::Duplicate);
        assert_eq!(
            storage.insert(std::slice::from_ref(&root)).unwrap(),
            [Inserted::Duplicate]
        );

        let space = root.space();
        let ids = |posts: Vec<Post>| posts.iter().map(Post::id).collect::<Vec<_>>();
        assert_eq!(
            ids(storage.thread_posts(&space, &root.id()).unwrap()),
            [root.id(), r1.id(), r2.id(), like.id(), unlike.id()]
        );
        assert_eq!(
            ids(storage.thread_posts(&space, &other.id()).unwrap()),
            [other.id()]
        );
        assert_eq!(
            ids(storage.space_posts(&space).unwrap()),
            [
                root.id(),
                other.id(),
                r1.id(),
                r2.id(),
                like.id(),
                unlike.id()
            ]
        );
        assert_eq!(storage.items(&space).unwrap().len(), 6);
        assert_eq!(storage.count(&space).unwrap(), 6);
        assert_eq!(storage.spaces().unwrap(), [space, elsewhere.space()]);
        assert_eq!(storage.get(&r2.id()).unwrap(), Some(r2.clone()));
        assert!(storage.contains(&like.id()).unwrap());
        assert!(!storage.contains(&PostId::from_bytes([0; 32])).unwrap());
    }

    #[test]
    fn a_damaged_envelope_is_quarantined_naming_its_key() {
        let tmp = tempfile::tempdir().unwrap();
        let storage = crate::storage::testing::reopen(tmp.path());
        // Damage is found on the disk, not in the cache of posts read back.
        storage.set_post_cache_bytes(0);
        let p = post(1, 1, NOW, thread("t"));
        let q = post(1, 1, NOW, thread("q"));
        storage.insert(std::slice::from_ref(&q)).unwrap();
        storage.insert(std::slice::from_ref(&p)).unwrap();
        // A flipped byte in the log record of `p`, the last one written.
        let segment = std::fs::read_dir(tmp.path().join("log"))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .min()
            .unwrap();
        let mut bytes = std::fs::read(&segment).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&segment, bytes).unwrap();
        // The space reads without `p`, which is quarantined with the reason.
        let read = storage.space_posts(&p.space()).unwrap();
        assert_eq!(read, std::slice::from_ref(&q));
        let quarantined = storage.quarantined().unwrap();
        assert_eq!(quarantined.len(), 1);
        assert_eq!(quarantined[0].id, p.id());
        assert!(
            quarantined[0].problem.starts_with(&format!(
                "stored record p/{} is corrupt",
                hex::encode(p.id().as_bytes())
            )),
            "{}",
            quarantined[0].problem
        );
        // An index entry pointing at another post's record: not returned.
        storage.insert(std::slice::from_ref(&p)).unwrap();
        let elsewhere = storage.db.get(keys::post(&q.id())).unwrap().unwrap();
        storage.db.insert(keys::post(&p.id()), elsewhere).unwrap();
        assert_eq!(storage.get(&p.id()).unwrap(), None);
        // An index entry that is not a pointer.
        storage.db.insert(keys::post(&p.id()), p.bytes()).unwrap();
        assert_eq!(storage.envelope(&p.id()).unwrap(), None);
        assert!(
            storage.quarantined().unwrap()[0]
                .problem
                .contains("expected 16 bytes"),
            "{:?}",
            storage.quarantined().unwrap()
        );
    }

    #[test]
    fn records_a_crash_left_without_index_entries_are_never_read() {
        let tmp = tempfile::tempdir().unwrap();
        let kept = post(1, 1, NOW - 2, thread("kept"));
        let orphan = post(1, 1, NOW - 1, thread("orphan"));
        {
            let storage = crate::storage::testing::reopen(tmp.path());
            storage.insert(std::slice::from_ref(&kept)).unwrap();
            storage.flush().unwrap();
            // A crash after the log was synced and before the index batch: the record
            // is there, nothing points at it. Then a torn write at the segment's end.
            storage
                .log
                .append(&[(orphan.id(), orphan.bytes())])
                .unwrap();
        }
        let segment = tmp.path().join("log").join("00000001.seg");
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&segment)
            .unwrap();
        std::io::Write::write_all(&mut file, &[0x42; 100]).unwrap();
        drop(file);

        let storage = crate::storage::testing::reopen(tmp.path());
        assert_eq!(storage.get(&orphan.id()).unwrap(), None);
        assert_eq!(storage.items(&orphan.space()).unwrap().len(), 1);
        // The post arrives again and is stored anew, in a new segment.
        assert_eq!(
            storage.insert(std::slice::from_ref(&orphan)).unwrap(),
            [Inserted::New]
        );
        assert_eq!(storage.pointer(&orphan.id()).unwrap().unwrap().segment, 2);
        assert_eq!(storage.get(&orphan.id()).unwrap(), Some(orphan));
        assert_eq!(storage.get(&kept.id()).unwrap(), Some(kept));
    }
}
