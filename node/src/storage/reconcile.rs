//! A space's items read by position, for reconciliation: [`SpaceItems`] answers the
//! protocol's [`ItemIndex`] from the `i` items and their `I` sums (see the `sums`
//! module), so a range's sum costs a handful of short reads whatever the space's size;
//! [`ItemsHeld`] keeps the items still while a reconciliation step reads them.

use std::cell::RefCell;
use std::sync::{Arc, RwLockReadGuard};

use parley_protocol::SpaceId;
use parley_protocol::sync::{IdSum, Item, ItemIndex, ItemsUnreadable};

use super::sums::{GROUPS, LOWEST, RUNS};
use super::{Corruption, Storage, StorageError, keys};

/// Bytes of runs read back that the node keeps (see [`RunCache`]).
pub(super) const RUN_CACHE_BYTES: u64 = 8 * 1024 * 1024;

/// Keeps every space's items as they are while it lives (see [`Storage::hold_items`]).
#[must_use = "the items stay still only while the guard lives"]
pub struct ItemsHeld<'a> {
    _guard: RwLockReadGuard<'a, ()>,
}

impl<'a> ItemsHeld<'a> {
    pub(super) fn new(guard: RwLockReadGuard<'a, ()>) -> Self {
        Self { _guard: guard }
    }
}

impl std::fmt::Debug for ItemsHeld<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ItemsHeld")
    }
}

/// The items of one space as reconciliation reads them: by position in
/// `(created_at, id)` order. It reads the space's groups at each step (a handful of
/// records) and finds their runs and items in the node's run cache, read from the
/// store when missing or changed. Read it only while holding [`Storage::hold_items`],
/// so that one step sees one state of the items.
pub struct SpaceItems {
    storage: Storage,
    space: SpaceId,
    groups: RefCell<Option<(u64, Arc<[Record]>)>>,
}

impl std::fmt::Debug for SpaceItems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpaceItems")
            .field("space", &self.space)
            .finish_non_exhaustive()
    }
}

/// A group or run: its first key, its sum, the position of its first item and the sum
/// of every item before it (in the space for a group, in its group for a run).
#[derive(Clone, Copy, Debug)]
struct Record {
    first: Item,
    sum: IdSum,
    start: usize,
    before: IdSum,
}

impl Record {
    fn end(&self) -> usize {
        self.start + self.sum.count() as usize
    }
}

/// What the cache keeps of a run or a group, with the sum it was read at: valid while
/// the record's sum is still that (an item added or removed changes it; a split
/// changes the sum kept under the same first key).
#[derive(Clone, Debug)]
enum Cached {
    /// A group's runs, positions and sums counted from the group's start.
    Runs(IdSum, Arc<[Record]>),
    /// A run's items, and the sums of their prefixes (`prefix[k]` sums the first `k`).
    Items(IdSum, Arc<[Item]>, Arc<[IdSum]>),
}

/// Runs and items read back for reconciliation, shared by every session of the node and
/// bounded in bytes ([`RUN_CACHE_BYTES`]). An entry is used only while the sum kept in
/// the store for its record is the one it was read at.
pub(super) struct RunCache {
    cache: quick_cache::sync::Cache<(SpaceId, u8, Item), Cached, Weight>,
}

impl std::fmt::Debug for RunCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunCache")
            .field("bytes", &self.cache.weight())
            .finish()
    }
}

/// What an entry weighs: about the memory it holds.
#[derive(Clone, Copy, Debug)]
struct Weight;

impl quick_cache::Weighter<(SpaceId, u8, Item), Cached> for Weight {
    fn weight(&self, _: &(SpaceId, u8, Item), cached: &Cached) -> u64 {
        let bytes = match cached {
            Cached::Runs(_, runs) => runs.len() * size_of::<Record>(),
            Cached::Items(_, items, prefix) => {
                items.len() * size_of::<Item>() + prefix.len() * size_of::<IdSum>()
            }
        };
        bytes as u64 + 128
    }
}

impl RunCache {
    pub(super) fn new(bytes: u64) -> Self {
        let entries = usize::try_from(bytes / 16_384).unwrap_or(usize::MAX).max(1);
        Self {
            cache: quick_cache::sync::Cache::with_weighter(entries, bytes.max(1), Weight),
        }
    }
}

/// A run's items and the sums of their prefixes.
type RunItems = (Arc<[Item]>, Arc<[IdSum]>);

