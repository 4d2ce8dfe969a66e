//! What can go wrong in the store, each failure with the facts a person needs.
//!
//! Every variant is `Clone` (sources are shared behind `Arc`) so that the committer can
//! hand one failed flush to every request of its group.

use std::path::PathBuf;
use std::sync::Arc;

use parley_protocol::{InvalidPost, PostId};

/// Why the store could not be opened, read or written.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The path exists and is not a directory.
    #[error("{path} is not a directory, so it cannot hold a parley store")]
    NotADirectory {
        /// The path given.
        path: PathBuf,
    },
    /// The directory holds files that are not a sled database.
    #[error(
        "{path} is not a parley store: it holds `{file}` and no database; choose a new or empty directory"
    )]
    OtherFiles {
        /// The directory.
        path: PathBuf,
        /// One of the files found in it.
        file: String,
    },
    /// The directory holds a sled database of some other program.
    #[error("{path} holds a database that is not a parley store")]
    ForeignDatabase {
        /// The directory.
        path: PathBuf,
    },
    /// The store was written by a newer parleyd.
    #[error(
        "the store in {path} has format version {found}, but this parleyd reads only up to version {supported}: run a newer parleyd"
    )]
    NewerFormat {
        /// The directory.
        path: PathBuf,
        /// The version the store records.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// An existing database without the format record, and nothing in it.
    #[error(
        "the store in {path} has no format record: it is damaged, or its creation was interrupted; move it away and run `parleyd init` again"
    )]
    MissingFormat {
        /// The directory.
        path: PathBuf,
    },
    /// Another process (usually a running parleyd) holds the store.
    #[error("the store in {path} is in use by another process (is parleyd already running?)")]
    Locked {
        /// The directory.
        path: PathBuf,
    },
    /// sled refused the database files as corrupt or unsupported.
    #[error("the store in {path} is damaged or was written by an incompatible version: {source}")]
    Unreadable {
        /// The directory.
        path: PathBuf,
        /// What sled reported.
        source: Arc<sled::Error>,
    },
    /// sled panicked while reading the database files.
    #[error("the store in {path} is damaged: the database engine failed while reading it")]
    EnginePanicked {
        /// The directory.
        path: PathBuf,
    },
    /// The file system failed while opening the store.
    #[error("could not open the store in {path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// What the operating system reported.
        source: Arc<std::io::Error>,
    },
    /// One stored record does not decode: the data on disk is damaged.
    #[error("stored record {key} is corrupt: {problem}")]
    Corrupt {
        /// The record's key, as `TAG/HEX`.
        key: String,
        /// What is wrong with it.
        problem: Corruption,
    },
    /// The database failed while the store was open.
    #[error("the database failed: {0}")]
    Database(#[source] Arc<sled::Error>),
    /// The disk holding the store is (nearly) full: posts are refused, so that what is
    /// stored stays readable, until space is freed.
    #[error(
        "the disk holding the store has {free} bytes free, less than the {min_free} this node keeps free: posts are refused until space is freed (reads go on)"
    )]
    DiskFull {
        /// Bytes free for the node on the store's filesystem.
        free: u64,
        /// Bytes the node keeps free (`[storage] min_free_mb`).
        min_free: u64,
    },
    /// The commit task is gone (the runtime is shutting down).
    #[error("the commit task has stopped, so the post was not stored")]
    CommitterStopped,
}

/// What is wrong with a corrupt record.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Corruption {
    /// A stored envelope no longer validates.
    #[error("the envelope does not validate: {0}")]
    Envelope(InvalidPost),
    /// A stored envelope's bytes hash to another id than its key.
    #[error("its bytes have id {computed}")]
    IdMismatch {
        /// The id the bytes hash to.
        computed: PostId,
    },
    /// A key or a fixed-layout value has the wrong length.
    #[error("expected {expected} bytes, found {found}")]
    Length {
        /// The length the layout requires.
        expected: usize,
        /// The length found.
        found: usize,
    },
    /// The format record does not start with the store's magic string.
    #[error("the format record is not parley's")]
    Magic,
    /// A JSON record does not parse.
    #[error("the record does not parse: {0}")]
    Record(Arc<serde_json::Error>),
    /// A JSON record holds an id that does not parse.
    #[error("the record holds a malformed id: {0}")]
    Id(parley_protocol::IdParseError),
    /// The kept sums of a space's reconciliation items disagree with the items.
    #[error("the sums of the space's items disagree with the items")]
    Sums,
    /// A tombstone names another space than the index that lists it.
    #[error("the tombstone belongs to another space")]
    SpaceMismatch,
    /// The log record an index entry points at is missing or damaged.
    #[error("its log record (segment {segment}, offset {offset}) is damaged: {detail}")]
    LogRecord {
        /// The segment's number.
        segment: u32,
        /// The record's offset in the segment.
        offset: u64,
        /// What is wrong.
        detail: &'static str,
    },
}

/// Why an invite could not be redeemed.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InviteError {
    /// No invite has this token.
    #[error("no such invite")]
    Unknown,
    /// Every use of the invite has been taken.
    #[error("the invite has been used")]
    Used,
    /// The invite expired.
    #[error("the invite has expired")]
    Expired,
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<sled::Error> for StorageError {
    fn from(error: sled::Error) -> Self {
        Self::Database(Arc::new(error))
    }
}
