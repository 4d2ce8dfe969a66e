//! The envelope log: the bytes of stored posts, appended to segment files, so the sled
//! index holds only small keys that point into it (format version 2).
//!
//! # Files
//!
//! `log/` in the store's directory holds segments named by their number, eight decimal
//! digits and `.seg` (`00000001.seg`). A segment starts with a 16-byte header, the
//! ASCII `parley/log` padded with zeros to 12 bytes then the segment format version
//! (`u32` big-endian, 1), and continues with records:
//!
//! | bytes | what |
//! | --- | --- |
//! | 4 | `n`, the envelope's length, `u32` little-endian |
//! | 32 | the post id, BLAKE3 of the envelope |
//! | `n` | the envelope, as it travels |
//!
//! The id doubles as the record's checksum: every read hashes the bytes and compares.
//! A [`Pointer`] (segment, offset of the record, envelope length) names a record.
//!
//! # Durability
//!
//! [`Log::append`] writes a group's records with one write and syncs the segment
//! (`fdatasync`) before it returns, so an index entry written after it never points at
//! bytes a crash can lose. Records a crash leaves without an index entry are dead
//! bytes, never read. A new segment is started when the current one reaches
//! [`SEGMENT_BYTES`], and at every open: the tail of a segment is never written after a
//! restart, so a torn write stays where it is, unreferenced.
//!
//! # Erasing
//!
//! [`Log::erase`] overwrites a record with zeros and syncs: the bytes of a retracted
//! post leave the disk, though not the space they took (reclaiming it needs a
//! compaction that rewrites segments, which this version does not do).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use parley_protocol::PostId;
use parley_protocol::limits::MAX_ENVELOPE_BYTES;

use super::error::{Corruption, StorageError};

/// The folder of the segments, inside the store's directory.
pub(super) const LOG_DIR: &str = "log";
/// A segment is closed once it holds this many bytes (a group may take it past).
pub const SEGMENT_BYTES: u64 = 256 * 1024 * 1024;
/// How many zero bytes `file` holds from `offset` on (at least one: the caller found a
/// zero there), up to `end`.
fn zeros_from(file: &File, offset: u64, end: u64) -> io::Result<u64> {
    let mut run = 0u64;
    let mut chunk = vec![0u8; 4096];
    while offset + run < end {
        let take = usize::try_from((end - offset - run).min(chunk.len() as u64)).unwrap_or(0);
        file.read_exact_at(&mut chunk[..take], offset + run)?;
        match chunk[..take].iter().position(|b| *b != 0) {
            Some(first) => return Ok((run + first as u64).max(1)),
            None => run += take as u64,
        }
    }
    Ok(run.max(1))
}

/// The segment header: magic padded to 12 bytes, then the version.
const MAGIC: &[u8; 12] = b"parley/log\0\0";
const SEGMENT_VERSION: u32 = 1;
const HEADER_LEN: u64 = 16;
/// A record's bytes before its envelope: length and id.
pub(super) const RECORD_HEAD: usize = 4 + 32;

/// Where a record is: the value of a post's `p id` entry in the index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Pointer {
    /// The segment's number.
    pub(super) segment: u32,
    /// The offset of the record (its length field) in the segment.
    pub(super) offset: u64,
    /// The envelope's length.
    pub(super) len: u32,
}

/// A place in the log: records are appended in increasing positions, so a position
/// divides the records stored before it from those stored after.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Position {
    /// The segment's number.
    pub(super) segment: u32,
    /// The offset in the segment.
    pub(super) offset: u64,
}

impl Position {
    /// Length of an encoded position.
    pub(super) const LEN: usize = 12;

    /// `segment` (`u32`), `offset` (`u64`), both big-endian.
    pub(super) fn encode(&self) -> [u8; Self::LEN] {
        let mut out = [0; Self::LEN];
        out[..4].copy_from_slice(&self.segment.to_be_bytes());
        out[4..].copy_from_slice(&self.offset.to_be_bytes());
        out
    }

    /// The position in `bytes`, or `None` if they are not one.
    pub(super) fn decode(bytes: &[u8]) -> Option<Self> {
        let bytes: &[u8; Self::LEN] = bytes.try_into().ok()?;
        let (segment, offset) = bytes.split_at(4);
        Some(Self {
            segment: u32::from_be_bytes(segment.try_into().ok()?),
            offset: u64::from_be_bytes(offset.try_into().ok()?),
        })
    }
}

impl Pointer {
    /// Where the record starts.
    pub(super) fn position(&self) -> Position {
        Position {
            segment: self.segment,
            offset: self.offset,
        }
    }

