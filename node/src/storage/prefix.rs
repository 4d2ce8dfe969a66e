//! Posts by the start of their ids, for people who type a prefix (`parley show
//! post1tsmpe33x`): the ids that start so lie in one range of the `p` keys (posts held
//! in full) and one of the `x` keys (tombstones).

use parley_protocol::{IdPrefix, PostId, SpaceId};

use super::error::StorageError;
use super::{Storage, keys};

/// The most index entries one search looks at: far more than any prefix people type
/// matches (a prefix of four characters matches one post in a million).
pub const MAX_PREFIX_SCAN: usize = 4096;

/// How the space of a post found in one range is read.
type SpaceOf<'a> = dyn Fn(&PostId) -> Result<Option<SpaceId>, StorageError> + 'a;

/// Posts whose ids start with a prefix, each with its space.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Candidates {
    /// The posts, in id order, each with its space; retracted ones included.
    pub posts: Vec<(PostId, SpaceId)>,
    /// Whether the search stopped at [`MAX_PREFIX_SCAN`] entries before the range ended.
    pub cut_short: bool,
}

impl Storage {
    /// The posts held (in full, or as tombstones of retracted posts) whose ids start
    /// with `prefix`, in id order, each with its space.
    pub fn posts_starting(&self, prefix: &IdPrefix) -> Result<Candidates, StorageError> {
        let (low, high) = prefix.bounds();
        let (low, high) = (PostId::from_bytes(low), PostId::from_bytes(high));
        let mut found = Candidates::default();
        let mut looked = 0;
        // Posts held in full (their space filed by the read model), then tombstones.
        let held = |id: &PostId| self.filed_space(id);
        let retracted = |id: &PostId| self.retracted_from(id);
        let ranges: [(_, &SpaceOf<'_>); 2] = [
            (keys::post(&low)..=keys::post(&high), &held),
            (keys::tombstone(&low)..=keys::tombstone(&high), &retracted),
        ];
        'ranges: for (range, space_of) in ranges {
            for entry in self.db.range(range) {
                let (key, _) = entry?;
                looked += 1;
                if looked > MAX_PREFIX_SCAN {
                    found.cut_short = true;
                    break 'ranges;
                }
                let id = keys::trailing_id(&key, 1 + 32)?;
                if let Some(space) = space_of(&id)? {
                    found.posts.push((id, space));
                }
            }
        }
        found.posts.sort();
        found.posts.dedup();
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posts_are_found_by_the_start_of_their_ids() {
        let tmp = tempfile::tempdir().unwrap();
        let storage = crate::storage::testing::reopen(tmp.path());
        let posts = crate::storage::testing::thread_space(40);
        storage.insert(&posts).unwrap();
        let space = posts[0].space();
        for post in &posts {
            let text = post.id().to_string();
            let prefix = IdPrefix::parse(PostId::PREFIX, &text[..5 + 8]).unwrap();
            let found = storage.posts_starting(&prefix).unwrap();
            assert_eq!(found.posts, vec![(post.id(), space)], "{text}");
            assert!(!found.cut_short);
        }
        // Four characters: every post whose id starts so, and no other.
        let text = posts[3].id().to_string();
        let prefix = IdPrefix::parse(PostId::PREFIX, &text[..5 + 4]).unwrap();
        let want: Vec<(PostId, SpaceId)> = posts
            .iter()
            .filter(|p| p.id().to_string().starts_with(&text[..9]))
            .map(|p| (p.id(), space))
            .collect();
        assert_eq!(storage.posts_starting(&prefix).unwrap().posts, want);
    }
}
