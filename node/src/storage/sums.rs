//! Sums of runs of a space's reconciliation items (`I` records), so that the sum of any
//! range of positions (what reconciliation fingerprints, spec 7.4) costs a few short
//! reads, not a pass over the space.
//!
//! Two levels. A *run* (level 1) sums the items from its first key up to the next run's
//! first key: about [`RUN`] items, split once it holds more than twice that. A *group*
//! (level 2) sums whole runs in the same way: about [`GROUP`] items. The first record of
//! each level is keyed by the lowest possible item, so every item falls in one run and
//! one group, and every group boundary is a run boundary.
//!
//! An item added or removed changes its run's and group's [`IdSum`] in the same atomic
//! batch as the item itself. A record that outgrew its bound is split after that batch,
//! in one of its own: a split changes boundaries, never totals, so a crash between the
//! two leaves a record only larger than it should be. A store without the records (or
//! of an older layout) builds them when opened.

use std::collections::{BTreeMap, BTreeSet};

use parley_protocol::sync::{IdSum, Item};
use parley_protocol::{PostId, SpaceId, Timestamp};

use super::error::{Corruption, StorageError};
use super::{Storage, keys};

/// Items a run is split into pieces of, once it holds more than twice as many.
#[cfg(not(test))]
pub(super) const RUN: usize = 128;
/// Items a group is split into pieces of (whole runs), once it holds twice as many.
#[cfg(not(test))]
pub(super) const GROUP: u64 = 16_384;
/// Small under test, so that both levels split.
#[cfg(test)]
pub(super) const RUN: usize = 4;
#[cfg(test)]
pub(super) const GROUP: u64 = 16;
/// The level of runs of items.
pub(super) const RUNS: u8 = 1;
/// The level of groups of runs.
pub(super) const GROUPS: u8 = 2;
/// The layout of the records; a store without this version builds them again.
const VERSION: u32 = 1;
/// Records written per batch when building.
const BUILD_BATCH: usize = 1024;

/// Below every item: the key of each level's first record.
pub(super) const LOWEST: Item = Item::new(Timestamp::from_millis(0), PostId::from_bytes([0; 32]));

/// Sums changed by one batch of items, and the records that outgrew their bound.
#[derive(Debug, Default)]
pub(super) struct SumChanges {
    records: BTreeMap<Vec<u8>, IdSum>,
    grown: BTreeSet<(SpaceId, u8, Item)>,
}

impl SumChanges {
    /// Writes the changed sums into `batch`.
    pub(super) fn write(&self, batch: &mut sled::Batch) {
        for (key, sum) in &self.records {
            batch.insert(key.as_slice(), &sum.encode()[..]);
        }
    }
}

/// The largest count a record of `level` keeps before it is split.
fn bound(level: u8) -> u64 {
    if level == RUNS {
        2 * RUN as u64
    } else {
        2 * GROUP
    }
}

/// Decodes a sum record's value.
pub(super) fn decode(key: &[u8], value: &[u8]) -> Result<IdSum, StorageError> {
    IdSum::decode(value).ok_or_else(|| {
        keys::corrupt(
            key,
            Corruption::Length {
                expected: IdSum::ENCODED_LEN,
                found: value.len(),
            },
        )
    })
}

impl Storage {
    /// Counts `item` of `space` as added (or, with `added` false, removed) in `changes`,
    /// read through to the stored sums. Call under the writer lock, for an item the
    /// store does not (or, when removed, does) hold.
    pub(super) fn note_item(
        &self,
        changes: &mut SumChanges,
        space: &SpaceId,
        item: &Item,
        added: bool,
    ) -> Result<(), StorageError> {
        for level in [RUNS, GROUPS] {
            let (key, first, stored) = self.record_of(space, level, item)?;
            let sum = changes.records.entry(key).or_insert(stored);
            if added {
                sum.add(&item.id);
            } else {
                sum.remove(&item.id);
            }
            if sum.count() > bound(level) {
                changes.grown.insert((*space, level, first));
            }
        }
        Ok(())
    }

