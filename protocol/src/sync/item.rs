//! The items reconciled: a post's `(created_at, id)`.

use crate::envelope::Post;
use crate::id::PostId;
use crate::time::Timestamp;

/// One post as reconciliation sees it. Items are ordered by `created_at`, then by the
/// id's bytes (`spec/07-sync-and-gossip.md`, "Items and their order").
///
/// A node reconciles an item for every post it holds, and keeps reconciling the item of
/// a retracted post whose bytes it dropped (a tombstone, spec 7.2), so that it never
/// fetches that post back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Item {
    /// When the author says the post was written.
    pub created_at: Timestamp,
    /// The post's id.
    pub id: PostId,
}

impl Item {
    /// The item of a post created at `created_at` with id `id`.
    pub const fn new(created_at: Timestamp, id: PostId) -> Self {
        Self { created_at, id }
    }
}

impl From<&Post> for Item {
    fn from(post: &Post) -> Self {
        Self::new(post.created_at(), post.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_order_by_time_then_id() {
        let a = Item::new(Timestamp::from_millis(1), PostId::from_bytes([9; 32]));
        let b = Item::new(Timestamp::from_millis(2), PostId::from_bytes([0; 32]));
        let c = Item::new(Timestamp::from_millis(2), PostId::from_bytes([1; 32]));
        assert!(a < b && b < c);
    }
}