/// A run and its items, with their prefix sums.
struct Located {
    run: Record,
    items: Arc<[Item]>,
    prefix: Arc<[IdSum]>,
}

impl Storage {
    /// The items of `space`, read by position (see [`SpaceItems`]).
    pub fn space_items(&self, space: SpaceId) -> SpaceItems {
        SpaceItems {
            storage: self.clone(),
            space,
            groups: RefCell::new(None),
        }
    }
}

impl SpaceItems {
    /// Runs `read`; a store error is logged and reported as [`ItemsUnreadable`].
    fn with<T>(
        &self,
        read: impl FnOnce(&Self) -> Result<T, StorageError>,
    ) -> Result<T, ItemsUnreadable> {
        read(self).map_err(|error| {
            tracing::warn!(space = %self.space, %error, "reading the items to reconcile");
            ItemsUnreadable
        })
    }

    /// The space's groups, read again when its items changed.
    fn groups(&self) -> Result<Arc<[Record]>, StorageError> {
        let generation = self.storage.items_generation(&self.space);
        let mut groups = self.groups.borrow_mut();
        if let Some((read_at, groups)) = groups.as_ref()
            && *read_at == generation
        {
            return Ok(groups.clone());
        }
        let records = self
            .storage
            .records_between(&self.space, GROUPS, &LOWEST, None)?;
        let read: Arc<[Record]> = cumulate(records, 0, IdSum::EMPTY).into();
        *groups = Some((generation, read.clone()));
        Ok(read)
    }

    fn total(&self) -> Result<IdSum, StorageError> {
        Ok(self
            .groups()?
            .last()
            .map_or(IdSum::EMPTY, |last| last.before.plus(&last.sum)))
    }

    /// The runs of the group at place `g` of `groups`, positioned in the space.
    fn runs(&self, groups: &[Record], g: usize) -> Result<Vec<Record>, StorageError> {
        let Some(group) = groups.get(g).copied() else {
            return Ok(Vec::new());
        };
        let key = (self.space, GROUPS, group.first);
        let relative = match self.storage.runs.cache.get(&key) {
            Some(Cached::Runs(sum, runs)) if sum == group.sum => runs,
            _ => {
                let end = groups.get(g + 1).map(|next| next.first);
                let records =
                    self.storage
                        .records_between(&self.space, RUNS, &group.first, end.as_ref())?;
                let runs: Arc<[Record]> = cumulate(records, 0, IdSum::EMPTY).into();
                let counted = runs.last().map_or(IdSum::EMPTY, |r| r.before.plus(&r.sum));
                if counted != group.sum {
                    return Err(self.disagree("a group's runs"));
                }
                self.storage
                    .runs
                    .cache
                    .insert(key, Cached::Runs(group.sum, runs.clone()));
                runs
            }
        };
        Ok(relative
            .iter()
            .map(|run| Record {
                start: group.start + run.start,
                before: group.before.plus(&run.before),
                ..*run
            })
            .collect())
    }

    /// The items of `run` (which ends where `end` starts) and their prefix sums.
    fn items(&self, run: &Record, end: Option<Item>) -> Result<RunItems, StorageError> {
        let key = (self.space, RUNS, run.first);
        if let Some(Cached::Items(sum, items, prefix)) = self.storage.runs.cache.get(&key)
            && sum == run.sum
        {
            return Ok((items, prefix));
        }
        let items = self
            .storage
            .items_between(&self.space, &run.first, end.as_ref())?;
        let mut prefix = Vec::with_capacity(items.len() + 1);
        let mut sum = IdSum::EMPTY;
        prefix.push(sum);
        for item in &items {
            sum.add(&item.id);
            prefix.push(sum);
        }
        if sum != run.sum {
            return Err(self.disagree("a run's items"));
        }
        let (items, prefix): (Arc<[Item]>, Arc<[IdSum]>) = (items.into(), prefix.into());
        self.storage
            .runs
            .cache
            .insert(key, Cached::Items(run.sum, items.clone(), prefix.clone()));
        Ok((items, prefix))
    }

    /// The run holding position `position` (below the total) and its items.
    fn locate(&self, position: usize) -> Result<Located, StorageError> {
        let groups = self.groups()?;
        let g = groups
            .partition_point(|group| group.start <= position)
            .saturating_sub(1);
        self.locate_in(&groups, g, |run| run.start <= position)
            .and_then(|located| {
                if position < located.run.end() {
                    Ok(located)
                } else {
                    Err(self.disagree("a run's items"))
                }
            })
    }

