//! The read model (spec 6.16): each space's thread-list lines and decision log kept in
//! the store, so that no read folds a whole space.
//!
//! Storing a post costs a few index lookups, whatever order posts arrive in. Its batch
//! files the post under what it hangs below (`a id`). It also marks the thread the post
//! lands in for folding again (`d space root`). The mark's value is the post's id, a
//! token: a refold clears the mark only if no later post set it again meanwhile. A
//! membership change dated before posts already held marks the space stale from its
//! sort key on (`z space`), because it can change which of those posts count. The node
//! folds marked threads again, in the background and before any read of their space,
//! and writes each thread's line back with [`Storage::store_lines`].
//!
//! Lines (`h space root`, JSON [`ThreadSummary`] without the author's display name,
//! which the reader adds from the spine) are ordered for the thread list by
//! `l space !last_activity root`. Resolved threads are also ordered for the decision
//! log by `j space !decided_at !resolve`. `c space` counts the lines. A page is a
//! range scan from a cursor, in time proportional to the page.
//!
//! A store without the model, or with an older one, builds it when opened: every held
//! post is filed, profiles and their retractions join the spine, and every thread is
//! marked. The build writes the same records however often it is started, and records
//! its version last, so a crash midway only means that it runs again.

use std::collections::BTreeMap;

use parley_protocol::api::{DecisionCursor, ThreadCursor, ThreadFilter};
use parley_protocol::content::is_governance_tag;
use parley_protocol::sync::Item;
use parley_protocol::view::{Decision, ThreadSummary, anchor};
use parley_protocol::{Content, Post, PostId, SpaceId, Timestamp};

use super::error::{Corruption, StorageError};
use super::posts::thread_entry_tag;
use super::{Storage, keys, line};

/// The read model's format, recorded under `M` once it is built.
pub(super) const VERSION: u32 = 2;

/// Kind tags the read model tells apart (spec 4.2).
const THREAD: u32 = 1;
const RETRACTION: u32 = 4;
pub(super) const REACTION: u32 = 5;
const SHARE_REPLICA: u32 = 12;
const UNSHARE_REPLICA: u32 = 13;
const PROFILE: u32 = 14;

/// The longest chain of anchors followed to find a thread's root (a retraction of a
/// reaction to a reply is three steps); ids are hashes, so no chain loops.
const MAX_CHAIN: usize = 16;

/// Records written per batch when the model is built or a stale space is expanded.
const GROUP: usize = 4096;

/// The token of marks set when a space goes stale or the model is built.
const BUILT: [u8; 32] = [0; 32];

/// What the `a id` record says of a post: its kind, space, date and anchor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Up {
    tag: u32,
    space: SpaceId,
    created_at: Timestamp,
    anchor: Option<PostId>,
}

impl Up {
    /// The record of `post`.
    pub(super) fn of(post: &Post) -> Self {
        Self {
            tag: post.content().tag(),
            space: post.space(),
            created_at: post.created_at(),
            anchor: anchor(post.content()),
        }
    }

    /// Its bytes: the kind tag, the space, `created_at` (BE), then the anchor if any.
    pub(super) fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(1 + 32 + 8 + 32);
        bytes.push(u8::try_from(self.tag).unwrap_or(u8::MAX));
        bytes.extend_from_slice(self.space.as_bytes());
        bytes.extend_from_slice(&self.created_at.as_millis().to_be_bytes());
        if let Some(anchor) = &self.anchor {
            bytes.extend_from_slice(anchor.as_bytes());
        }
        bytes
    }

    fn decode(key: &[u8], bytes: &[u8]) -> Result<Self, StorageError> {
        let corrupt = || {
            keys::corrupt(
                key,
                Corruption::Length {
                    expected: 1 + 32 + 8,
                    found: bytes.len(),
                },
            )
        };
        let (tag, rest) = bytes.split_first().ok_or_else(corrupt)?;
        let space: [u8; 32] = rest
            .get(..32)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(corrupt)?;
        let time: [u8; 8] = rest
            .get(32..40)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(corrupt)?;
        let anchor = match rest.get(40..) {
            Some([]) => None,
            Some(id) => Some(PostId::from_bytes(id.try_into().map_err(|_| corrupt())?)),
            None => return Err(corrupt()),
        };
        Ok(Self {
            tag: u32::from(*tag),
            space: SpaceId::from_bytes(space),
            created_at: Timestamp::from_millis(u64::from_be_bytes(time)),
            anchor,
        })
    }
}