    /// The key, first item and stored sum of the record of `level` that holds `item`
    /// (the lowest record, empty, when the space has none yet).
    fn record_of(
        &self,
        space: &SpaceId,
        level: u8,
        item: &Item,
    ) -> Result<(Vec<u8>, Item, IdSum), StorageError> {
        let prefix = keys::sums_of(space, level);
        let key = keys::sum(space, level, item);
        match self
            .db
            .range(prefix.as_slice()..=key.as_slice())
            .next_back()
        {
            Some(entry) => {
                let (key, value) = entry?;
                let first = keys::parse_sum(&key)?;
                Ok((key.to_vec(), first, decode(&key, &value)?))
            }
            None => Ok((keys::sum(space, level, &LOWEST), LOWEST, IdSum::EMPTY)),
        }
    }

    /// Splits the records that outgrew their bound in `changes` (runs first, so that
    /// groups split along the new runs). Call under the writer lock, after the batch
    /// that grew them.
    pub(super) fn split_grown(&self, changes: &SumChanges) -> Result<(), StorageError> {
        let mut grown: Vec<&(SpaceId, u8, Item)> = changes.grown.iter().collect();
        grown.sort_by_key(|(_, level, _)| *level);
        for (space, level, first) in grown {
            if *level == RUNS {
                self.split_run(space, first)?;
            } else {
                self.split_group(space, first)?;
            }
        }
        Ok(())
    }

    /// The first item of the record of `level` after the one at `first`, if any.
    fn next_record(
        &self,
        space: &SpaceId,
        level: u8,
        first: &Item,
    ) -> Result<Option<Item>, StorageError> {
        let prefix = keys::sums_of(space, level);
        let key = keys::sum(space, level, first);
        let range = (
            std::ops::Bound::Excluded(key.as_slice()),
            std::ops::Bound::Unbounded,
        );
        match self.db.range::<&[u8], _>(range).next() {
            Some(entry) => {
                let (key, _) = entry?;
                if key.starts_with(&prefix) {
                    Ok(Some(keys::parse_sum(&key)?))
                } else {
                    Ok(None)
                }
            }
            None => Ok(None),
        }
    }

    /// The items of `space` from `first` up to (not including) `end`, or to the last.
    pub(super) fn items_between(
        &self,
        space: &SpaceId,
        first: &Item,
        end: Option<&Item>,
    ) -> Result<Vec<Item>, StorageError> {
        let from = keys::item(space, first);
        let scan = match end {
            Some(end) => self.db.range(from..keys::item(space, end)),
            None => match keys::after_prefix(&keys::items_of(space)) {
                Some(after) => self.db.range(from..after),
                None => self.db.range(from..),
            },
        };
        let mut items = Vec::new();
        for entry in scan {
            let (key, _) = entry?;
            items.push(keys::parse_item(&key)?.1);
        }
        Ok(items)
    }

    /// How many items `space` holds, posts and tombstones, from its group sums.
    pub(super) fn item_total(&self, space: &SpaceId) -> Result<u64, StorageError> {
        Ok(self
            .records_between(space, GROUPS, &LOWEST, None)?
            .iter()
            .map(|(_, sum)| sum.count())
            .sum())
    }

    /// The records of `level` of `space` from `first` up to `end` (or the last).
    pub(super) fn records_between(
        &self,
        space: &SpaceId,
        level: u8,
        first: &Item,
        end: Option<&Item>,
    ) -> Result<Vec<(Item, IdSum)>, StorageError> {
        let from = keys::sum(space, level, first);
        let scan = match end {
            Some(end) => self.db.range(from..keys::sum(space, level, end)),
            None => match keys::after_prefix(&keys::sums_of(space, level)) {
                Some(after) => self.db.range(from..after),
                None => self.db.range(from..),
            },
        };
        let mut records = Vec::new();
        for entry in scan {
            let (key, value) = entry?;
            records.push((keys::parse_sum(&key)?, decode(&key, &value)?));
        }
        Ok(records)
    }

