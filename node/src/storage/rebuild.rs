//! Rebuilding a lost index from the log. The log holds every envelope the node stored,
//! so every index entry derived from posts (posts, items, threads, genesis and
//! governance indexes) can be written again from it; what only the index held, the
//! registered users, invites, read cursors and peers, cannot, and the node says so.
//!
//! The rebuild writes into a fresh `index/` whose first record marks it unfinished; the
//! format record is written, and the mark removed, only once every entry is durable. A
//! store opened with the mark still there (a rebuild cut short) is rebuilt again from
//! the start.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use parley_protocol::view::SpaceView;
use parley_protocol::{Content, Post, PostId, SpaceId};

use super::error::StorageError;
use super::format::{INDEX_DIR, index_config, meta_value, open_sled};
use super::log::Log;
use super::posts::{decode_stored, write_post};
use super::{FORMAT_VERSION, Storage, keys};

/// The record marking an index whose rebuild has not finished.
pub(super) const REBUILDING: &[u8] = b"m-rebuilding";
/// Posts written per index batch.
const GROUP: usize = 4096;
/// A progress line every this many posts.
const PROGRESS: u64 = 50_000;

/// What a rebuild of the index recovered from the log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rebuilt {
    /// Posts indexed again.
    pub posts: u64,
    /// Records that read back but no longer validate, left out.
    pub invalid: u64,
    /// Retractions found, whose targets are dropped again once the store is open.
    pub retractions: Vec<PostId>,
}

impl Rebuilt {
    /// What the rebuilt store lacks, in a sentence a node's admin can act on.
    pub fn what_was_lost(&self) -> &'static str {
        "registered users, invites, read cursors and peers were kept only in the index \
         and are gone: give each person a new invite (`parleyd invite`, then `parley join`, \
         their keys and posts are unchanged) and add the peers again (`parleyd peer add`, \
         or `[federation] peers` in parleyd.toml)"
    }
}

/// Builds a new index for the store in `dir` from its log (any index there is removed
/// first); returns it, open, with what it recovered.
pub(super) fn from_log(dir: &Path) -> Result<(sled::Db, Rebuilt), StorageError> {
    let index_dir = dir.join(INDEX_DIR);
    match std::fs::remove_dir_all(&index_dir) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => {
            return Err(StorageError::Io {
                path: index_dir,
                source: Arc::new(error),
            });
        }
    }
    tracing::warn!(
        path = %dir.display(),
        "the store's index is missing or unfinished: rebuilding it from the envelope log"
    );
    let index = open_sled(dir, &index_config(&index_dir))?;
    index.insert(REBUILDING, &[])?;
    index.flush()?;
    let log = Log::open(dir)?;
    let mut rebuilt = Rebuilt::default();
    let mut batch = sled::Batch::default();
    let mut in_batch = 0;
    log.scan(|id, bytes, pointer| {
        // A post appended twice (stored again after a crash lost its index entry, or
        // after its record was damaged) is indexed once, from its first good record.
        if index.contains_key(keys::post(&id))? {
            return Ok(());
        }
        let post = match decode_stored(&id, &bytes) {
            Ok(post) => post,
            Err(error) => {
                tracing::warn!(post = %id, %error, "a record of the log no longer validates; left out");
                rebuilt.invalid += 1;
                return Ok(());
            }
        };
        if let Content::Retraction(_) = post.content() {
            rebuilt.retractions.push(id);
        }
        write_post(&mut batch, &post, pointer);
        in_batch += 1;
        rebuilt.posts += 1;
        if in_batch >= GROUP {
            index.apply_batch(std::mem::take(&mut batch))?;
            in_batch = 0;
        }
        if rebuilt.posts % PROGRESS == 0 {
            tracing::info!(posts = rebuilt.posts, "rebuilding the index from the log");
        }
        Ok(())
    })?;
    index.apply_batch(batch)?;
    index.flush()?;
    index.insert(keys::META, meta_value(FORMAT_VERSION))?;
    index.remove(REBUILDING)?;
    index.flush()?;
    tracing::warn!(
        posts = rebuilt.posts,
        invalid = rebuilt.invalid,
        "rebuilt the store's index from the log; {}",
        rebuilt.what_was_lost()
    );
    Ok((index, rebuilt))
}

impl Storage {
    /// After a rebuild: drops again the bytes of posts the `retractions` (ids of stored
    /// retraction posts) withdraw, as storing them did the first time. Their earlier
    /// tombstones lived in the lost index; a target whose bytes were erased then is not
    /// held, and if a peer sends it again it is dropped on arrival, as any target that
    /// arrives after its retraction.
    pub(super) fn retract_again(&self, retractions: &[PostId]) -> Result<(), StorageError> {
        let mut pairs: BTreeMap<SpaceId, Vec<(Post, Post)>> = BTreeMap::new();
        for id in retractions {
            let Some(retraction) = self.get(id)? else {
                continue;
            };
            let Content::Retraction(r) = retraction.content() else {
                continue;
            };
            if let Some(target) = self.get(&r.target)? {
                pairs
                    .entry(retraction.space())
                    .or_default()
                    .push((retraction.clone(), target));
            }
        }
        for (space, pairs) in pairs {
            let governance = self.spine_posts(&space)?;
            let mut withdrawn = BTreeSet::new();
            for (retraction, target) in &pairs {
                withdrawn.extend(SpaceView::retracted(
                    space,
                    governance.iter().chain([retraction, target]),
                ));
            }
            self.drop_retracted(&space, &withdrawn)?;
        }
        Ok(())
    }
}

