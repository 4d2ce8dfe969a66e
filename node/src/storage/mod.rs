//! The node's store: posts, their indexes, tombstones, space state, users, invites, read
//! cursors and peers: envelopes in an append-only log, everything else in one sled
//! database. This module is the only one that names sled or touches the store's files.
//!
//! # Guarantees
//!
//! - A post and all its index entries are written by one atomic sled batch: after a
//!   crash either all of them are there or none is.
//! - A post is acknowledged only after a flush (fsync) that covers it: go through the
//!   [`Committer`], which groups concurrent requests so that one flush covers many
//!   posts. [`Storage::insert`] alone does not flush; sled writes unflushed data within
//!   500 ms on its own, but nothing should be promised before a flush.
//! - Storing is idempotent: a post stored again is reported [`Inserted::Duplicate`] and
//!   not rewritten; a post whose bytes were dropped for a retraction is refused as
//!   [`Inserted::Retracted`].
//! - Users, invites, peers and space state are flushed before their calls return (they
//!   are rare); read cursors are not (losing a mark is harmless).
//! - Opening refuses, with a [`StorageError`] a person can act on, a path that is not a
//!   directory, a directory of other files, a sled database that is not Parley's, a
//!   store of a newer format, a store another process holds, and a damaged database.
//!   A record that does not decode is [`StorageError::Corrupt`] naming its key; nothing
//!   read from disk can make this module panic (sled itself is guarded at open).
//!
//! # Layout (format version 2)
//!
//! The store's directory holds `index/`, a sled database of small records, and `log/`,
//! the envelopes appended to segment files (the `log` module documents their bytes).
//! An envelope is written to the log and synced before any index entry points at it.
//! A format-1 store (envelopes inside sled) is migrated when opened.
//!
//! The index is one sled tree (the default one) with keys that start with a tag byte;
//! every field after it has a fixed width, so prefixes scan exactly one space, thread
//! or user. Ids are their 32 raw bytes; times are milliseconds as `u64` big-endian, so
//! keys sort by time. `KEY` columns name the fields in order.
//!
//! | key | value | what |
//! | --- | --- | --- |
//! | `m` | `parley/node-store` then `u32` BE version | format record |
//! | `p id` | log pointer: segment `u32`, offset `u64`, length `u32` (BE) | posts held in full |
//! | `i space created_at id` | empty, or `x` for a tombstone | reconciliation items, in order |
//! | `I space level created_at id` | count `u64` BE, then the ids' sum (32 bytes LE) | sums of runs (level 1) and groups (level 2) of items, from this key to the next (see the `sums` module) |
//! | `S` | `u32` BE | the sums' layout version |
//! | `t space anchor created_at id` | the post's kind tag, one byte (empty if migrated from format 1) | thread index (see below) |
//! | `g space id` | empty | the space's genesis post |
//! | `k space created_at id` | empty | the spine: posts deciding membership, replicas and display names (kept when retracted) |
//! | `a id` | kind tag, space, `created_at`, anchor | what each post hangs below (read model) |
//! | `d space root` | token: the id of the post that marked it | threads to fold again (read model) |
//! | `z space` | `created_at id` | threads with posts from this point on to fold again (read model) |
//! | `h space root` | fold sequence number, then the line (see the `line` module) | thread-list lines (read model) |
//! | `l space !last_activity root` | empty | the thread list's order (read model) |
//! | `j space !decided_at !resolve` | root | the decision log's order (read model) |
//! | `c space` | `u64` BE | threads shown (read model) |
//! | `M` | `u32` BE | the read model's version (see the `readmodel` module) |
//! | `o space seq root` | empty | shown threads in the order they were last folded (see the `unread` module) |
//! | `y user space` | `u64` BE | the last fold a user's unread count looked at |
//! | `f user space root` | empty | threads with posts a user had not read at the last count |
//! | `w user space` | log position: segment `u32`, offset `u64` (BE) | everything stored before it is read by the user (see the `cursors` module) |
//! | `E space root` | fold sequence number `u64` BE | threads whose search documents the search index has not committed (see the `search` module) |
//! | `B` | `space root`, or empty when done | where rebuilding the search index's marks has got to |
//! | `x id` | `space created_at` (40 bytes) | tombstones: retracted, bytes dropped |
//! | `e pointer` | empty | log records still to be erased (a retraction's bytes) |
//! | `s space` | JSON [`SpaceState`] | members, moderators, replicas, name |
//! | `u user` | JSON `{"joined_at": ms}` | registered users |
//! | `v blake3(token)` | JSON `{"uses_left": n, "expires_at": ms or null}` | invites |
//! | `r user space id` | empty | read cursors |
//! | `n node` | JSON `{"address": "NODE_ID@HOST:PORT"}` | peer nodes |
//! | `q id` | JSON [`Quarantined`] | posts whose record was found damaged, not held until stored again |
//!
//! The thread index files each post under its *anchor*, the post its content points
//! at: a reply under its thread's root, an edit, retraction or reaction under its
//! target, a resolve or reopen under its thread. A thread is then its root and
//! everything reachable from it through anchors ([`Storage::thread_posts`]), which
//! needs no lookup when a post is stored, whatever order posts arrive in. Entries stay
//! when a post becomes a tombstone, so what hangs below it is still found.
//!
//! JSON records keep ids in their text form (`usr1…`, `nod1…`) so a person can read
//! them with any sled tool; envelope bytes are stored as they travel (no re-encoding).