/// One thread folded again: its root, the token its mark had when the fold began, and
/// its line (`None` when it is not shown).
#[derive(Clone, Debug)]
pub struct Folded {
    /// The thread.
    pub root: PostId,
    /// The mark's token as read before folding.
    pub token: Vec<u8>,
    /// The thread-list line, without the author's display name.
    pub line: Option<ThreadSummary>,
}

/// A page of lines and where the next one starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T, C> {
    /// The lines, in list order.
    pub lines: Vec<T>,
    /// The cursor of the next page, when the scan stopped before the list's end.
    pub next: Option<C>,
}

/// What a page may hold: at most `lines` lines of about `bytes` encoded bytes in all,
/// after looking at no more than `scan` entries (so a filter that admits few lines
/// answers a short page with a cursor instead of scanning the whole space).
#[derive(Clone, Copy, Debug)]
pub struct PageLimits {
    /// Most lines.
    pub lines: usize,
    /// Most bytes of line text (titles, decisions and names), roughly.
    pub bytes: usize,
    /// Most entries looked at.
    pub scan: usize,
}

impl Storage {
    /// Read-model entries for a group of new posts being stored by `batch` (the caller
    /// holds the writer lock and has written each post's `a` record into `batch`).
    pub(super) fn note_new_posts(
        &self,
        batch: &mut sled::Batch,
        posts: &[&Post],
    ) -> Result<(), StorageError> {
        let group: BTreeMap<PostId, Up> = posts.iter().map(|p| (p.id(), Up::of(p))).collect();
        let mut stale: BTreeMap<SpaceId, (Timestamp, PostId)> = BTreeMap::new();
        for post in posts {
            let space = post.space();
            if let Some(root) = self.root_of(&group, &space, post.id())? {
                batch.insert(keys::dirty(&space, &root), post.id().as_bytes());
            }
            match post.content() {
                Content::Retraction(retraction)
                    if self
                        .up(&group, &retraction.target)?
                        .is_some_and(|up| up.tag == PROFILE && up.space == space) =>
                {
                    batch.insert(keys::governance(&space, &Item::from(*post)), &[]);
                }
                Content::Profile(_) => {
                    for (item, tag) in self.filed_below(&space, &post.id())? {
                        if tag == Some(RETRACTION) {
                            batch.insert(keys::governance(&space, &item), &[]);
                        }
                    }
                }
                content
                    if content.is_governance()
                        && !matches!(content.tag(), SHARE_REPLICA | UNSHARE_REPLICA) =>
                {
                    let key = post.sort_key();
                    if self.latest_item(&space)?.is_some_and(|latest| latest > key) {
                        let from = stale.entry(space).or_insert(key);
                        *from = (*from).min(key);
                    }
                }
                _ => {}
            }
        }
        for (space, from) in stale {
            let from = match self.stale_from(&space)? {
                Some(earlier) => earlier.min(from),
                None => from,
            };
            batch.insert(keys::stale(&space), sort_key_bytes(from));
        }
        Ok(())
    }

    /// The space the post `id` was filed in, if it was.
    pub(super) fn filed_space(&self, id: &PostId) -> Result<Option<SpaceId>, StorageError> {
        Ok(self.up(&BTreeMap::new(), id)?.map(|up| up.space))
    }

    /// The `a` record of `id`: from the group being stored, or from the store.
    fn up(&self, group: &BTreeMap<PostId, Up>, id: &PostId) -> Result<Option<Up>, StorageError> {
        if let Some(up) = group.get(id) {
            return Ok(Some(*up));
        }
        let key = keys::up(id);
        self.db
            .get(&key)?
            .map(|bytes| Up::decode(&key, &bytes))
            .transpose()
    }