    /// Splits the run at `first` into runs of [`RUN`] items, if it still holds more
    /// than its bound.
    fn split_run(&self, space: &SpaceId, first: &Item) -> Result<(), StorageError> {
        let end = self.next_record(space, RUNS, first)?;
        let items = self.items_between(space, first, end.as_ref())?;
        if items.len() as u64 <= bound(RUNS) {
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        for (n, piece) in items.chunks(RUN).enumerate() {
            let key = if n == 0 { *first } else { piece[0] };
            batch.insert(keys::sum(space, RUNS, &key), &IdSum::of(piece).encode()[..]);
        }
        self.db.apply_batch(batch)?;
        Ok(())
    }

    /// Splits the group at `first` along its runs into groups of about [`GROUP`] items,
    /// if it still holds more than its bound.
    fn split_group(&self, space: &SpaceId, first: &Item) -> Result<(), StorageError> {
        let end = self.next_record(space, GROUPS, first)?;
        let runs = self.records_between(space, RUNS, first, end.as_ref())?;
        let total: u64 = runs.iter().map(|(_, sum)| sum.count()).sum();
        if total <= bound(GROUPS) {
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        let mut group = (*first, IdSum::EMPTY);
        for (n, (run, sum)) in runs.iter().enumerate() {
            if n > 0 && group.1.count() >= GROUP {
                batch.insert(keys::sum(space, GROUPS, &group.0), &group.1.encode()[..]);
                group = (*run, IdSum::EMPTY);
            }
            group.1 = group.1.plus(sum);
        }
        batch.insert(keys::sum(space, GROUPS, &group.0), &group.1.encode()[..]);
        self.db.apply_batch(batch)?;
        Ok(())
    }

    /// Builds the sums from the items when the store has none of this layout (a store
    /// from before them, or whose build was interrupted): restartable, the version
    /// written last. Returns the items summed, `None` when there was nothing to do.
    pub(super) fn build_sums(&self) -> Result<Option<u64>, StorageError> {
        if self.db.get(keys::SUMS_META)?.as_deref() == Some(&VERSION.to_be_bytes()[..]) {
            return Ok(None);
        }
        let mut batch = sled::Batch::default();
        let mut in_batch = 0;
        for entry in self.db.scan_prefix([keys::SUM]) {
            batch.remove(entry?.0);
            in_batch += 1;
            if in_batch == BUILD_BATCH {
                self.db.apply_batch(std::mem::take(&mut batch))?;
                in_batch = 0;
            }
        }
        self.db.apply_batch(std::mem::take(&mut batch))?;
        let mut summed = 0u64;
        for space in self.spaces()? {
            let mut builder = Builder::new(space);
            for entry in self.db.scan_prefix(keys::items_of(&space)) {
                let (key, _) = entry?;
                builder.push(keys::parse_item(&key)?.1);
                summed += 1;
                if builder.records.len() >= BUILD_BATCH {
                    self.db.apply_batch(builder.take())?;
                }
            }
            builder.finish();
            self.db.apply_batch(builder.take())?;
        }
        self.db.flush()?;
        self.db.insert(keys::SUMS_META, &VERSION.to_be_bytes())?;
        self.db.flush()?;
        Ok(Some(summed))
    }
}

/// Runs and groups of one space, built from its items in order.
struct Builder {
    space: SpaceId,
    run: (Item, Vec<Item>),
    group: (Item, IdSum),
    records: Vec<(Vec<u8>, IdSum)>,
}

impl Builder {
    fn new(space: SpaceId) -> Self {
        Self {
            space,
            run: (LOWEST, Vec::with_capacity(RUN)),
            group: (LOWEST, IdSum::EMPTY),
            records: Vec::new(),
        }
    }

    fn push(&mut self, item: Item) {
        if self.run.1.len() == RUN {
            self.close_run(Some(item));
        }
        self.run.1.push(item);
    }

    /// Ends the run being built; the next starts at `next`.
    fn close_run(&mut self, next: Option<Item>) {
        let sum = IdSum::of(&self.run.1);
        self.records
            .push((keys::sum(&self.space, RUNS, &self.run.0), sum));
        self.group.1 = self.group.1.plus(&sum);
        if let Some(next) = next {
            self.run = (next, Vec::with_capacity(RUN));
            if self.group.1.count() >= GROUP {
                self.records
                    .push((keys::sum(&self.space, GROUPS, &self.group.0), self.group.1));
                self.group = (next, IdSum::EMPTY);
            }
        }
    }

    fn finish(&mut self) {
        if !self.run.1.is_empty() {
            self.close_run(None);
            self.records
                .push((keys::sum(&self.space, GROUPS, &self.group.0), self.group.1));
        }
    }

    fn take(&mut self) -> sled::Batch {
        let mut batch = sled::Batch::default();
        for (key, sum) in self.records.drain(..) {
            batch.insert(key, &sum.encode()[..]);
        }
        batch
    }
}
