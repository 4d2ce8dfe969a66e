//! Opening a store: what the directory must hold, the format record, migrating an
//! older format, and sled's errors turned into ones a person can act on.
//!
//! A store directory (format 2) holds `index/`, the sled database of small records, and
//! `log/`, the envelopes ([`super::log`]). A format-1 store is a sled database in the
//! directory itself, envelopes included; opening one migrates it ([`super::migrate`]).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;

use super::error::{Corruption, StorageError};
use super::log::{LOG_DIR, Log};
use super::rebuild::{self, Rebuilt};
use super::{DEFAULT_INDEX_CACHE_BYTES, keys, migrate};

/// The store format this build writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 2;

/// The format record's value starts with this, then the version as `u32` big-endian.
const MAGIC: &[u8] = b"parley/node-store";

/// The folder of the index database, inside the store's directory.
pub(super) const INDEX_DIR: &str = "index";

/// The folder of the search index, inside the store's directory: derived data, which
/// the `search` module keeps (and rebuilds from the store).
pub const SEARCH_DIR: &str = "search";

/// sled's own files and folders in a database directory (`snap.*` files too).
const SLED_FILES: [&str; 3] = ["conf", "db", "blobs"];

/// What a store directory holds.
enum Found {
    /// Nothing: a new store.
    Nothing,
    /// A format-2 store; `v1_files` when a format-1 database is there too (a migration
    /// that ended before removing it, or was interrupted).
    Current { v1_files: bool },
    /// A format-1 store.
    Version1,
    /// A log without its index (the index was lost): rebuilt from the log.
    LogOnly,
}

/// Opens (or creates) the store in `dir`: its index, checked to be a Parley store of a
/// format this build reads, and its log. Migrates a format-1 store first, and rebuilds
/// a lost (or half-rebuilt) index from the log, saying what it recovered.
///
/// `index_cache` bounds sled's page cache (after a migration or a rebuild, this opening
/// runs with the default).
pub(super) fn open(
    dir: &Path,
    index_cache: u64,
) -> Result<(sled::Db, Log, Option<Rebuilt>), StorageError> {
    let mut rebuilt = None;
    let db = match check_directory(dir)? {
        Found::Nothing => {
            // A search index left beside no store indexes posts this store never held.
            remove_search_index(dir)?;
            open_index(dir, false)?
        }
        Found::Version1 => migrate::from_v1(dir)?,
        Found::LogOnly => {
            let (db, report) = rebuild::from_log(dir)?;
            rebuilt = Some(report);
            db
        }
        Found::Current { v1_files: false } => {
            let index = open_sled(dir, &index_config_with(&dir.join(INDEX_DIR), index_cache))?;
            if rebuild::unfinished(&index)? {
                drop(index);
                let (db, report) = rebuild::from_log(dir)?;
                rebuilt = Some(report);
                db
            } else {
                check_format(dir, &index, true, FORMAT_VERSION)?;
                index
            }
        }
        Found::Current { v1_files: true } => {
            let index = open_sled(dir, &index_config_with(&dir.join(INDEX_DIR), index_cache))?;
            if index.get(keys::META)?.is_some() {
                migrate::remove_v1_files(dir)?;
                check_format(dir, &index, true, FORMAT_VERSION)?;
                index
            } else {
                drop(index);
                migrate::from_v1(dir)?
            }
        }
    };
    let log = Log::open(dir)?;
    Ok((db, log, rebuilt))
}

/// The sled settings of a store's index: small records, no compression (compressing
/// pages of random keys costs most of an insert and saves little).
pub(super) fn index_config(path: &Path) -> sled::Config {
    index_config_with(path, DEFAULT_INDEX_CACHE_BYTES)
}

/// [`index_config`] with a page cache of `cache` bytes.
pub(super) fn index_config_with(path: &Path, cache: u64) -> sled::Config {
    sled::Config::new().path(path).cache_capacity(cache)
}

/// The sled settings a format-1 store was written with.
pub(super) fn v1_config(dir: &Path) -> sled::Config {
    sled::Config::new()
        .path(dir)
        .cache_capacity(DEFAULT_INDEX_CACHE_BYTES)
        .use_compression(true)
        .compression_factor(3)
}