    /// Length of an encoded pointer.
    pub(super) const LEN: usize = 16;

    /// `segment` (`u32`), `offset` (`u64`), `len` (`u32`), all big-endian.
    pub(super) fn encode(&self) -> [u8; Self::LEN] {
        let mut out = [0; Self::LEN];
        out[..4].copy_from_slice(&self.segment.to_be_bytes());
        out[4..12].copy_from_slice(&self.offset.to_be_bytes());
        out[12..].copy_from_slice(&self.len.to_be_bytes());
        out
    }

    /// The pointer in `bytes`, or `None` if they are not one.
    pub(super) fn decode(bytes: &[u8]) -> Option<Self> {
        let bytes: &[u8; Self::LEN] = bytes.try_into().ok()?;
        let mut segment = [0; 4];
        let mut offset = [0; 8];
        let mut len = [0; 4];
        segment.copy_from_slice(&bytes[..4]);
        offset.copy_from_slice(&bytes[4..12]);
        len.copy_from_slice(&bytes[12..]);
        Some(Self {
            segment: u32::from_be_bytes(segment),
            offset: u64::from_be_bytes(offset),
            len: u32::from_be_bytes(len),
        })
    }
}

/// The open log of a store. Appends are serialized by the store's writer lock; reads
/// run concurrently with them and with each other.
#[derive(Debug)]
pub(super) struct Log {
    dir: PathBuf,
    /// Open segments by number, each opened for reading and writing (erasing).
    files: Mutex<BTreeMap<u32, Arc<File>>>,
    /// The segment appends go to, created at the first append.
    active: Mutex<Option<Active>>,
    /// The number the next new segment takes.
    next_segment: Mutex<u32>,
}

#[derive(Debug)]
struct Active {
    number: u32,
    file: Arc<File>,
    len: u64,
}

impl Log {
    /// Opens (creating it if missing) the log in `store/log`. Appends will go to a new
    /// segment after the highest one there.
    pub(super) fn open(store: &Path) -> Result<Self, StorageError> {
        let dir = store.join(LOG_DIR);
        std::fs::create_dir_all(&dir).map_err(|e| io_error(&dir, e))?;
        let mut highest = 0;
        for entry in std::fs::read_dir(&dir).map_err(|e| io_error(&dir, e))? {
            let entry = entry.map_err(|e| io_error(&dir, e))?;
            if let Some(number) = segment_number(&entry.file_name().to_string_lossy()) {
                highest = highest.max(number);
            }
        }
        Ok(Self {
            dir,
            files: Mutex::new(BTreeMap::new()),
            active: Mutex::new(None),
            next_segment: Mutex::new(highest.saturating_add(1)),
        })
    }

    /// Where the next record will go: every record appended so far lies before it.
    /// Call under the store's writer lock, so that no append is under way.
    pub(super) fn end(&self) -> Position {
        match lock(&self.active).as_ref() {
            Some(active) => Position {
                segment: active.number,
                offset: active.len,
            },
            None => Position {
                segment: *lock(&self.next_segment),
                offset: 0,
            },
        }
    }