mod cache;
mod commit;
mod cursors;
mod disk;
mod error;
mod format;
mod keys;
mod line;
mod log;
mod migrate;
mod peers;
mod posts;
mod prefix;
mod quarantine;
mod readmodel;
mod rebuild;
mod reconcile;
mod record;
mod search;
mod state;
mod sums;
mod tombstone;
mod unread;
mod users;

#[cfg(test)]
pub(crate) mod testing;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockWriteGuard};

use parley_protocol::SpaceId;

pub use cache::DEFAULT_POST_CACHE_BYTES;
pub use commit::{CommitHandle, Committer, MAX_GROUP_BYTES, MAX_GROUP_POSTS};
pub use disk::DEFAULT_MIN_FREE_BYTES;
pub use error::{Corruption, InviteError, StorageError};
pub use format::{FORMAT_VERSION, SEARCH_DIR};
pub use log::SEGMENT_BYTES;
pub use posts::Inserted;
pub use prefix::{Candidates, MAX_PREFIX_SCAN};
pub use quarantine::{Quarantined, Scrubbed};
pub use readmodel::{Folded, Page, PageLimits};
pub use rebuild::Rebuilt;
pub use reconcile::{ItemsHeld, SpaceItems};
pub use search::SearchMark;
pub use state::SpaceState;
pub use users::RegisteredUser;

/// Counters of the items' state (see `Storage::items_generation`).
const GENERATION_SLOTS: usize = 64;

/// The counter of `space`'s items.
fn generation_slot(space: &SpaceId) -> usize {
    usize::from(space.as_bytes()[0]) % GENERATION_SLOTS
}

/// The page cache sled is given by default (`[storage] index_cache_mb`). sled's default
/// is 1 GiB; its pages take about three times their size on disk once read, and at a
/// million posts a 64 MiB cache held ~130 MB more than a 16 MiB one for no faster reads.
pub const DEFAULT_INDEX_CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// How a store is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenOptions {
    /// Bytes of sled's page cache.
    pub index_cache_bytes: u64,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            index_cache_bytes: DEFAULT_INDEX_CACHE_BYTES,
        }
    }
}