/// Opens the index of the store in `dir` and checks (or writes) its format record.
fn open_index(dir: &Path, existed: bool) -> Result<sled::Db, StorageError> {
    let db = open_sled(dir, &index_config(&dir.join(INDEX_DIR)))?;
    check_format(dir, &db, existed, FORMAT_VERSION)?;
    Ok(db)
}

/// Opens a sled database, turning its errors (and panics) into ones about the store
/// in `dir`.
///
/// A damaged snapshot (sled's summary of its log, `snap.*`, rewritten from time to time)
/// does not cost the store: when sled refuses the database and snapshots are there,
/// they are moved into [`SET_ASIDE_DIR`] and sled reads its whole log instead. If it
/// still refuses, they are put back and the first error stands.
pub(super) fn open_sled(dir: &Path, config: &sled::Config) -> Result<sled::Db, StorageError> {
    let error = match open_sled_once(dir, config) {
        Err(error @ (StorageError::Unreadable { .. } | StorageError::EnginePanicked { .. })) => {
            error
        }
        other => return other,
    };
    let database = config.get_path();
    let moved = match set_aside_snapshots(&database) {
        Ok(moved) if !moved.is_empty() => moved,
        Ok(_) => return Err(error),
        Err(source) => {
            tracing::warn!(%source, "could not set the database's snapshots aside");
            return Err(error);
        }
    };
    match open_sled_once(dir, config) {
        Ok(db) => {
            tracing::warn!(
                store = %dir.display(),
                snapshots = ?moved.iter().map(|(_, to)| to.display().to_string()).collect::<Vec<_>>(),
                %error,
                "the database's snapshot was damaged: it was set aside and the database read from its log (nothing is lost; the files set aside may be deleted)"
            );
            Ok(db)
        }
        Err(_) => {
            for (from, to) in moved.iter().rev() {
                if let Err(source) = std::fs::rename(to, from) {
                    tracing::warn!(%source, file = %to.display(), "could not put a snapshot back");
                }
            }
            Err(error)
        }
    }
}

/// Where damaged snapshots of a sled database are moved, inside its folder (sled looks
/// only at the folder's own files).
pub(super) const SET_ASIDE_DIR: &str = "snapshots-set-aside";

/// Moves the sled snapshots of the database in `database` into [`SET_ASIDE_DIR`];
/// returns each file's old and new path.
fn set_aside_snapshots(
    database: &Path,
) -> Result<Vec<(std::path::PathBuf, std::path::PathBuf)>, std::io::Error> {
    let mut snapshots = Vec::new();
    for entry in std::fs::read_dir(database)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("snap.") && entry.file_type()?.is_file() {
            snapshots.push(name);
        }
    }
    if snapshots.is_empty() {
        return Ok(Vec::new());
    }
    let aside = database.join(SET_ASIDE_DIR);
    std::fs::create_dir_all(&aside)?;
    let mut moved = Vec::new();
    for name in snapshots {
        let from = database.join(&name);
        let mut to = aside.join(&name);
        let mut n = 1;
        while to.exists() {
            to = aside.join(format!("{name}.{n}"));
            n += 1;
        }
        std::fs::rename(&from, &to)?;
        moved.push((from, to));
    }
    Ok(moved)
}

/// One attempt at opening a sled database.
fn open_sled_once(dir: &Path, config: &sled::Config) -> Result<sled::Db, StorageError> {
    // sled 0.34 may panic on some damaged files instead of returning an error; a
    // damaged store must be an error, never a crash of the node (nor a backtrace
    // printed before the error that explains it).
    match quietly(|| catch_unwind(AssertUnwindSafe(|| config.open()))) {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(error)) => Err(open_error(dir, error)),
        Err(_) => Err(StorageError::EnginePanicked {
            path: dir.to_path_buf(),
        }),
    }
}

/// Runs `f` with panics on this thread kept quiet (others still report theirs): sled's
/// panics at open are caught and turned into errors. The hook that does it is
/// installed once, in front of the one there was.
fn quietly<T>(f: impl FnOnce() -> T) -> T {
    thread_local! {
        static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(std::cell::Cell::get) {
                previous(info);
            }
        }));
    });
    QUIET.with(|quiet| quiet.set(true));
    let result = f();
    QUIET.with(|quiet| quiet.set(false));
    result
}