    /// Appends one record per `(id, envelope)` with one write, syncs the segment, and
    /// returns where each record is.
    pub(super) fn append(&self, records: &[(PostId, &[u8])]) -> Result<Vec<Pointer>, StorageError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let mut active = lock(&self.active);
        let segment = match active.take() {
            Some(current) if current.len < SEGMENT_BYTES => active.insert(current),
            _ => active.insert(self.new_segment()?),
        };
        let size: usize = records.iter().map(|(_, b)| RECORD_HEAD + b.len()).sum();
        let mut buffer = Vec::with_capacity(size);
        let mut pointers = Vec::with_capacity(records.len());
        for (id, bytes) in records {
            let len = u32::try_from(bytes.len()).map_err(|_| {
                io_error(
                    &self.segment_path(segment.number),
                    io::Error::new(io::ErrorKind::InvalidInput, "envelope over 4 GiB"),
                )
            })?;
            pointers.push(Pointer {
                segment: segment.number,
                offset: segment.len + buffer.len() as u64,
                len,
            });
            buffer.extend_from_slice(&len.to_le_bytes());
            buffer.extend_from_slice(id.as_bytes());
            buffer.extend_from_slice(bytes);
        }
        let path = self.segment_path(segment.number);
        segment
            .file
            .write_all_at(&buffer, segment.len)
            .and_then(|()| segment.file.sync_data())
            .map_err(|e| io_error(&path, e))?;
        segment.len += buffer.len() as u64;
        Ok(pointers)
    }

    /// The envelope of the record `at`, checked against the id it should have.
    /// `key` names the index entry that pointed here, for errors.
    pub(super) fn read(
        &self,
        at: Pointer,
        id: &PostId,
        key: &str,
    ) -> Result<Vec<u8>, StorageError> {
        let corrupt = |detail| StorageError::Corrupt {
            key: key.to_owned(),
            problem: Corruption::LogRecord {
                segment: at.segment,
                offset: at.offset,
                detail,
            },
        };
        let file = self.file(at.segment).map_err(|error| match error {
            LogOpen::Missing => corrupt("its segment is missing"),
            LogOpen::Failed(error) => error,
        })?;
        if at.len as usize > MAX_ENVELOPE_BYTES {
            return Err(corrupt("the index gives a length no envelope has"));
        }
        let mut record = vec![0; RECORD_HEAD + at.len as usize];
        file.read_exact_at(&mut record, at.offset)
            .map_err(|error| match error.kind() {
                io::ErrorKind::UnexpectedEof => corrupt("the segment ends before the record"),
                _ => io_error(&self.segment_path(at.segment), error),
            })?;
        let (head, bytes) = record.split_at(RECORD_HEAD);
        if head[..4] != at.len.to_le_bytes() {
            return Err(corrupt("the record's length differs from the index"));
        }
        if head[4..] != *id.as_bytes() || PostId::of_bytes(bytes) != *id {
            return Err(corrupt("the record's bytes do not hash to its id"));
        }
        record.drain(..RECORD_HEAD);
        Ok(record)
    }

    /// Every record of every segment whose bytes hash to its id, in log order, given
    /// to `visit` with where it is: what rebuilding a lost index reads. Erased records
    /// (zeros), torn tails and damaged records are stepped over: after one, the scan
    /// looks for the next record byte by byte (a run of zeros at once).
    pub(super) fn scan(
        &self,
        mut visit: impl FnMut(PostId, Vec<u8>, Pointer) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        let mut numbers = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(|e| io_error(&self.dir, e))? {
            let entry = entry.map_err(|e| io_error(&self.dir, e))?;
            if let Some(number) = segment_number(&entry.file_name().to_string_lossy()) {
                numbers.push(number);
            }
        }
        numbers.sort_unstable();
        for segment in numbers {
            let path = self.segment_path(segment);
            let file = match self.file(segment) {
                Ok(file) => file,
                Err(LogOpen::Missing) => continue,
                Err(LogOpen::Failed(error)) => return Err(error),
            };
            let end = file.metadata().map_err(|e| io_error(&path, e))?.len();
            let mut offset = HEADER_LEN;
            let mut head = [0u8; RECORD_HEAD];
            while offset + RECORD_HEAD as u64 <= end {
                file.read_exact_at(&mut head, offset)
                    .map_err(|e| io_error(&path, e))?;
                let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
                if len == 0 {
                    offset += zeros_from(&file, offset, end).map_err(|e| io_error(&path, e))?;
                    continue;
                }
                let stop = offset + RECORD_HEAD as u64 + u64::from(len);
                if len as usize > MAX_ENVELOPE_BYTES || stop > end {
                    offset += 1;
                    continue;
                }
                let mut bytes = vec![0; len as usize];
                file.read_exact_at(&mut bytes, offset + RECORD_HEAD as u64)
                    .map_err(|e| io_error(&path, e))?;
                let id = PostId::of_bytes(&bytes);
                if head[4..] != *id.as_bytes() {
                    offset += 1;
                    continue;
                }
                visit(
                    id,
                    bytes,
                    Pointer {
                        segment,
                        offset,
                        len,
                    },
                )?;
                offset = stop;
            }
        }
        Ok(())
    }

    /// The envelope bytes at `at` as they are on disk, unchecked, if the segment holds
    /// that many bytes: what a damaged record still says (its header), for finding its
    /// index entries. Never trusted as a post.
    pub(super) fn read_raw(&self, at: Pointer) -> Option<Vec<u8>> {
        self.read_prefix(at, at.len as usize)
    }

    /// The first `n` bytes (at most the whole envelope) of the envelope at `at`,
    /// unchecked: a stored header, where hashing the whole record is not worth it.
    pub(super) fn read_prefix(&self, at: Pointer, n: usize) -> Option<Vec<u8>> {
        if at.len as usize > MAX_ENVELOPE_BYTES {
            return None;
        }
        let file = self.file(at.segment).ok()?;
        let mut bytes = vec![0; n.min(at.len as usize)];
        file.read_exact_at(&mut bytes, at.offset + RECORD_HEAD as u64)
            .ok()?;
        Some(bytes)
    }

    /// Overwrites the record `at` with zeros and syncs its segment. Erasing a record
    /// twice, or one whose segment is gone, is not an error.
    pub(super) fn erase(&self, at: Pointer) -> Result<(), StorageError> {
        let file = match self.file(at.segment) {
            Ok(file) => file,
            Err(LogOpen::Missing) => return Ok(()),
            Err(LogOpen::Failed(error)) => return Err(error),
        };
        let path = self.segment_path(at.segment);
        let end = file.metadata().map_err(|e| io_error(&path, e))?.len();
        let start = at.offset.min(end);
        let stop = (at.offset + (RECORD_HEAD as u64) + u64::from(at.len)).min(end);
        if stop > start {
            let zeros = vec![0; usize::try_from(stop - start).unwrap_or(0)];
            file.write_all_at(&zeros, start)
                .and_then(|()| file.sync_data())
                .map_err(|e| io_error(&path, e))?;
        }
        Ok(())
    }

    /// Bytes the segments take.
    pub(super) fn size_on_disk(&self) -> Result<u64, StorageError> {
        let mut total = 0;
        for entry in std::fs::read_dir(&self.dir).map_err(|e| io_error(&self.dir, e))? {
            let entry = entry.map_err(|e| io_error(&self.dir, e))?;
            if segment_number(&entry.file_name().to_string_lossy()).is_some() {
                total += entry.metadata().map_err(|e| io_error(&self.dir, e))?.len();
            }
        }
        Ok(total)
    }

    /// Creates the next segment, writes its header and makes both the file and its
    /// name durable.
    fn new_segment(&self) -> Result<Active, StorageError> {
        let mut next = lock(&self.next_segment);
        let number = *next;
        let path = self.segment_path(number);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| io_error(&path, e))?;
        let mut header = [0; HEADER_LEN as usize];
        header[..12].copy_from_slice(MAGIC);
        header[12..].copy_from_slice(&SEGMENT_VERSION.to_be_bytes());
        file.write_all_at(&header, 0)
            .and_then(|()| file.sync_all())
            .map_err(|e| io_error(&path, e))?;
        File::open(&self.dir)
            .and_then(|dir| dir.sync_all())
            .map_err(|e| io_error(&self.dir, e))?;
        *next = number.saturating_add(1);
        let file = Arc::new(file);
        lock(&self.files).insert(number, Arc::clone(&file));
        Ok(Active {
            number,
            file,
            len: HEADER_LEN,
        })
    }

    /// The open segment `number`, opening it (and checking its header) on first use.
    fn file(&self, number: u32) -> Result<Arc<File>, LogOpen> {
        let mut files = lock(&self.files);
        if let Some(file) = files.get(&number) {
            return Ok(Arc::clone(file));
        }
        let path = self.segment_path(number);
        let file = match OpenOptions::new().read(true).write(true).open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Err(LogOpen::Missing),
            Err(error) => return Err(LogOpen::Failed(io_error(&path, error))),
        };
        let mut header = [0; HEADER_LEN as usize];
        let valid = file.read_exact_at(&mut header, 0).is_ok()
            && header[..12] == *MAGIC
            && header[12..] == SEGMENT_VERSION.to_be_bytes();
        if !valid {
            return Err(LogOpen::Failed(StorageError::Corrupt {
                key: format!("{LOG_DIR}/{}", segment_name(number)),
                problem: Corruption::Magic,
            }));
        }
        let file = Arc::new(file);
        files.insert(number, Arc::clone(&file));
        Ok(file)
    }

    pub(super) fn segment_path(&self, number: u32) -> PathBuf {
        self.dir.join(segment_name(number))
    }
}