/// Whether an index that exists is the unfinished work of a rebuild.
pub(super) fn unfinished(index: &sled::Db) -> Result<bool, StorageError> {
    Ok(index.contains_key(REBUILDING)?)
}

#[cfg(test)]
mod tests {
    use parley_protocol::SecretKey;
    use parley_protocol::content::Retraction;

    use super::*;
    use crate::storage::testing::{NOW, reopen, thread_space};

    /// A space with threads, and a retraction of one of them.
    fn history() -> (Vec<Post>, PostId) {
        let ada = SecretKey::from_seed(&[1; 32]);
        let mut posts = thread_space(40);
        let space = posts[0].space();
        let target = posts[10].id();
        let retraction = Content::Retraction(Retraction { target });
        let at = NOW.saturating_add_millis(100);
        posts.push(Post::sign(&ada, space, at, retraction, NOW).unwrap());
        (posts, target)
    }

    #[test]
    fn a_lost_index_is_rebuilt_from_the_log_and_says_what_it_lost() {
        let tmp = tempfile::tempdir().unwrap();
        let (posts, target) = history();
        let space = posts[0].space();
        let before = {
            let storage = reopen(tmp.path());
            storage.insert(&posts).unwrap();
            storage
                .drop_retracted(&space, &BTreeSet::from([target]))
                .unwrap();
            storage
                .register_user(&SecretKey::from_seed(&[2; 32]).user_id(), NOW)
                .unwrap();
            storage.flush().unwrap();
            assert!(storage.rebuilt().is_none());
            storage.space_posts(&space).unwrap()
        };
        std::fs::remove_dir_all(tmp.path().join(INDEX_DIR)).unwrap();

        let storage = reopen(tmp.path());
        let rebuilt = storage.rebuilt().expect("rebuilt from the log").clone();
        assert_eq!(
            rebuilt.posts,
            posts.len() as u64 - 1,
            "all but the erased target"
        );
        assert_eq!(rebuilt.invalid, 0);
        assert!(rebuilt.what_was_lost().contains("registered users"));
        assert_eq!(storage.space_posts(&space).unwrap(), before);
        assert_eq!(storage.spine_posts(&space).unwrap().len(), 1);
        assert!(storage.genesis(&space).unwrap().is_some());
        assert!(!storage.contains(&target).unwrap());
        assert!(
            storage.users().unwrap().is_empty(),
            "users lived in the index only"
        );
        drop(storage);

        // Opened again, nothing is rebuilt twice.
        let storage = reopen(tmp.path());
        assert!(storage.rebuilt().is_none());
        assert_eq!(storage.space_posts(&space).unwrap(), before);
    }

    #[test]
    fn a_rebuild_cut_short_starts_over() {
        let tmp = tempfile::tempdir().unwrap();
        let (posts, _) = history();
        let space = posts[0].space();
        {
            let storage = reopen(tmp.path());
            storage.insert(&posts).unwrap();
            storage.flush().unwrap();
        }
        // An index holding the unfinished mark and a few entries, as a crash leaves it.
        std::fs::remove_dir_all(tmp.path().join(INDEX_DIR)).unwrap();
        {
            let index = open_sled(tmp.path(), &index_config(&tmp.path().join(INDEX_DIR))).unwrap();
            index.insert(REBUILDING, &[]).unwrap();
            index.insert(keys::post(&posts[3].id()), &[0; 16]).unwrap();
            index.flush().unwrap();
        }
        let storage = reopen(tmp.path());
        assert!(storage.rebuilt().is_some());
        // Every post but the retracted one, whose bytes the rebuild drops again.
        assert_eq!(storage.space_posts(&space).unwrap().len(), posts.len() - 1);
    }

    #[test]
    fn a_retraction_whose_target_survived_is_applied_again() {
        let tmp = tempfile::tempdir().unwrap();
        let (posts, target) = history();
        let space = posts[0].space();
        {
            // The bytes were never dropped (a crash before the erase was noted).
            let storage = reopen(tmp.path());
            storage.insert(&posts).unwrap();
            storage.flush().unwrap();
            assert!(storage.contains(&target).unwrap());
        }
        std::fs::remove_dir_all(tmp.path().join(INDEX_DIR)).unwrap();
        let storage = reopen(tmp.path());
        assert!(!storage.contains(&target).unwrap(), "dropped again");
        assert!(storage.is_retracted(&target).unwrap());
        assert_eq!(storage.space_posts(&space).unwrap().len(), posts.len() - 1);
    }
}