/// What `dir` holds; refuses a path that is a file, or a directory that holds files
/// but no store.
fn check_directory(dir: &Path) -> Result<Found, StorageError> {
    let io = |source| StorageError::Io {
        path: dir.to_path_buf(),
        source: Arc::new(source),
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Found::Nothing),
        Err(error) if error.kind() == std::io::ErrorKind::NotADirectory => {
            return Err(StorageError::NotADirectory {
                path: dir.to_path_buf(),
            });
        }
        Err(error) => return Err(io(error)),
    };
    let mut names = Vec::new();
    for entry in entries {
        names.push(
            entry
                .map_err(io)?
                .file_name()
                .to_string_lossy()
                .into_owned(),
        );
    }
    // The search index is derived data: it says nothing of what the store holds.
    names.retain(|name| name != SEARCH_DIR);
    let v1_files = names.iter().any(|name| name == "db");
    if names.iter().any(|name| name == INDEX_DIR) {
        return Ok(Found::Current { v1_files });
    }
    if v1_files {
        return Ok(Found::Version1);
    }
    if names == [LOG_DIR] {
        return Ok(if holds_segments(&dir.join(LOG_DIR)) {
            Found::LogOnly
        } else {
            Found::Nothing
        });
    }
    if names.is_empty() {
        return Ok(Found::Nothing);
    }
    names.sort();
    let file = names
        .iter()
        .find(|name| !is_store_file(name))
        .or_else(|| names.first())
        .cloned()
        .unwrap_or_default();
    Err(StorageError::OtherFiles {
        path: dir.to_path_buf(),
        file,
    })
}

/// Removes the search index folder of the store directory `dir`, if there is one.
fn remove_search_index(dir: &Path) -> Result<(), StorageError> {
    let path = dir.join(SEARCH_DIR);
    match std::fs::remove_dir_all(&path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(StorageError::Io {
            path,
            source: Arc::new(error),
        }),
    }
}

/// Whether the log folder `dir` holds any segment file.
fn holds_segments(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut entries| {
        entries.any(|entry| entry.is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".seg")))
    })
}

/// Whether `name` is one of the files a store directory holds.
pub(super) fn is_store_file(name: &str) -> bool {
    SLED_FILES.contains(&name)
        || name.starts_with("snap.")
        || name == INDEX_DIR
        || name == LOG_DIR
        || name == SEARCH_DIR
}

/// Checks the format record is `version` or older; writes it (durably) into a new
/// database. A database that was there before and has no format record is refused
/// even when it reads as empty: sled may have discarded what it could not read.
pub(super) fn check_format(
    dir: &Path,
    db: &sled::Db,
    existed: bool,
    version: u32,
) -> Result<u32, StorageError> {
    match db.get(keys::META)? {
        Some(value) => {
            let found = parse_meta(&value).ok_or_else(|| {
                if value.starts_with(MAGIC) {
                    keys::corrupt(
                        keys::META,
                        Corruption::Length {
                            expected: MAGIC.len() + 4,
                            found: value.len(),
                        },
                    )
                } else {
                    StorageError::ForeignDatabase {
                        path: dir.to_path_buf(),
                    }
                }
            })?;
            if found > FORMAT_VERSION {
                return Err(StorageError::NewerFormat {
                    path: dir.to_path_buf(),
                    found,
                    supported: FORMAT_VERSION,
                });
            }
            if found == 0 || found > version {
                return Err(keys::corrupt(keys::META, Corruption::Magic));
            }
            Ok(found)
        }
        None if existed && is_empty(db) => Err(StorageError::MissingFormat {
            path: dir.to_path_buf(),
        }),
        None if is_empty(db) => {
            db.insert(keys::META, meta_value(version))?;
            db.flush()?;
            Ok(version)
        }
        None => Err(StorageError::ForeignDatabase {
            path: dir.to_path_buf(),
        }),
    }
}

/// Whether the database holds nothing at all: no key, and no tree but the default.
fn is_empty(db: &sled::Db) -> bool {
    db.is_empty() && db.tree_names().len() <= 1
}