    /// The thread of `space` that `id` lands in: the root found by following anchors,
    /// or `None` while a post on the way is missing or the chain ends elsewhere.
    fn root_of(
        &self,
        group: &BTreeMap<PostId, Up>,
        space: &SpaceId,
        id: PostId,
    ) -> Result<Option<PostId>, StorageError> {
        let mut id = id;
        for _ in 0..MAX_CHAIN {
            let Some(up) = self.up(group, &id)? else {
                return Ok(None);
            };
            if up.space != *space {
                return Ok(None);
            }
            if up.tag == THREAD {
                return Ok(Some(id));
            }
            match up.anchor {
                Some(anchor) => id = anchor,
                None => return Ok(None),
            }
        }
        Ok(None)
    }

    /// What the thread index files directly below `id`, with each entry's kind tag.
    fn filed_below(
        &self,
        space: &SpaceId,
        id: &PostId,
    ) -> Result<Vec<(Item, Option<u32>)>, StorageError> {
        let mut found = Vec::new();
        for entry in self.db.scan_prefix(keys::filed_under(space, id)) {
            let (key, value) = entry?;
            let child = keys::trailing_id(&key, keys::THREAD_LEN)?;
            let start = key.len() - 32 - 8;
            let time: [u8; 8] = key[start..start + 8].try_into().map_err(|_| {
                keys::corrupt(
                    &key,
                    Corruption::Length {
                        expected: keys::THREAD_LEN,
                        found: key.len(),
                    },
                )
            })?;
            let item = Item::new(Timestamp::from_millis(u64::from_be_bytes(time)), child);
            let tag = match thread_entry_tag(&value) {
                Some(tag) => Some(tag),
                // Entries migrated from format 1 record no kind: the envelope tells.
                None => self.get(&child)?.map(|p| p.content().tag()),
            };
            found.push((item, tag));
        }
        Ok(found)
    }

    /// The sort key of the latest item of `space` held (post or tombstone).
    fn latest_item(&self, space: &SpaceId) -> Result<Option<(Timestamp, PostId)>, StorageError> {
        match self.db.scan_prefix(keys::items_of(space)).next_back() {
            Some(entry) => {
                let (key, _) = entry?;
                let (_, item) = keys::parse_item(&key)?;
                Ok(Some((item.created_at, item.id)))
            }
            None => Ok(None),
        }
    }

    fn stale_from(&self, space: &SpaceId) -> Result<Option<(Timestamp, PostId)>, StorageError> {
        let key = keys::stale(space);
        self.db
            .get(&key)?
            .map(|value| parse_sort_key(&key, &value))
            .transpose()
    }

    /// Turns the stale mark of `space`, if any, into marks on every thread holding a
    /// post dated from its point on. Call with the node's refold lock held.
    pub fn expand_stale(&self, space: &SpaceId) -> Result<(), StorageError> {
        let key = keys::stale(space);
        let Some(value) = self.db.get(&key)? else {
            return Ok(());
        };
        let from = parse_sort_key(&key, &value)?;
        let prefix = keys::items_of(space);
        let start = keys::item(space, &Item::new(from.0, from.1));
        let none = BTreeMap::new();
        let mut batch = sled::Batch::default();
        let mut in_batch = 0;
        for entry in self.db.range(start..) {
            let (item_key, _) = entry?;
            if !item_key.starts_with(&prefix) {
                break;
            }
            let (_, item) = keys::parse_item(&item_key)?;
            if let Some(root) = self.root_of(&none, space, item.id)? {
                batch.insert(keys::dirty(space, &root), &BUILT);
                in_batch += 1;
                if in_batch == GROUP {
                    self.db.apply_batch(std::mem::take(&mut batch))?;
                    in_batch = 0;
                }
            }
        }
        self.db.apply_batch(batch)?;
        // Set again meanwhile (an earlier point): kept, and expanded next time.
        let _ = self.db.compare_and_swap(&key, Some(value), None::<&[u8]>)?;
        Ok(())
    }

