//! Migration of a format-1 store (one compressed sled database in the store's
//! directory, envelopes inside it) to format 2 (`index/` and `log/`).
//!
//! Every record is copied into a new index; envelopes (`p id`) go to the log and
//! their index entry becomes a pointer. The new index's format record is written
//! last, after everything else is durable, and only then are the old database's files
//! removed. A crash at any point leaves either the old store whole (and the next open
//! starts the migration over, discarding the half-built index and log) or the new
//! store whole (and the next open removes the old files).

use std::path::Path;
use std::sync::Arc;

use parley_protocol::PostId;
use parley_protocol::content::is_governance_tag;
use parley_protocol::envelope::{peek_header, peek_space};
use parley_protocol::sync::Item;

use super::error::{Corruption, StorageError};
use super::format::{INDEX_DIR, check_format, index_config, meta_value, open_sled, v1_config};
use super::log::{LOG_DIR, Log};
use super::{FORMAT_VERSION, keys};

/// Envelopes copied per log append and index batch.
const GROUP: usize = 4096;

/// Migrates the format-1 store in `dir` to the current format; returns the new index,
/// open (closing and reopening it could find it still locked by sled's threads).
pub(super) fn from_v1(dir: &Path) -> Result<sled::Db, StorageError> {
    let old = open_sled(dir, &v1_config(dir))?;
    check_format(dir, &old, true, 1)?;
    for leftover in [INDEX_DIR, LOG_DIR] {
        remove_dir(dir, &dir.join(leftover))?;
    }
    let index = open_sled(dir, &index_config(&dir.join(INDEX_DIR)))?;
    let log = Log::open(dir)?;
    let mut batch = sled::Batch::default();
    let mut in_batch = 0;
    let mut envelopes: Vec<(PostId, sled::IVec)> = Vec::with_capacity(GROUP);
    let mut copied = 0u64;
    for entry in old.iter() {
        let (key, value) = entry?;
        if key.as_ref() == keys::META {
            continue;
        }
        if key.first() == Some(&keys::POST) {
            let id = PostId::from_bytes(keys::single_id(&key)?);
            envelopes.push((id, value));
            if envelopes.len() == GROUP {
                move_envelopes(&log, &mut batch, &mut envelopes)?;
            }
        } else {
            batch.insert(key, value);
        }
        in_batch += 1;
        copied += 1;
        if in_batch >= GROUP {
            move_envelopes(&log, &mut batch, &mut envelopes)?;
            index.apply_batch(std::mem::take(&mut batch))?;
            in_batch = 0;
        }
    }
    move_envelopes(&log, &mut batch, &mut envelopes)?;
    index.apply_batch(batch)?;
    index.flush()?;
    index.insert(keys::META, meta_value(FORMAT_VERSION))?;
    index.flush()?;
    drop(old);
    tracing::info!(
        path = %dir.display(),
        records = copied,
        "migrated the store from format 1 to format {FORMAT_VERSION}"
    );
    remove_v1_files(dir)?;
    Ok(index)
}

/// Removes the files of a format-1 database from `dir` (after a finished migration).
pub(super) fn remove_v1_files(dir: &Path) -> Result<(), StorageError> {
    let io = |source| StorageError::Io {
        path: dir.to_path_buf(),
        source: Arc::new(source),
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        match name.as_str() {
            "blobs" => remove_dir(dir, &path)?,
            "conf" | "db" => std::fs::remove_file(&path).map_err(io)?,
            _ if name.starts_with("snap.") => std::fs::remove_file(&path).map_err(io)?,
            _ => {}
        }
    }
    Ok(())
}

/// Appends the collected envelopes to the log and puts their pointers in `batch`.
fn move_envelopes(
    log: &Log,
    batch: &mut sled::Batch,
    envelopes: &mut Vec<(PostId, sled::IVec)>,
) -> Result<(), StorageError> {
    if envelopes.is_empty() {
        return Ok(());
    }
    for (id, bytes) in envelopes.iter() {
        let computed = PostId::of_bytes(bytes);
        if computed != *id {
            return Err(keys::corrupt(
                &keys::post(id),
                Corruption::IdMismatch { computed },
            ));
        }
    }
    let records: Vec<(PostId, &[u8])> = envelopes
        .iter()
        .map(|(id, bytes)| (*id, bytes.as_ref()))
        .collect();
    let pointers = log.append(&records)?;
    for ((id, bytes), pointer) in envelopes.iter().zip(pointers) {
        batch.insert(keys::post(id), &pointer.encode());
        // Format 1 had no governance index: file each governance post from its header
        // (the envelope was validated when stored).
        if let (Some((created_at, tag)), Some(space)) = (peek_header(bytes), peek_space(bytes))
            && is_governance_tag(tag)
        {
            batch.insert(keys::governance(&space, &Item::new(created_at, *id)), &[]);
        }
    }
    envelopes.clear();
    Ok(())
}