/// The format record's value for `version`.
pub(super) fn meta_value(version: u32) -> Vec<u8> {
    let mut value = MAGIC.to_vec();
    value.extend_from_slice(&version.to_be_bytes());
    value
}

/// The version in a format record, or `None` if it is not one.
fn parse_meta(value: &[u8]) -> Option<u32> {
    let version = value.strip_prefix(MAGIC)?;
    Some(u32::from_be_bytes(version.try_into().ok()?))
}

/// sled's error at open, named for what it means here.
fn open_error(dir: &Path, error: sled::Error) -> StorageError {
    let path = dir.to_path_buf();
    match error {
        // sled 0.34.7 reports a lock held elsewhere as this `Io` error (config.rs,
        // `try_lock`); the version is pinned, and a test checks the mapping.
        sled::Error::Io(source)
            if source.kind() == std::io::ErrorKind::Other
                && source.to_string().starts_with("could not acquire lock") =>
        {
            StorageError::Locked { path }
        }
        // Parley stores are compressed; sled refuses a database written with other
        // settings, which therefore is not a Parley store.
        sled::Error::Unsupported(_) => StorageError::ForeignDatabase { path },
        sled::Error::Io(source) => StorageError::Io {
            path,
            source: Arc::new(source),
        },
        other => StorageError::Unreadable {
            path,
            source: Arc::new(other),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Storage;

    fn expect_err(dir: &Path) -> StorageError {
        match Storage::open(dir) {
            Ok(_) => panic!("{} opened", dir.display()),
            Err(error) => error,
        }
    }

    #[test]
    fn a_new_directory_becomes_a_store_that_reopens() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("db");
        drop(crate::storage::testing::reopen(&dir));
        let storage = crate::storage::testing::reopen(&dir);
        assert_eq!(
            parse_meta(&storage.db.get(keys::META).unwrap().unwrap()),
            Some(FORMAT_VERSION)
        );
        // An existing empty directory is fine too.
        drop(Storage::open(&tmp.path().join("empty")).unwrap());
    }

    #[test]
    fn a_file_is_not_a_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("file");
        std::fs::write(&file, b"hello").unwrap();
        assert!(matches!(
            expect_err(&file),
            StorageError::NotADirectory { .. }
        ));
    }

    #[test]
    fn a_directory_of_other_files_is_refused_and_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("notes.txt"), b"mine").unwrap();
        let error = expect_err(tmp.path());
        assert!(
            matches!(&error, StorageError::OtherFiles { file, .. } if file == "notes.txt"),
            "{error:?}"
        );
        assert!(error.to_string().contains("is not a parley store"));
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_foreign_sled_database_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        {
            let db = sled::open(tmp.path()).unwrap();
            db.insert(b"config", b"someone else's".as_slice()).unwrap();
            db.flush().unwrap();
        }
        assert!(matches!(
            expect_err(tmp.path()),
            StorageError::ForeignDatabase { .. }
        ));
        // A database with Parley's settings whose format record names another magic.
        let other = tempfile::tempdir().unwrap();
        {
            let db = open_like_parley(other.path());
            db.insert(keys::META, b"other/magic\0\0\0\x01".as_slice())
                .unwrap();
            db.flush().unwrap();
        }
        assert!(matches!(
            expect_err(other.path()),
            StorageError::ForeignDatabase { .. }
        ));
    }

    /// A store's index opened with the settings Parley uses, as a tool editing a
    /// Parley store would.
    fn open_like_parley(dir: &Path) -> sled::Db {
        crate::storage::testing::retry_locked(
            || index_config(&dir.join(INDEX_DIR)).open(),
            crate::storage::testing::sled_locked,
        )
    }

    #[test]
    fn a_newer_format_is_refused_and_a_broken_record_is_corrupt() {
        let tmp = tempfile::tempdir().unwrap();
        drop(crate::storage::testing::reopen(tmp.path()));
        for (value, expected) in [
            (meta_value(3), "format version 3"),
            (meta_value(0), "stored record m/ is corrupt"),
            (MAGIC.to_vec(), "stored record m/ is corrupt"),
        ] {
            {
                let db = open_like_parley(tmp.path());
                db.insert(keys::META, value).unwrap();
                db.flush().unwrap();
            }
            let error = expect_err(tmp.path());
            assert!(error.to_string().contains(expected), "{error}");
        }
        let error = {
            let db = open_like_parley(tmp.path());
            db.insert(keys::META, meta_value(7)).unwrap();
            db.flush().unwrap();
            drop(db);
            expect_err(tmp.path())
        };
        assert!(matches!(
            error,
            StorageError::NewerFormat {
                found: 7,
                supported: FORMAT_VERSION,
                ..
            }
        ));
    }

    #[test]
    fn a_store_in_use_is_locked() {
        let tmp = tempfile::tempdir().unwrap();
        let _held = crate::storage::testing::reopen(tmp.path());
        let error = expect_err(tmp.path());
        assert!(matches!(error, StorageError::Locked { .. }), "{error:?}");
        assert!(error.to_string().contains("already running"));
    }

    #[test]
    fn damaged_database_files_are_errors_not_panics() {
        type Damage = (&'static str, fn(&Path));
        let damage: [Damage; 4] = [
            ("garbage db", |dir| {
                std::fs::write(dir.join(INDEX_DIR).join("db"), vec![0xa5; 100_000]).unwrap();
            }),
            ("truncated db", |dir| {
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .open(dir.join(INDEX_DIR).join("db"))
                    .unwrap();
                file.set_len(100).unwrap();
            }),
            ("garbage conf", |dir| {
                std::fs::write(dir.join(INDEX_DIR).join("conf"), b"segment_size: banana").unwrap();
            }),
            ("flipped bytes", |dir| {
                let mut bytes = std::fs::read(dir.join(INDEX_DIR).join("db")).unwrap();
                for byte in bytes.iter_mut().skip(20).step_by(97) {
                    *byte ^= 0x5a;
                }
                std::fs::write(dir.join(INDEX_DIR).join("db"), bytes).unwrap();
            }),
        ];
        for (what, damage) in damage {
            let tmp = tempfile::tempdir().unwrap();
            {
                let storage = crate::storage::testing::reopen(tmp.path());
                storage.db.insert(b"u-something", vec![1; 3000]).unwrap();
                storage.flush().unwrap();
            }
            damage(tmp.path());
            // Before the format check refused existing databases without their format
            // record, sled read three of these as empty and the store started afresh,
            // silently losing everything.
            let opened = crate::storage::testing::retry_locked(
                || match Storage::open(tmp.path()) {
                    Err(StorageError::Locked { path }) => Err(StorageError::Locked { path }),
                    other => Ok(other),
                },
                |error| matches!(error, StorageError::Locked { .. }),
            );
            match opened {
                Err(error) => assert!(
                    matches!(
                        error,
                        StorageError::MissingFormat { .. } | StorageError::Unreadable { .. }
                    ),
                    "{what}: {error:?}"
                ),
                Ok(_) => panic!("{what}: a damaged store opened"),
            }
        }
    }

    #[test]
    fn a_damaged_snapshot_is_set_aside_and_nothing_is_lost() {
        let tmp = tempfile::tempdir().unwrap();
        let posts = crate::storage::testing::thread_space(20);
        {
            let storage = crate::storage::testing::reopen(tmp.path());
            storage.insert(&posts).unwrap();
            storage.flush().unwrap();
        }
        // sled writes a snapshot of its log as it opens a database.
        drop(crate::storage::testing::reopen(tmp.path()));
        let index = tmp.path().join(INDEX_DIR);
        let snapshots: Vec<_> = std::fs::read_dir(&index)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| {
                path.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("snap.")
            })
            .collect();
        assert!(
            !snapshots.is_empty(),
            "sled wrote a snapshot when it opened the store"
        );
        for snapshot in &snapshots {
            let mut bytes = std::fs::read(snapshot).unwrap();
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0xff;
            std::fs::write(snapshot, bytes).unwrap();
        }
        let storage = crate::storage::testing::reopen(tmp.path());
        for post in &posts {
            assert_eq!(storage.get(&post.id()).unwrap().as_ref(), Some(post));
        }
        for snapshot in &snapshots {
            let name = snapshot.file_name().unwrap();
            assert!(index.join(SET_ASIDE_DIR).join(name).exists());
        }
    }
}
