//! Range-based set reconciliation over an [`ItemIndex`]: the engine behind a
//! [`SyncSession`](super::SyncSession), speaking NIP-77 protocol version 1
//! (`spec/07-sync-and-gossip.md`, "Reconciliation").
//!
//! Each side answers the other's frame range by range: a range whose fingerprint
//! matches is settled; one that differs is split into 16 sub-ranges by fingerprint, or
//! listed id by id when small. Positions, items and sums come from the index, so a
//! range's fingerprint costs what the index's sum costs, not a walk over the range.
//!
//! Frames reach the engine only after [`check_frame`](super::frame::check_frame), so
//! malformed input is refused before; the engine still never panics on it. Its frames
//! are those of the reference implementation (the `negentropy` crate) byte for byte, as
//! tests check.

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

use crate::id::PostId;
use crate::time::Timestamp;

use super::frame::{FRAME_VERSION, read_varint, take};
use super::{FrameError, IdSum, Item, ItemIndex, ItemsUnreadable, SyncError};

/// Sub-ranges a differing range is split into.
const BUCKETS: usize = 16;
/// Length of an id.
const ID_LEN: usize = 32;
/// Length of a fingerprint.
const FINGERPRINT_LEN: usize = 16;
/// Bytes a frame keeps free under its size limit for the range that closes it when
/// it is cut short.
const CLOSING_ROOM: usize = 200;

/// A range's upper end: an item position in `(created_at, id)` order, the id given by
/// a prefix of `len` bytes (the rest zero). The last millisecond is infinity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Bound {
    item: Item,
    len: usize,
}

impl Bound {
    /// Below every item.
    const ZERO: Self = Self::at(0);
    /// Above every item.
    const INFINITY: Self = Self::at(u64::MAX);

    const fn at(millis: u64) -> Self {
        Self {
            item: Item::new(Timestamp::from_millis(millis), PostId::from_bytes([0; 32])),
            len: 0,
        }
    }

    /// The bound just at `item`, with its whole id.
    const fn of(item: Item) -> Self {
        Self { item, len: ID_LEN }
    }

    /// The shortest bound above `below` and at or below `above` (consecutive items).
    fn between(below: &Item, above: &Item) -> Self {
        if below.created_at != above.created_at {
            return Self::at(above.created_at.as_millis());
        }
        let shared = below
            .id
            .as_bytes()
            .iter()
            .zip(above.id.as_bytes())
            .take_while(|(a, b)| a == b)
            .count();
        let len = (shared + 1).min(ID_LEN);
        let mut prefix = [0; ID_LEN];
        prefix[..len].copy_from_slice(&above.id.as_bytes()[..len]);
        Self {
            item: Item::new(above.created_at, PostId::from_bytes(prefix)),
            len,
        }
    }
}

/// Ways the engine fails: a frame it cannot read, or an index that cannot be read.
#[derive(Debug)]
enum Failure {
    Frame(FrameError),
    Unreadable,
}

impl From<FrameError> for Failure {
    fn from(error: FrameError) -> Self {
        Self::Frame(error)
    }
}

impl From<ItemsUnreadable> for Failure {
    fn from(_: ItemsUnreadable) -> Self {
        Self::Unreadable
    }
}

impl From<Failure> for SyncError {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Frame(error) => Self::MalformedFrame(error),
            Failure::Unreadable => Self::ItemsUnreadable,
        }
    }
}

/// One side's engine: whether it initiated, its frame size limit, and the timestamp
/// deltas of the frame being read and the one being written.
#[derive(Debug)]
pub(super) struct Engine {
    initiator: bool,
    frame_limit: usize,
    last_in: u64,
    last_out: u64,
}

/// What the initiator learns from a frame: ids it holds that the peer lacks, in item
/// order, and ids the peer holds that it lacks, sorted.
#[derive(Debug, Default)]
pub(super) struct Learned {
    pub(super) have: Vec<PostId>,
    pub(super) need: BTreeSet<PostId>,
}

impl Engine {
    /// An engine writing frames of at most about `frame_limit` bytes (0: no limit).
    pub(super) const fn new(frame_limit: usize) -> Self {
        Self {
            initiator: false,
            frame_limit,
            last_in: 0,
            last_out: 0,
        }
    }

