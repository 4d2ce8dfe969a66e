//! A space's items read by position, for reconciliation: [`SpaceItems`] answers the
//! protocol's [`ItemIndex`] from the `i` items and their `I` sums (see the `sums`
//! module), so a range's sum costs a handful of short reads whatever the space's size;
//! [`ItemsHeld`] keeps the items still while a reconciliation step reads them.

use std::cell::RefCell;
use std::sync::RwLockReadGuard;

use parley_protocol::SpaceId;
use parley_protocol::sync::{IdSum, Item, ItemIndex, ItemsUnreadable};

use super::sums::{GROUPS, LOWEST};
use super::{Corruption, Storage, StorageError, keys};

/// Groups' runs kept per reader.
const RUN_LISTS: usize = 16;
/// Runs' items kept per reader.
const ITEM_LISTS: usize = 64;

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
/// `(created_at, id)` order. It reads the store at each call and keeps what it read
/// (a few runs, bounded) until the items change. Read it only while holding
/// [`Storage::hold_items`], so that one step sees one state of the items.
pub struct SpaceItems {
    storage: Storage,
    space: SpaceId,
    cache: RefCell<Cache>,
}

impl std::fmt::Debug for SpaceItems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpaceItems")
            .field("space", &self.space)
            .finish_non_exhaustive()
    }
}

/// A group or run: its first key, its sum, the position of its first item and the sum
/// of every item before it.
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

/// What a reader has read of the current state of the items.
#[derive(Debug, Default)]
struct Cache {
    generation: Option<u64>,
    groups: Option<Vec<Record>>,
    /// Runs of a group, by the group's place.
    runs: Vec<(usize, Vec<Record>)>,
    /// Items of a run, by the run's first key.
    items: Vec<(Item, Vec<Item>)>,
}

/// A run, where it ends (the next run's first key, `None` for the last) and its items.
struct Located {
    run: Record,
    items: Vec<Item>,
}

impl Storage {
    /// The items of `space`, read by position (see [`SpaceItems`]).
    pub fn space_items(&self, space: SpaceId) -> SpaceItems {
        SpaceItems {
            storage: self.clone(),
            space,
            cache: RefCell::new(Cache::default()),
        }
    }
}

impl SpaceItems {
    /// Runs `read` over the cache, emptied first if the items changed since it was
    /// filled; a store error is logged and reported as [`ItemsUnreadable`].
    fn with<T>(
        &self,
        read: impl FnOnce(&Self, &mut Cache) -> Result<T, StorageError>,
    ) -> Result<T, ItemsUnreadable> {
        let mut cache = self.cache.borrow_mut();
        let generation = self.storage.items_generation();
        if cache.generation != Some(generation) {
            *cache = Cache {
                generation: Some(generation),
                ..Cache::default()
            };
        }
        read(self, &mut cache).map_err(|error| {
            tracing::warn!(space = %self.space, %error, "reading the items to reconcile");
            ItemsUnreadable
        })
    }