/// An open store. Cloning is cheap and shares the database.
#[derive(Clone)]
pub struct Storage {
    db: sled::Db,
    log: Arc<log::Log>,
    path: Arc<PathBuf>,
    /// Serializes writers of posts and tombstones, so that checking what is stored and
    /// writing the batch happen as one step; held shared while a reconciliation reads
    /// the items (see [`Storage::hold_items`]).
    writer: Arc<RwLock<()>>,
    /// Changes whenever a space's items or their sums change, so that what was read of
    /// them is known to be current: one counter per slot of spaces (a space's slot is
    /// its id's first byte, modulo [`GENERATION_SLOTS`]).
    items_generation: Arc<[AtomicU64; GENERATION_SLOTS]>,
    /// What was recovered when this opening rebuilt a lost index from the log.
    rebuilt: Option<Arc<Rebuilt>>,
    /// Bytes kept free on the store's filesystem (see the `disk` module).
    min_free: Arc<AtomicU64>,
    /// Posts read back recently (see the `cache` module).
    posts: Arc<cache::PostCache>,
    /// Runs of items read back for reconciliation (see the `reconcile` module).
    runs: Arc<reconcile::RunCache>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Storage {
    /// Opens the store in `dir`, creating it when `dir` is missing or empty.
    ///
    /// Refuses, with the variant saying why, anything that is not a Parley store this
    /// build can read; see the module documentation.
    pub fn open(dir: &Path) -> Result<Self, StorageError> {
        Self::open_with(dir, OpenOptions::default())
    }

    /// [`Storage::open`] with `options`.
    pub fn open_with(dir: &Path, options: OpenOptions) -> Result<Self, StorageError> {
        let (db, log, rebuilt) = format::open(dir, options.index_cache_bytes)?;
        let storage = Self {
            db,
            log: Arc::new(log),
            path: Arc::new(dir.to_path_buf()),
            writer: Arc::new(RwLock::new(())),
            items_generation: Arc::new(std::array::from_fn(|_| AtomicU64::new(0))),
            rebuilt: rebuilt.map(Arc::new),
            min_free: Arc::new(AtomicU64::new(DEFAULT_MIN_FREE_BYTES)),
            posts: Arc::new(cache::PostCache::new(DEFAULT_POST_CACHE_BYTES)),
            runs: Arc::new(reconcile::RunCache::new(reconcile::RUN_CACHE_BYTES)),
        };
        storage.finish_erasing()?;
        if let Some(rebuilt) = &storage.rebuilt {
            storage.retract_again(&rebuilt.retractions)?;
        }
        if let Some(summed) = storage.build_sums()? {
            tracing::info!(items = summed, "summed the reconciliation items");
        }
        if let Some(filed) = storage.build_read_model()? {
            tracing::info!(
                posts = filed,
                "built the read model: threads are folded again in the background"
            );
        }
        Ok(storage)
    }

    /// What this opening recovered, when it rebuilt a lost index from the log (the
    /// caller should tell the node's admin [`Rebuilt::what_was_lost`]).
    pub fn rebuilt(&self) -> Option<&Rebuilt> {
        self.rebuilt.as_deref()
    }

    /// Sets how many bytes of posts read back are kept in memory (`[storage]
    /// post_cache_mb`); 0 keeps none. What was cached is forgotten.
    pub fn set_post_cache_bytes(&self, bytes: u64) {
        self.posts.resize(bytes);
    }

    /// The directory the store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes everything stored so far to disk (fsync) and returns when it is durable.
    /// (Envelopes are durable in the log already: [`Storage::insert`] syncs it.)
    pub fn flush(&self) -> Result<(), StorageError> {
        self.db.flush()?;
        Ok(())
    }

    /// Bytes the store's files take on disk.
    pub fn size_on_disk(&self) -> Result<u64, StorageError> {
        Ok(self.db.size_on_disk()? + self.log.size_on_disk()?)
    }

    /// Takes the writer lock. A panic while it was held cannot leave a half-written
    /// batch (batches are atomic), so a poisoned lock is simply taken over.
    fn lock_writer(&self) -> RwLockWriteGuard<'_, ()> {
        self.writer.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps every space's items as they are while the guard lives (posts are stored
    /// once it is dropped): hold it across each step of a reconciliation, which reads
    /// the items through a [`SpaceItems`] and must see one state of them.
    pub fn hold_items(&self) -> ItemsHeld<'_> {
        ItemsHeld::new(self.writer.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// The current state of the items of `space`: it changes with every batch that adds
    /// or removes items of the space (or of another space of its slot).
    fn items_generation(&self, space: &SpaceId) -> u64 {
        self.items_generation[generation_slot(space)].load(Ordering::Acquire)
    }

    /// Notes that items of `space` changed (call after their batch, under the writer
    /// lock).
    fn items_changed(&self, space: &SpaceId) {
        self.items_generation[generation_slot(space)].fetch_add(1, Ordering::AcqRel);
    }
}