    /// Up to `limit` threads of `space` marked for folding again, in key order after
    /// `after`, each with its mark's token.
    pub fn dirty_threads(
        &self,
        space: &SpaceId,
        after: Option<&PostId>,
        limit: usize,
    ) -> Result<Vec<(PostId, Vec<u8>)>, StorageError> {
        let prefix = keys::dirty_in(space);
        let start = resume_at(&prefix, after.map(|root| keys::dirty(space, root)));
        let mut found = Vec::new();
        for entry in self.db.range(start..).take(limit) {
            let (key, token) = entry?;
            if !key.starts_with(&prefix) {
                break;
            }
            found.push((keys::trailing_id(&key, keys::DIRTY_LEN)?, token.to_vec()));
        }
        Ok(found)
    }

    /// The spaces with threads marked or a stale mark, in id order.
    pub fn spaces_to_refold(&self) -> Result<Vec<SpaceId>, StorageError> {
        let mut spaces = Vec::new();
        for tag in [keys::DIRTY, keys::STALE] {
            let mut from = vec![tag];
            while let Some(entry) = self.db.range(from.as_slice()..).next() {
                let (key, _) = entry?;
                if key.first() != Some(&tag) {
                    break;
                }
                let space: [u8; 32] =
                    key.get(1..33)
                        .and_then(|s| s.try_into().ok())
                        .ok_or_else(|| {
                            keys::corrupt(
                                &key,
                                Corruption::Length {
                                    expected: 33,
                                    found: key.len(),
                                },
                            )
                        })?;
                let space = SpaceId::from_bytes(space);
                if !spaces.contains(&space) {
                    spaces.push(space);
                }
                match keys::after_prefix(&key[..33]) {
                    Some(next) => from = next,
                    None => break,
                }
            }
        }
        spaces.sort();
        Ok(spaces)
    }

    /// Records each folded thread's line (`None`: the thread is not shown) in one
    /// batch, notes the folds for unread counts, and clears each thread's mark unless a
    /// post set it again since its token was read (then it is folded again later).
    /// Lines are written by one refolder at a time (the node's refold lock). Each
    /// thread is also marked for the search index with the fold's sequence number,
    /// which is returned (`None` when nothing was folded).
    pub fn store_lines(
        &self,
        space: &SpaceId,
        folded: &[Folded],
    ) -> Result<Option<u64>, StorageError> {
        if folded.is_empty() {
            return Ok(None);
        }
        // Under the writer lock, no post can mark a thread between the token check and
        // the batch.
        let _writer = self.lock_writer();
        let seq = self.db.generate_id()?;
        let mut batch = sled::Batch::default();
        let mut count = self.line_count(space)?;
        let counted = count;
        for Folded { root, token, line } in folded {
            let line_key = keys::line(space, root);
            let old = match self.db.get(&line_key)? {
                Some(bytes) => Some(line::decode(&line_key, root, &bytes)?),
                None => None,
            };
            let old_line = old.as_ref().map(|(_, line)| line);
            if let Some((old_seq, _)) = &old {
                batch.remove(keys::change(space, *old_seq, root));
            }
            if old_line != line.as_ref() {
                if let Some(old) = old_line {
                    batch.remove(keys::list(space, old.last_activity, root));
                    if let Some(resolution) = &old.resolution {
                        batch.remove(keys::decision(space, resolution.at, &resolution.resolve));
                    }
                }
                if let Some(new) = line {
                    batch.insert(keys::list(space, new.last_activity, root), &[]);
                    if let Some(resolution) = &new.resolution {
                        batch.insert(
                            keys::decision(space, resolution.at, &resolution.resolve),
                            root.as_bytes(),
                        );
                    }
                }
                match (old_line.is_some(), line.is_some()) {
                    (false, true) => count += 1,
                    (true, false) => count = count.saturating_sub(1),
                    _ => {}
                }
            }
            match line {
                // Every fold of a shown thread is a change unread counts must look at,
                // whether its line moved or not: which posts it shows can change
                // without its line changing.
                Some(new) => {
                    batch.insert(line_key, line::encode(seq, new));
                    batch.insert(keys::change(space, seq, root), &[]);
                }
                None => batch.remove(line_key),
            }
            // Shown or not, the thread's search documents change with this fold.
            batch.insert(keys::search(space, root), &seq.to_be_bytes());
            let mark = keys::dirty(space, root);
            if self.db.get(&mark)?.as_deref() == Some(token.as_slice()) {
                batch.remove(mark);
            }
        }
        if count != counted {
            batch.insert(keys::line_count(space), &count.to_be_bytes());
        }
        self.db.apply_batch(batch)?;
        Ok(Some(seq))
    }