    /// The initiator's first frame, over every item of `index`.
    pub(super) fn initiate(&mut self, index: &dyn ItemIndex) -> Result<Vec<u8>, SyncError> {
        self.initiator = true;
        self.last_out = 0;
        let mut frame = vec![FRAME_VERSION];
        let len = index.count().map_err(Failure::from)?;
        self.split(index, 0, len, Bound::INFINITY, &mut frame)?;
        Ok(frame)
    }

    /// The responder's answer to `query`.
    pub(super) fn answer(
        &mut self,
        index: &dyn ItemIndex,
        query: &[u8],
    ) -> Result<Vec<u8>, SyncError> {
        Ok(self.reconcile(index, query, &mut Learned::default())?)
    }

    /// The initiator's reading of the responder's `query`: what it learned goes to
    /// `learned`; the next frame to send, or `None` when the reconciliation is over.
    pub(super) fn learn(
        &mut self,
        index: &dyn ItemIndex,
        query: &[u8],
        learned: &mut Learned,
    ) -> Result<Option<Vec<u8>>, SyncError> {
        let frame = self.reconcile(index, query, learned)?;
        Ok((frame.len() > 1).then_some(frame))
    }

    fn reconcile(
        &mut self,
        index: &dyn ItemIndex,
        query: &[u8],
        learned: &mut Learned,
    ) -> Result<Vec<u8>, Failure> {
        self.last_in = 0;
        self.last_out = 0;
        let (&version, mut query) = query.split_first().ok_or(FrameError::Empty)?;
        if version != FRAME_VERSION {
            return Err(FrameError::UnsupportedVersion { version }.into());
        }
        let mut frame = vec![FRAME_VERSION];
        let len = index.count()?;
        let mut previous = Bound::ZERO;
        let mut lower = 0;
        let mut skip = false;
        // Items below the last bound written to `frame` end here.
        let mut emitted = 0;
        while !query.is_empty() {
            let mut out = Vec::new();
            let bound = self.read_bound(&mut query)?;
            let mut upper = index.rank(&bound.item)?.clamp(lower, len);
            match read_varint(&mut query)? {
                0 => skip = true,
                1 => {
                    let theirs = take(&mut query, FINGERPRINT_LEN)?;
                    if fingerprint(&index.sum(lower, upper)?) == theirs {
                        skip = true;
                    } else {
                        self.end_skip(&mut skip, &previous, &mut out);
                        self.split(index, lower, upper, bound, &mut out)?;
                    }
                }
                2 => {
                    let count = read_varint(&mut query)?;
                    let bytes = usize::try_from(count)
                        .ok()
                        .and_then(|n| n.checked_mul(ID_LEN))
                        .ok_or(FrameError::Truncated)?;
                    let mut theirs: BTreeSet<PostId> = take(&mut query, bytes)?
                        .chunks_exact(ID_LEN)
                        .filter_map(|id| id.try_into().ok().map(PostId::from_bytes))
                        .collect();
                    index.each(lower, upper, &mut |_, item| {
                        if !theirs.remove(&item.id) && self.initiator {
                            learned.have.push(item.id);
                        }
                        true
                    })?;
                    if self.initiator {
                        skip = true;
                        learned.need.extend(theirs);
                    } else {
                        self.end_skip(&mut skip, &previous, &mut out);
                        // Ours, listed up to the frame's size limit; a list cut short
                        // ends at the first item left out.
                        let mut ids = Vec::new();
                        let mut end = bound;
                        let written = frame.len();
                        index.each(lower, upper, &mut |position, item| {
                            if self.exceeds(written + ids.len()) {
                                end = Bound::of(item);
                                upper = position;
                                return false;
                            }
                            ids.extend_from_slice(item.id.as_bytes());
                            true
                        })?;
                        self.write_bound(&end, &mut out);
                        write_varint(2, &mut out);
                        write_varint((ids.len() / ID_LEN) as u64, &mut out);
                        out.extend_from_slice(&ids);
                        frame.append(&mut out);
                        emitted = upper;
                    }
                }
                mode => return Err(FrameError::UnknownMode { mode }.into()),
            }
            if self.exceeds(frame.len() + out.len()) {
                // Cut short: one fingerprint stands for everything not yet written.
                let rest = fingerprint(&index.sum(emitted, len)?);
                self.write_bound(&Bound::INFINITY, &mut frame);
                write_varint(1, &mut frame);
                frame.extend_from_slice(&rest);
                break;
            }
            if !out.is_empty() {
                emitted = upper;
            }
            frame.append(&mut out);
            lower = upper;
            previous = bound;
        }
        Ok(frame)
    }