    /// The last run of group `g` for which `at_or_before` holds, and its items.
    fn locate_in(
        &self,
        groups: &[Record],
        g: usize,
        at_or_before: impl Fn(&Record) -> bool,
    ) -> Result<Located, StorageError> {
        let runs = self.runs(groups, g)?;
        let r = runs.partition_point(at_or_before).saturating_sub(1);
        let Some(run) = runs.get(r).copied() else {
            return Err(self.disagree("a group's runs"));
        };
        let end = runs
            .get(r + 1)
            .map(|next| next.first)
            .or_else(|| groups.get(g + 1).map(|next| next.first));
        let (items, prefix) = self.items(&run, end)?;
        Ok(Located { run, items, prefix })
    }

    /// The sum of the items before `position`.
    fn before(&self, position: usize) -> Result<IdSum, StorageError> {
        let total = self.total()?;
        if position >= total.count() as usize {
            return Ok(total);
        }
        let Located { run, prefix, .. } = self.locate(position)?;
        let within = prefix
            .get(position - run.start)
            .copied()
            .ok_or_else(|| self.disagree("a run's items"))?;
        Ok(run.before.plus(&within))
    }

    /// Sums that disagree with the items they sum: the store is damaged. The sums are
    /// built again when the store next opens.
    fn disagree(&self, what: &str) -> StorageError {
        tracing::error!(
            space = %self.space,
            "the sums of the items disagree with {what}: they are built again when parleyd next starts"
        );
        if let Err(error) = self.storage.db.remove(keys::SUMS_META) {
            tracing::warn!(%error, "could not mark the sums to be built again");
        }
        keys::corrupt(&keys::sums_of(&self.space, GROUPS), Corruption::Sums)
    }
}

/// Records with their positions and the sums before them, from `start` and `before`.
fn cumulate(records: Vec<(Item, IdSum)>, start: usize, before: IdSum) -> Vec<Record> {
    let (mut start, mut before) = (start, before);
    records
        .into_iter()
        .map(|(first, sum)| {
            let record = Record {
                first,
                sum,
                start,
                before,
            };
            start += sum.count() as usize;
            before = before.plus(&sum);
            record
        })
        .collect()
}

impl ItemIndex for SpaceItems {
    fn count(&self) -> Result<usize, ItemsUnreadable> {
        self.with(|this| Ok(this.total()?.count() as usize))
    }

    fn item(&self, position: usize) -> Result<Option<Item>, ItemsUnreadable> {
        self.with(|this| {
            if position >= this.total()?.count() as usize {
                return Ok(None);
            }
            let Located { run, items, .. } = this.locate(position)?;
            Ok(items.get(position - run.start).copied())
        })
    }

    fn each(
        &self,
        begin: usize,
        end: usize,
        each: &mut dyn FnMut(usize, Item) -> bool,
    ) -> Result<(), ItemsUnreadable> {
        let mut position = begin;
        while position < end {
            let located = self.with(|this| {
                if position >= this.total()?.count() as usize {
                    return Ok(None);
                }
                this.locate(position).map(Some)
            })?;
            let Some(Located { run, items, .. }) = located else {
                return Ok(());
            };
            for item in items.iter().skip(position - run.start) {
                if position >= end || !each(position, *item) {
                    return Ok(());
                }
                position += 1;
            }
        }
        Ok(())
    }

    fn rank(&self, item: &Item) -> Result<usize, ItemsUnreadable> {
        self.with(|this| {
            let groups = this.groups()?;
            if groups.is_empty() {
                return Ok(0);
            }
            let g = groups
                .partition_point(|group| group.first <= *item)
                .saturating_sub(1);
            let Located { run, items, .. } =
                this.locate_in(&groups, g, |run| run.first <= *item)?;
            Ok(run.start + items.partition_point(|held| held < item))
        })
    }

    fn sum(&self, begin: usize, end: usize) -> Result<IdSum, ItemsUnreadable> {
        self.with(|this| {
            let upto = this.before(end)?;
            let below = this.before(begin.min(end))?;
            Ok(upto.minus(&below))
        })
    }
}

#[cfg(test)]
mod tests;