    /// How many threads `space` shows.
    pub fn line_count(&self, space: &SpaceId) -> Result<u64, StorageError> {
        let key = keys::line_count(space);
        match self.db.get(&key)? {
            None => Ok(0),
            Some(bytes) => {
                let bytes: [u8; 8] = bytes.as_ref().try_into().map_err(|_| {
                    keys::corrupt(
                        &key,
                        Corruption::Length {
                            expected: 8,
                            found: bytes.len(),
                        },
                    )
                })?;
                Ok(u64::from_be_bytes(bytes))
            }
        }
    }

    /// The latest activity of any thread `space` shows.
    pub fn latest_activity(&self, space: &SpaceId) -> Result<Option<Timestamp>, StorageError> {
        match self.db.scan_prefix(keys::list_of(space)).next() {
            Some(entry) => {
                let (key, _) = entry?;
                keys::trailing_id(&key, keys::LIST_LEN)?;
                Ok(Some(list_time(&key)))
            }
            None => Ok(None),
        }
    }

    /// The sequence number of the last fold of `root`'s thread, if it is shown (see the
    /// `unread` module).
    pub fn line_fold(&self, space: &SpaceId, root: &PostId) -> Result<Option<u64>, StorageError> {
        let key = keys::line(space, root);
        match self.db.get(&key)? {
            Some(bytes) => Ok(Some(line::decode(&key, root, &bytes)?.0)),
            None => Ok(None),
        }
    }

    /// The stored line of `root`, if its thread is shown.
    pub fn line(
        &self,
        space: &SpaceId,
        root: &PostId,
    ) -> Result<Option<ThreadSummary>, StorageError> {
        let key = keys::line(space, root);
        match self.db.get(&key)? {
            Some(bytes) => Ok(Some(line::decode(&key, root, &bytes)?.1)),
            None => Ok(None),
        }
    }

    /// A page of the thread list of `space`: lines after `before`, active at or after
    /// `since`, that `filter` admits.
    pub fn lines(
        &self,
        space: &SpaceId,
        before: Option<ThreadCursor>,
        since: Option<Timestamp>,
        filter: ThreadFilter,
        limits: PageLimits,
    ) -> Result<Page<ThreadSummary, ThreadCursor>, StorageError> {
        let prefix = keys::list_of(space);
        let start = resume_at(
            &prefix,
            before.map(|cursor| keys::list(space, cursor.last_activity, &cursor.id)),
        );
        let mut page = Page {
            lines: Vec::new(),
            next: None,
        };
        let mut bytes = 0;
        // The last entry looked at, shown or filtered out: where the next page resumes.
        let mut looked_at: Option<ThreadCursor> = None;
        for (scanned, entry) in self.db.range(start..).enumerate() {
            let (key, _) = entry?;
            if !key.starts_with(&prefix) {
                break;
            }
            let root = keys::trailing_id(&key, keys::LIST_LEN)?;
            let cursor = ThreadCursor {
                last_activity: list_time(&key),
                id: root,
            };
            if since.is_some_and(|since| cursor.last_activity < since) {
                break;
            }
            let full =
                page.lines.len() >= limits.lines || bytes >= limits.bytes || scanned >= limits.scan;
            if full && looked_at.is_some() {
                page.next = looked_at;
                break;
            }
            looked_at = Some(cursor);
            let Some(line) = self.line(space, &root)? else {
                continue; // rewritten between the two reads
            };
            if filter.admits(line.resolution.is_some()) {
                bytes += line_bytes(&line);
                page.lines.push(line);
            }
        }
        Ok(page)
    }

