//! Where a session reads the items it reconciles.
//!
//! Reconciliation compares fingerprints of ranges of a space's items, and a range is
//! named by positions in `(created_at, id)` order. An [`ItemIndex`] answers by position:
//! how many items there are, the item at a position, how many sort before an item, and
//! the [`IdSum`] of a run of positions (what a range's fingerprint hashes, spec 7.4).
//! [`SortedItems`] is the index of items held in memory; a node keeps its own on disk,
//! with sums kept per run of items so that a round costs O(d log n), not a pass over
//! the space.

use crate::id::PostId;

use super::Item;

/// The ids of a set of items added as 256-bit little-endian numbers (mod 2^256) and
/// counted: what the fingerprint of a range hashes (spec 7.4, "Fingerprints"). Sums of
/// disjoint sets add, and the sum of a subset can be taken away again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct IdSum {
    sum: [u8; 32],
    count: u64,
}

impl IdSum {
    /// The sum of no ids.
    pub const EMPTY: Self = Self {
        sum: [0; 32],
        count: 0,
    };

    /// Bytes of [`IdSum::encode`].
    pub const ENCODED_LEN: usize = 40;

    /// The sum of the ids of `items`.
    pub fn of<'a>(items: impl IntoIterator<Item = &'a Item>) -> Self {
        let mut sum = Self::EMPTY;
        for item in items {
            sum.add(&item.id);
        }
        sum
    }

    /// Adds one id.
    pub fn add(&mut self, id: &PostId) {
        self.sum = add(&self.sum, id.as_bytes());
        self.count = self.count.wrapping_add(1);
    }

    /// Takes one id (added before) away.
    pub fn remove(&mut self, id: &PostId) {
        self.sum = sub(&self.sum, id.as_bytes());
        self.count = self.count.wrapping_sub(1);
    }

    /// The sum of both sets (disjoint).
    #[must_use]
    pub fn plus(&self, other: &Self) -> Self {
        Self {
            sum: add(&self.sum, &other.sum),
            count: self.count.wrapping_add(other.count),
        }
    }

    /// This set without `other`, a subset of it.
    #[must_use]
    pub fn minus(&self, other: &Self) -> Self {
        Self {
            sum: sub(&self.sum, &other.sum),
            count: self.count.wrapping_sub(other.count),
        }
    }

    /// How many ids were added.
    pub const fn count(&self) -> u64 {
        self.count
    }

    /// The sum, little-endian.
    pub const fn sum(&self) -> &[u8; 32] {
        &self.sum
    }

    /// The count as `u64` big-endian, then the sum.
    pub fn encode(&self) -> [u8; Self::ENCODED_LEN] {
        let mut out = [0; Self::ENCODED_LEN];
        out[..8].copy_from_slice(&self.count.to_be_bytes());
        out[8..].copy_from_slice(&self.sum);
        out
    }

    /// Reads [`IdSum::encode`]'s bytes; `None` if they are not 40.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let bytes: &[u8; Self::ENCODED_LEN] = bytes.try_into().ok()?;
        let mut count = [0; 8];
        count.copy_from_slice(&bytes[..8]);
        let mut sum = [0; 32];
        sum.copy_from_slice(&bytes[8..]);
        Some(Self {
            sum,
            count: u64::from_be_bytes(count),
        })
    }
}

/// Little-endian 256-bit addition, the carry out of the top dropped.
fn add(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0; 32];
    let mut carry = false;
    for lane in 0..4 {
        let (x, y) = (lane_of(a, lane), lane_of(b, lane));
        let (sum, over) = x.overflowing_add(y);
        let (sum, over_again) = sum.overflowing_add(u64::from(carry));
        carry = over || over_again;
        out[lane * 8..lane * 8 + 8].copy_from_slice(&sum.to_le_bytes());
    }
    out
}

/// Little-endian 256-bit subtraction, wrapping.
fn sub(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0; 32];
    let mut borrow = false;
    for lane in 0..4 {
        let (x, y) = (lane_of(a, lane), lane_of(b, lane));
        let (difference, under) = x.overflowing_sub(y);
        let (difference, under_again) = difference.overflowing_sub(u64::from(borrow));
        borrow = under || under_again;
        out[lane * 8..lane * 8 + 8].copy_from_slice(&difference.to_le_bytes());
    }
    out
}

/// The `lane`th 64-bit little-endian word of `bytes`.
fn lane_of(bytes: &[u8; 32], lane: usize) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&bytes[lane * 8..lane * 8 + 8]);
    u64::from_le_bytes(word)
}

/// An index could not be read (its owner says why, in its own log): the session fails
/// with [`SyncError::ItemsUnreadable`](super::SyncError::ItemsUnreadable).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the items to reconcile could not be read")]
pub struct ItemsUnreadable;