    fn groups<'c>(&self, cache: &'c mut Cache) -> Result<&'c [Record], StorageError> {
        if cache.groups.is_none() {
            let records = self
                .storage
                .records_between(&self.space, GROUPS, &LOWEST, None)?;
            cache.groups = Some(cumulate(records, 0, IdSum::EMPTY));
        }
        Ok(cache.groups.as_deref().unwrap_or_default())
    }

    fn total(&self, cache: &mut Cache) -> Result<IdSum, StorageError> {
        Ok(self
            .groups(cache)?
            .last()
            .map_or(IdSum::EMPTY, |last| last.before.plus(&last.sum)))
    }

    /// The runs of the group at place `g`.
    fn runs(&self, cache: &mut Cache, g: usize) -> Result<Vec<Record>, StorageError> {
        if let Some((_, runs)) = cache.runs.iter().find(|(at, _)| *at == g) {
            return Ok(runs.clone());
        }
        let groups = self.groups(cache)?;
        let Some(group) = groups.get(g).copied() else {
            return Ok(Vec::new());
        };
        let end = groups.get(g + 1).map(|next| next.first);
        let records = self
            .storage
            .runs_between(&self.space, &group.first, end.as_ref())?;
        let runs = cumulate(records, group.start, group.before);
        if runs.iter().map(|run| run.sum.count()).sum::<u64>() != group.sum.count() {
            return Err(self.disagree("a group's runs"));
        }
        if cache.runs.len() == RUN_LISTS {
            cache.runs.remove(0);
        }
        cache.runs.push((g, runs.clone()));
        Ok(runs)
    }

    /// The items of `run`, which ends where `end` starts.
    fn items(
        &self,
        cache: &mut Cache,
        run: &Record,
        end: Option<Item>,
    ) -> Result<Vec<Item>, StorageError> {
        if let Some((_, items)) = cache.items.iter().find(|(first, _)| *first == run.first) {
            return Ok(items.clone());
        }
        let items = self
            .storage
            .items_between(&self.space, &run.first, end.as_ref())?;
        if items.len() as u64 != run.sum.count() {
            return Err(self.disagree("a run's items"));
        }
        if cache.items.len() == ITEM_LISTS {
            cache.items.remove(0);
        }
        cache.items.push((run.first, items.clone()));
        Ok(items)
    }

    /// The run holding position `position` (below the total) and its items.
    fn locate(&self, cache: &mut Cache, position: usize) -> Result<Located, StorageError> {
        let groups = self.groups(cache)?;
        let g = groups
            .partition_point(|group| group.start <= position)
            .saturating_sub(1);
        let next_group = groups.get(g + 1).map(|next| next.first);
        let runs = self.runs(cache, g)?;
        let r = runs
            .partition_point(|run| run.start <= position)
            .saturating_sub(1);
        let Some(run) = runs.get(r).copied() else {
            return Err(self.disagree("a group's runs"));
        };
        let end = runs.get(r + 1).map(|next| next.first).or(next_group);
        let items = self.items(cache, &run, end)?;
        if position >= run.end() {
            return Err(self.disagree("a run's items"));
        }
        Ok(Located { run, items })
    }

    /// The sum of the items before `position`.
    fn before(&self, cache: &mut Cache, position: usize) -> Result<IdSum, StorageError> {
        let total = self.total(cache)?;
        if position >= total.count() as usize {
            return Ok(total);
        }
        let Located { run, items } = self.locate(cache, position)?;
        Ok(run.before.plus(&IdSum::of(&items[..position - run.start])))
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
        self.with(|this, cache| Ok(this.total(cache)?.count() as usize))
    }

    fn item(&self, position: usize) -> Result<Option<Item>, ItemsUnreadable> {
        self.with(|this, cache| {
            if position >= this.total(cache)?.count() as usize {
                return Ok(None);
            }
            let Located { run, items } = this.locate(cache, position)?;
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
            // One run at a time, the cache released while `each` runs.
            let located = self.with(|this, cache| {
                if position >= this.total(cache)?.count() as usize {
                    return Ok(None);
                }
                this.locate(cache, position).map(Some)
            })?;
            let Some(Located { run, items }) = located else {
                return Ok(());
            };
            for item in &items[position - run.start..] {
                if position >= end {
                    return Ok(());
                }
                if !each(position, *item) {
                    return Ok(());
                }
                position += 1;
            }
        }
        Ok(())
    }

    fn rank(&self, item: &Item) -> Result<usize, ItemsUnreadable> {
        self.with(|this, cache| {
            let groups = this.groups(cache)?;
            if groups.is_empty() {
                return Ok(0);
            }
            let g = groups
                .partition_point(|group| group.first <= *item)
                .saturating_sub(1);
            let next_group = groups.get(g + 1).map(|next| next.first);
            let runs = this.runs(cache, g)?;
            let r = runs
                .partition_point(|run| run.first <= *item)
                .saturating_sub(1);
            let Some(run) = runs.get(r).copied() else {
                return Err(this.disagree("a group's runs"));
            };
            let end = runs.get(r + 1).map(|next| next.first).or(next_group);
            let items = this.items(cache, &run, end)?;
            Ok(run.start + items.partition_point(|held| held < item))
        })
    }

    fn sum(&self, begin: usize, end: usize) -> Result<IdSum, ItemsUnreadable> {
        self.with(|this, cache| {
            let upto = this.before(cache, end)?;
            let below = this.before(cache, begin.min(end))?;
            Ok(upto.minus(&below))
        })
    }
}

#[cfg(test)]
mod tests;