    /// A page of the decision log of `space`: decisions after `before`.
    pub fn decision_lines(
        &self,
        space: &SpaceId,
        before: Option<DecisionCursor>,
        limits: PageLimits,
    ) -> Result<Page<Decision, DecisionCursor>, StorageError> {
        let prefix = keys::decisions_of(space);
        let start = resume_at(
            &prefix,
            before.map(|cursor| keys::decision(space, cursor.decided_at, &cursor.resolve)),
        );
        let mut page = Page {
            lines: Vec::new(),
            next: None,
        };
        let mut bytes = 0;
        for entry in self.db.range(start..) {
            let (key, root) = entry?;
            if !key.starts_with(&prefix) {
                break;
            }
            if page.lines.len() >= limits.lines || bytes >= limits.bytes {
                page.next = page.lines.last().map(|d: &Decision| DecisionCursor {
                    decided_at: d.decided_at,
                    resolve: d.resolve,
                });
                break;
            }
            let root: [u8; 32] = root.as_ref().try_into().map_err(|_| {
                keys::corrupt(
                    &key,
                    Corruption::Length {
                        expected: 32,
                        found: root.len(),
                    },
                )
            })?;
            let Some(decision) = self
                .line(space, &PostId::from_bytes(root))?
                .as_ref()
                .and_then(ThreadSummary::decision)
            else {
                continue;
            };
            bytes += decision.title.len() + decision.decision.len() + 200;
            page.lines.push(decision);
        }
        Ok(page)
    }

    /// The ids of the spine posts of `space` (spec 6.16) the store has filed, held in
    /// full or not: the governance index, which also files profiles and their
    /// retractions.
    pub fn spine_ids(&self, space: &SpaceId) -> Result<Vec<PostId>, StorageError> {
        let mut ids = Vec::new();
        for entry in self.db.scan_prefix(keys::governance_of(space)) {
            let (key, _) = entry?;
            ids.push(keys::trailing_id(&key, keys::GOVERNANCE_LEN)?);
        }
        Ok(ids)
    }

    /// Builds the read model if the store has none of this version: see the module
    /// documentation. Returns how many posts it filed, or `None` when it was built.
    pub(super) fn build_read_model(&self) -> Result<Option<u64>, StorageError> {
        if self.db.get(keys::READ_MODEL_META)?.as_deref() == Some(&VERSION.to_be_bytes()[..]) {
            return Ok(None);
        }
        for tag in [
            keys::DIRTY,
            keys::STALE,
            keys::LINE,
            keys::LIST,
            keys::DECISION,
            keys::LINE_COUNT,
            keys::CHANGE,
            keys::SEEN,
            keys::UNREAD,
        ] {
            let mut batch = sled::Batch::default();
            for entry in self.db.scan_prefix([tag]) {
                batch.remove(entry?.0);
            }
            self.db.apply_batch(batch)?;
        }
        let mut filed = 0u64;
        for space in self.spaces()? {
            let mut batch = sled::Batch::default();
            let mut in_batch = 0;
            for entry in self.db.scan_prefix(keys::items_of(&space)) {
                let (key, value) = entry?;
                if !value.is_empty() {
                    continue; // a tombstone: nothing below it is shown
                }
                let (_, item) = keys::parse_item(&key)?;
                let Some(post) = self.get(&item.id)? else {
                    continue;
                };
                batch.insert(keys::up(&item.id), Up::of(&post).encode());
                match post.content() {
                    Content::Thread(_) => batch.insert(keys::dirty(&space, &item.id), &BUILT),
                    Content::Profile(_) => {
                        batch.insert(keys::governance(&space, &item), &[]);
                        for (below, tag) in self.filed_below(&space, &item.id)? {
                            if tag == Some(RETRACTION) {
                                batch.insert(keys::governance(&space, &below), &[]);
                            }
                        }
                    }
                    _ => {}
                }
                filed += 1;
                in_batch += 1;
                if in_batch == GROUP {
                    self.db.apply_batch(std::mem::take(&mut batch))?;
                    in_batch = 0;
                }
            }
            self.db.apply_batch(batch)?;
        }
        self.db.flush()?;
        self.db
            .insert(keys::READ_MODEL_META, &VERSION.to_be_bytes())?;
        self.db.flush()?;
        Ok(Some(filed))
    }
}