fn remove_dir(store: &Path, path: &Path) -> Result<(), StorageError> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(StorageError::Io {
            path: store.to_path_buf(),
            source: Arc::new(error),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use parley_protocol::content::{Reply, Retraction, Thread};
    use parley_protocol::encoding::BoundedVec;
    use parley_protocol::sync::Item;
    use parley_protocol::{Content, NodeId, Post, SecretKey, Timestamp, UserId};

    use super::*;
    use crate::storage::Storage;

    const NOW: u64 = 1_800_000_000_000;

    /// Posts of one space: a genesis, threads with replies, a retraction.
    fn posts() -> Vec<Post> {
        let now = Timestamp::from_millis(NOW);
        let ada = SecretKey::from_seed(&[1; 32]);
        let genesis = parley_protocol::content::Genesis {
            name: "ops".into(),
            description: String::new(),
            home_node: NodeId([9; 32]),
            nonce: [0; 16],
        };
        let genesis = Post::sign_genesis(&ada, now, genesis, now).unwrap();
        let space = genesis.space();
        let mut posts = vec![genesis];
        for i in 0..40u64 {
            let thread = Content::Thread(Thread {
                title: format!("thread {i}"),
                body: "body ".repeat(100),
                mentions: BoundedVec::new(),
            });
            let at = Timestamp::from_millis(NOW - 10_000 + i * 10);
            let root = Post::sign(&ada, space, at, thread, now).unwrap();
            let reply = Content::Reply(Reply {
                root: root.id(),
                parent: root.id(),
                body: format!("reply {i}"),
                mentions: BoundedVec::new(),
            });
            let reply = Post::sign(&ada, space, at.saturating_add_millis(1), reply, now).unwrap();
            posts.push(root);
            posts.push(reply);
        }
        let target = posts[2].id();
        let retraction = Content::Retraction(Retraction { target });
        posts.push(Post::sign(&ada, space, now, retraction, now).unwrap());
        posts
    }

    /// Writes a format-1 store as format-1 parleyd did: envelopes under `p id` in a
    /// compressed sled database in `dir`, with the item, thread and genesis index, a
    /// tombstone, a user and the format record.
    fn write_v1(dir: &Path, posts: &[Post], retracted: &Post) {
        let db = v1_config(dir).open().unwrap();
        db.insert(keys::META, meta_value(1)).unwrap();
        for post in posts {
            let space = post.space();
            let item = Item::from(post);
            if post.id() == retracted.id() {
                let mut value = space.as_bytes().to_vec();
                value.extend_from_slice(&item.created_at.as_millis().to_be_bytes());
                db.insert(keys::tombstone(&item.id), value).unwrap();
                db.insert(keys::item(&space, &item), keys::TOMBSTONE_MARK)
                    .unwrap();
            } else {
                db.insert(keys::post(&item.id), post.bytes()).unwrap();
                db.insert(keys::item(&space, &item), &[]).unwrap();
            }
            if let Some(anchor) = super::super::posts::anchor(post.content()) {
                db.insert(keys::thread(&space, &anchor, &item), &[])
                    .unwrap();
            }
            if matches!(post.content(), Content::Genesis(_)) {
                db.insert(keys::genesis(&space, &item.id), &[]).unwrap();
            }
        }
        let user = UserId([4; 32]);
        db.insert(keys::user(&user), br#"{"joined_at":5}"#.as_slice())
            .unwrap();
        db.flush().unwrap();
    }

    fn names(dir: &Path) -> BTreeSet<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

    fn check_migrated(dir: &Path, posts: &[Post], retracted: &Post) {
        let storage = crate::storage::testing::reopen(dir);
        let space = posts[0].space();
        for post in posts {
            let expected = (post.id() != retracted.id()).then(|| post.clone());
            assert_eq!(storage.get(&post.id()).unwrap(), expected);
        }
        assert!(storage.is_retracted(&retracted.id()).unwrap());
        assert_eq!(storage.items(&space).unwrap().len(), posts.len());
        assert_eq!(storage.count(&space).unwrap(), posts.len() as u64 - 1);
        let thread: Vec<PostId> = storage
            .thread_posts(&space, &posts[1].id())
            .unwrap()
            .iter()
            .map(Post::id)
            .collect();
        let retraction = posts.last().unwrap().id();
        // The reply is retracted; the retraction is filed under it.
        assert_eq!(thread, [posts[1].id(), retraction]);
        assert!(storage.genesis(&space).unwrap().is_some());
        assert_eq!(
            storage.spine_posts(&space).unwrap(),
            [posts[0].clone()],
            "the governance index is built from the envelopes"
        );
        assert_eq!(storage.users().unwrap().len(), 1);
        assert_eq!(names(dir), BTreeSet::from(["index".into(), "log".into()]));
    }

    #[test]
    fn a_format_1_store_is_migrated_whole_and_its_old_files_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let posts = posts();
        let retracted = posts[2].clone();
        write_v1(tmp.path(), &posts, &retracted);
        check_migrated(tmp.path(), &posts, &retracted);
        // And it reopens as format 2.
        check_migrated(tmp.path(), &posts, &retracted);
    }

    #[test]
    fn an_interrupted_migration_starts_over_and_a_finished_one_is_cleaned_up() {
        let posts = posts();
        let retracted = posts[2].clone();
        // Interrupted: a half-built index (no format record) and log beside the old
        // database.
        let tmp = tempfile::tempdir().unwrap();
        write_v1(tmp.path(), &posts, &retracted);
        {
            let index = index_config(&tmp.path().join(INDEX_DIR)).open().unwrap();
            index.insert(b"u-half", b"x".as_slice()).unwrap();
            index.flush().unwrap();
            let log = Log::open(tmp.path()).unwrap();
            log.append(&[(posts[1].id(), posts[1].bytes())]).unwrap();
        }
        check_migrated(tmp.path(), &posts, &retracted);

        // Finished but the old files not yet removed: they are removed, nothing else
        // changes.
        let tmp = tempfile::tempdir().unwrap();
        write_v1(tmp.path(), &posts, &retracted);
        let old = tempfile::tempdir().unwrap();
        for name in names(tmp.path()) {
            copy(&tmp.path().join(&name), &old.path().join(&name));
        }
        drop(crate::storage::testing::reopen(tmp.path()));
        for name in names(old.path()) {
            copy(&old.path().join(&name), &tmp.path().join(&name));
        }
        assert!(names(tmp.path()).contains("db"));
        check_migrated(tmp.path(), &posts, &retracted);
    }

    #[test]
    fn a_damaged_format_1_envelope_stops_the_migration_and_keeps_the_old_store() {
        let tmp = tempfile::tempdir().unwrap();
        let posts = posts();
        write_v1(tmp.path(), &posts, &posts[2]);
        {
            let db = crate::storage::testing::retry_locked(
                || v1_config(tmp.path()).open(),
                crate::storage::testing::sled_locked,
            );
            db.insert(keys::post(&posts[3].id()), posts[4].bytes())
                .unwrap();
            db.flush().unwrap();
        }
        // Opened once the lock of the edit above is let go of.
        let error = crate::storage::testing::retry_locked(
            || match Storage::open(tmp.path()) {
                Ok(_) => panic!("the damaged store opened"),
                Err(StorageError::Locked { path }) => Err(StorageError::Locked { path }),
                Err(error) => Ok(error),
            },
            |error| matches!(error, StorageError::Locked { .. }),
        );
        assert!(
            matches!(
                &error,
                StorageError::Corrupt {
                    problem: Corruption::IdMismatch { .. },
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(names(tmp.path()).contains("db"), "the old store stays");
    }

    fn copy(from: &Path, to: &Path) {
        if from.is_dir() {
            std::fs::create_dir_all(to).unwrap();
            for entry in std::fs::read_dir(from).unwrap() {
                let entry = entry.unwrap();
                copy(&entry.path(), &to.join(entry.file_name()));
            }
        } else {
            std::fs::copy(from, to).unwrap();
        }
    }
}