/// Why a segment could not be opened.
enum LogOpen {
    /// No such file.
    Missing,
    /// Any other failure.
    Failed(StorageError),
}

/// `00000001.seg`.
fn segment_name(number: u32) -> String {
    format!("{number:08}.seg")
}

/// The number of a segment's file name, or `None` for other files.
fn segment_number(name: &str) -> Option<u32> {
    let digits = name.strip_suffix(".seg")?;
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn io_error(path: &Path, source: io::Error) -> StorageError {
    StorageError::Io {
        path: path.to_path_buf(),
        source: Arc::new(source),
    }
}

/// Takes a lock; a panic while it was held leaves nothing half-done that matters here
/// (lengths are updated only after their write succeeded), so poison is ignored.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(bytes: &[u8]) -> PostId {
        PostId::of_bytes(bytes)
    }

    #[test]
    fn records_read_back_across_reopen_in_a_new_segment() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (b"first envelope".as_slice(), b"second".as_slice());
        let pointers = {
            let log = Log::open(tmp.path()).unwrap();
            log.append(&[(id(a), a), (id(b), b)]).unwrap()
        };
        assert_eq!(pointers[0].segment, 1);
        assert_eq!(pointers[0].offset, HEADER_LEN);
        assert_eq!(pointers[1].offset, HEADER_LEN + 4 + 32 + a.len() as u64);
        let log = Log::open(tmp.path()).unwrap();
        assert_eq!(log.read(pointers[1], &id(b), "p/x").unwrap(), b);
        let c = b"third".as_slice();
        let more = log.append(&[(id(c), c)]).unwrap();
        assert_eq!(more[0].segment, 2, "a reopened log starts a new segment");
        assert_eq!(log.read(pointers[0], &id(a), "p/x").unwrap(), a);
        assert_eq!(log.read(more[0], &id(c), "p/x").unwrap(), c);
        assert_eq!(
            Pointer::decode(&pointers[1].encode()),
            Some(pointers[1]),
            "pointers round-trip"
        );
        assert_eq!(Pointer::decode(&[0; 15]), None);
    }

    #[test]
    fn damage_is_corruption_never_wrong_bytes() {
        let tmp = tempfile::tempdir().unwrap();
        let log = Log::open(tmp.path()).unwrap();
        let a = b"an envelope".as_slice();
        let at = log.append(&[(id(a), a)]).unwrap()[0];
        // Wrong id, wrong length, past the end, missing segment.
        let other = id(b"other");
        let cases = [
            (at, other),
            (Pointer { len: 3, ..at }, id(a)),
            (
                Pointer {
                    offset: 10_000,
                    ..at
                },
                id(a),
            ),
            (Pointer { segment: 9, ..at }, id(a)),
            (
                Pointer {
                    len: u32::MAX,
                    ..at
                },
                id(a),
            ),
        ];
        for (pointer, expected) in cases {
            let error = log.read(pointer, &expected, "p/ab").unwrap_err();
            assert!(
                matches!(
                    &error,
                    StorageError::Corrupt {
                        problem: Corruption::LogRecord { .. },
                        ..
                    }
                ),
                "{error:?}"
            );
            assert!(
                error
                    .to_string()
                    .starts_with("stored record p/ab is corrupt")
            );
        }
        // A flipped byte in the envelope.
        let path = tmp.path().join(LOG_DIR).join(segment_name(1));
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        let fresh = Log::open(tmp.path()).unwrap();
        assert!(fresh.read(at, &id(a), "p/ab").is_err());
        // A segment with another header.
        std::fs::write(&path, b"not a segment at all").unwrap();
        let fresh = Log::open(tmp.path()).unwrap();
        assert!(matches!(
            fresh.read(at, &id(a), "p/ab").unwrap_err(),
            StorageError::Corrupt {
                problem: Corruption::Magic,
                ..
            }
        ));
    }

    #[test]
    fn erased_records_are_zeros_on_disk() {
        let tmp = tempfile::tempdir().unwrap();
        let log = Log::open(tmp.path()).unwrap();
        let secret = b"a post that was retracted".as_slice();
        let kept = b"a post that stays".as_slice();
        let at = log
            .append(&[(id(secret), secret), (id(kept), kept)])
            .unwrap();
        log.erase(at[0]).unwrap();
        log.erase(at[0]).unwrap();
        let path = tmp.path().join(LOG_DIR).join(segment_name(1));
        let bytes = std::fs::read(&path).unwrap();
        assert!(!bytes.windows(secret.len()).any(|w| w == secret));
        assert!(log.read(at[0], &id(secret), "p/x").is_err());
        assert_eq!(log.read(at[1], &id(kept), "p/x").unwrap(), kept);
        assert!(log.size_on_disk().unwrap() >= bytes.len() as u64);
        log.erase(Pointer {
            segment: 77,
            ..at[0]
        })
        .unwrap();
    }

    #[test]
    fn segment_names() {
        assert_eq!(segment_name(3), "00000003.seg");
        assert_eq!(segment_number("00000003.seg"), Some(3));
        assert_eq!(segment_number("3.seg"), None);
        assert_eq!(segment_number("0000000x.seg"), None);
        assert_eq!(segment_number("00000003.tmp"), None);
    }
}