/// Whether a kind of post belongs in the governance index as written at store time
/// (governance posts and profiles; retractions of profiles are added with a lookup).
pub(super) fn files_in_spine(tag: u32) -> bool {
    is_governance_tag(tag) || tag == PROFILE
}

/// Where a scan resumes: just after `key` (the keys of a family all have one length,
/// so `key` and a zero byte is the least key after it), or at `prefix` without one.
fn resume_at(prefix: &[u8], after: Option<Vec<u8>>) -> Vec<u8> {
    match after {
        Some(mut key) => {
            key.push(0);
            key
        }
        None => prefix.to_vec(),
    }
}

/// Roughly how many bytes a line takes in a response.
fn line_bytes(line: &ThreadSummary) -> usize {
    line.title.len() + line.resolution.as_ref().map_or(0, |r| r.decision.len()) + 200
}

/// The last activity an `l` key records (the caller checked its length).
fn list_time(key: &[u8]) -> Timestamp {
    let mut time = [0; 8];
    time.copy_from_slice(&key[1 + 32..1 + 32 + 8]);
    Timestamp::from_millis(!u64::from_be_bytes(time))
}

fn sort_key_bytes((created_at, id): (Timestamp, PostId)) -> Vec<u8> {
    let mut bytes = created_at.as_millis().to_be_bytes().to_vec();
    bytes.extend_from_slice(id.as_bytes());
    bytes
}

fn parse_sort_key(key: &[u8], value: &[u8]) -> Result<(Timestamp, PostId), StorageError> {
    let corrupt = || {
        keys::corrupt(
            key,
            Corruption::Length {
                expected: 40,
                found: value.len(),
            },
        )
    };
    let time: [u8; 8] = value
        .get(..8)
        .and_then(|t| t.try_into().ok())
        .ok_or_else(corrupt)?;
    let id: [u8; 32] = value
        .get(8..)
        .and_then(|i| i.try_into().ok())
        .ok_or_else(corrupt)?;
    Ok((
        Timestamp::from_millis(u64::from_be_bytes(time)),
        PostId::from_bytes(id),
    ))
}

#[cfg(test)]
impl Storage {
    /// Removes everything the read model writes (and the profiles it files in the spine
    /// index), leaving the store as a build before the model wrote it.
    pub(crate) fn strip_read_model(&self) -> Result<(), StorageError> {
        let mut batch = sled::Batch::default();
        for tag in [
            keys::UP,
            keys::DIRTY,
            keys::STALE,
            keys::LINE,
            keys::LIST,
            keys::DECISION,
            keys::LINE_COUNT,
            keys::CHANGE,
            keys::SEEN,
            keys::UNREAD,
        ] {
            for entry in self.db.scan_prefix([tag]) {
                batch.remove(entry?.0);
            }
        }
        for entry in self.db.scan_prefix([keys::GOVERNANCE]) {
            let (key, _) = entry?;
            let id = keys::trailing_id(&key, keys::GOVERNANCE_LEN)?;
            let governance = self
                .get(&id)?
                .is_some_and(|post| post.content().is_governance());
            if !governance {
                batch.remove(key);
            }
        }
        batch.remove(keys::READ_MODEL_META);
        self.db.apply_batch(batch)?;
        self.db.flush()?;
        Ok(())
    }

    /// Forgets that the read model was built, so the next opening builds it again.
    pub(crate) fn forget_read_model(&self) -> Result<(), StorageError> {
        self.db.remove(keys::READ_MODEL_META)?;
        self.db.flush()?;
        Ok(())
    }
}