    /// Writes the Skip range that a run of settled ranges ends with, if one is open.
    fn end_skip(&mut self, skip: &mut bool, previous: &Bound, out: &mut Vec<u8>) {
        if std::mem::take(skip) {
            self.write_bound(previous, out);
            write_varint(0, out);
        }
    }

    /// Writes the items `lower..upper`, up to `bound`: their ids when few, else the
    /// fingerprints of 16 sub-ranges.
    fn split(
        &mut self,
        index: &dyn ItemIndex,
        lower: usize,
        upper: usize,
        bound: Bound,
        out: &mut Vec<u8>,
    ) -> Result<(), Failure> {
        let count = upper.saturating_sub(lower);
        if count < 2 * BUCKETS {
            self.write_bound(&bound, out);
            write_varint(2, out);
            write_varint(count as u64, out);
            index.each(lower, upper, &mut |_, item| {
                out.extend_from_slice(item.id.as_bytes());
                true
            })?;
            return Ok(());
        }
        let per_bucket = count / BUCKETS;
        let with_extra = count % BUCKETS;
        let mut at = lower;
        for bucket in 0..BUCKETS {
            let size = per_bucket + usize::from(bucket < with_extra);
            let print = fingerprint(&index.sum(at, at + size)?);
            at += size;
            let next = if at == upper {
                bound
            } else {
                let below = index.item(at - 1)?.ok_or(ItemsUnreadable)?;
                let above = index.item(at)?.ok_or(ItemsUnreadable)?;
                Bound::between(&below, &above)
            };
            self.write_bound(&next, out);
            write_varint(1, out);
            out.extend_from_slice(&print);
        }
        Ok(())
    }

    fn exceeds(&self, bytes: usize) -> bool {
        self.frame_limit != 0 && bytes > self.frame_limit.saturating_sub(CLOSING_ROOM)
    }

    fn read_bound(&mut self, input: &mut &[u8]) -> Result<Bound, FrameError> {
        let delta = read_varint(input)?;
        let millis = if delta == 0 {
            u64::MAX
        } else {
            (delta - 1).saturating_add(self.last_in)
        };
        self.last_in = millis;
        let len = read_varint(input)?;
        if len > ID_LEN as u64 {
            return Err(FrameError::BoundTooLong { len });
        }
        // len <= 32, so the cast is exact.
        let len = len as usize;
        let mut prefix = [0; ID_LEN];
        prefix[..len].copy_from_slice(take(input, len)?);
        Ok(Bound {
            item: Item::new(Timestamp::from_millis(millis), PostId::from_bytes(prefix)),
            len,
        })
    }

    fn write_bound(&mut self, bound: &Bound, out: &mut Vec<u8>) {
        let millis = bound.item.created_at.as_millis();
        if millis == u64::MAX {
            self.last_out = u64::MAX;
            write_varint(0, out);
        } else {
            let delta = millis.saturating_sub(self.last_out);
            self.last_out = millis;
            write_varint(delta.saturating_add(1), out);
        }
        write_varint(bound.len as u64, out);
        out.extend_from_slice(&bound.item.id.as_bytes()[..bound.len]);
    }
}

/// A range's fingerprint: the first 16 bytes of SHA-256 over its ids' sum (32 bytes,
/// little-endian) and its count as a varint (spec 7.4).
fn fingerprint(sum: &IdSum) -> [u8; FINGERPRINT_LEN] {
    let mut hasher = Sha256::new();
    hasher.update(sum.sum());
    let mut count = Vec::with_capacity(10);
    write_varint(sum.count(), &mut count);
    hasher.update(&count);
    let digest = hasher.finalize();
    let mut print = [0; FINGERPRINT_LEN];
    print.copy_from_slice(&digest[..FINGERPRINT_LEN]);
    print
}

/// Writes a NIP-77 varint: base 128, most significant group first, the high bit set on
/// every byte but the last.
fn write_varint(mut value: u64, out: &mut Vec<u8>) {
    let mut groups = [0u8; 10];
    let mut n = 0;
    loop {
        groups[n] = (value & 0x7f) as u8;
        n += 1;
        value >>= 7;
        if value == 0 {
            break;
        }
    }
    for (i, group) in groups[..n].iter().rev().enumerate() {
        out.push(if i + 1 < n { group | 0x80 } else { *group });
    }
}

#[cfg(test)]
mod tests;