/// A space's items in `(created_at, id)` order, each once, read by position.
///
/// Every answer of one call into a session must come from one state of the set: the
/// owner keeps the set still while a session handles an input, and may change it
/// between inputs.
pub trait ItemIndex: Send {
    /// How many items there are.
    fn count(&self) -> Result<usize, ItemsUnreadable>;

    /// The item at `position`, `None` past the end.
    fn item(&self, position: usize) -> Result<Option<Item>, ItemsUnreadable>;

    /// Calls `each` with the position and item of each of `begin..end` in order, while
    /// it returns `true`.
    fn each(
        &self,
        begin: usize,
        end: usize,
        each: &mut dyn FnMut(usize, Item) -> bool,
    ) -> Result<(), ItemsUnreadable>;

    /// How many items sort before `item`.
    fn rank(&self, item: &Item) -> Result<usize, ItemsUnreadable>;

    /// The sum of the ids at `begin..end`.
    fn sum(&self, begin: usize, end: usize) -> Result<IdSum, ItemsUnreadable>;
}

/// Items held in memory, sorted once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SortedItems {
    items: Vec<Item>,
}

impl SortedItems {
    /// The items, sorted, each once.
    pub fn new(items: impl IntoIterator<Item = Item>) -> Self {
        let mut items: Vec<Item> = items.into_iter().collect();
        items.sort_unstable();
        items.dedup();
        Self { items }
    }

    /// The items in order.
    pub fn as_slice(&self) -> &[Item] {
        &self.items
    }
}

impl ItemIndex for SortedItems {
    fn count(&self) -> Result<usize, ItemsUnreadable> {
        Ok(self.items.len())
    }

    fn item(&self, position: usize) -> Result<Option<Item>, ItemsUnreadable> {
        Ok(self.items.get(position).copied())
    }

    fn each(
        &self,
        begin: usize,
        end: usize,
        each: &mut dyn FnMut(usize, Item) -> bool,
    ) -> Result<(), ItemsUnreadable> {
        let end = end.min(self.items.len());
        for (position, item) in self.items.iter().enumerate().take(end).skip(begin) {
            if !each(position, *item) {
                break;
            }
        }
        Ok(())
    }

    fn rank(&self, item: &Item) -> Result<usize, ItemsUnreadable> {
        Ok(self.items.partition_point(|held| held < item))
    }

    fn sum(&self, begin: usize, end: usize) -> Result<IdSum, ItemsUnreadable> {
        let end = end.min(self.items.len());
        Ok(IdSum::of(self.items.get(begin..end).unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    fn id(bytes: [u8; 32]) -> PostId {
        PostId::from_bytes(bytes)
    }

    #[test]
    fn sums_carry_across_bytes_and_wrap() {
        let mut top = [0; 32];
        top[31] = 0xff;
        let mut low = [0xff; 32];
        low[31] = 0;
        let mut sum = IdSum::EMPTY;
        sum.add(&id(low));
        sum.add(&id([1; 32]));
        // 0x00ff..ff + 0x0101..01: every byte carries.
        let mut expected = [1u8; 32];
        expected[0] = 0;
        expected[31] = 2;
        assert_eq!(sum.sum(), &expected);
        sum.add(&id(top));
        sum.add(&id(top));
        assert_eq!(sum.sum()[31], 0, "the carry out of the top is dropped");
        sum.remove(&id(top));
        sum.remove(&id(top));
        sum.remove(&id([1; 32]));
        assert_eq!(sum.sum(), &low);
        assert_eq!(sum.count(), 1);
        assert_eq!(IdSum::decode(&sum.encode()), Some(sum));
        assert_eq!(IdSum::decode(&[0; 39]), None);
    }

    #[test]
    fn sums_of_parts_add_up_to_the_whole() {
        let items: Vec<Item> = (0..50u8)
            .map(|n| {
                Item::new(
                    Timestamp::from_millis(u64::from(n % 7)),
                    id([n.wrapping_mul(37); 32]),
                )
            })
            .collect();
        let index = SortedItems::new(items.iter().copied().chain(items.iter().copied()));
        assert_eq!(index.count(), Ok(50), "duplicates are held once");
        let whole = index.sum(0, 50).unwrap();
        for cut in 0..=50 {
            let left = index.sum(0, cut).unwrap();
            let right = index.sum(cut, 50).unwrap();
            assert_eq!(left.plus(&right), whole);
            assert_eq!(whole.minus(&left), right);
        }
        let third = index.item(3).unwrap().unwrap();
        assert_eq!(index.rank(&third), Ok(3));
        let mut seen = Vec::new();
        index
            .each(10, 14, &mut |position, _| {
                seen.push(position);
                position < 12
            })
            .unwrap();
        assert_eq!(seen, [10, 11, 12]);
    }
}
