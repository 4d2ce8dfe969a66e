//! The bytes of a thread-list line in the read model (`h space root`): the sequence
//! number of the thread's last fold, then the line in a compact fixed layout. Lines are
//! derived data, rebuilt from the log, written on every fold: binary, not JSON, so a
//! fold costs no text encoding of ids.
//!
//! | bytes | field |
//! | --- | --- |
//! | 8 | fold sequence number (BE) |
//! | 32 | author |
//! | 8, 8 | `created_at`, `last_activity` (ms, BE) |
//! | 4 | reply count (BE) |
//! | 1 | flags: 1 edited, 2 resolved |
//! | 4 + n | title: length (BE), UTF-8 |
//! | 32, 8, 32, 4 + n | when resolved: by, at, resolve post, decision |

use parley_protocol::view::{Resolution, ThreadSummary};
use parley_protocol::{PostId, Timestamp, UserId};

use super::error::{Corruption, StorageError};
use super::keys;

const EDITED: u8 = 1;
const RESOLVED: u8 = 2;

/// The bytes of `line` (of thread `root`, whose id the key holds), folded as `seq`.
pub(super) fn encode(seq: u64, line: &ThreadSummary) -> Vec<u8> {
    let mut out = Vec::with_capacity(100 + line.title.len());
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(line.author.as_bytes());
    out.extend_from_slice(&line.created_at.as_millis().to_be_bytes());
    out.extend_from_slice(&line.last_activity.as_millis().to_be_bytes());
    out.extend_from_slice(
        &u32::try_from(line.reply_count)
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    let mut flags = 0;
    if line.edited {
        flags |= EDITED;
    }
    if line.resolution.is_some() {
        flags |= RESOLVED;
    }
    out.push(flags);
    text(&mut out, &line.title);
    if let Some(resolution) = &line.resolution {
        out.extend_from_slice(resolution.by.as_bytes());
        out.extend_from_slice(&resolution.at.as_millis().to_be_bytes());
        out.extend_from_slice(resolution.resolve.as_bytes());
        text(&mut out, &resolution.decision);
    }
    out
}

/// The fold sequence number and line stored under `key` for the thread `root`.
pub(super) fn decode(
    key: &[u8],
    root: &PostId,
    bytes: &[u8],
) -> Result<(u64, ThreadSummary), StorageError> {
    let mut reader = Reader { key, bytes, at: 0 };
    let seq = u64::from_be_bytes(reader.array()?);
    let author = UserId::from_bytes(reader.array()?);
    let created_at = reader.time()?;
    let last_activity = reader.time()?;
    let reply_count = u32::from_be_bytes(reader.array()?) as usize;
    let [flags] = reader.array::<1>()?;
    let title = reader.text()?;
    let resolution = if flags & RESOLVED != 0 {
        let by = UserId::from_bytes(reader.array()?);
        let at = reader.time()?;
        let resolve = PostId::from_bytes(reader.array()?);
        let decision = reader.text()?;
        Some(Resolution {
            decision,
            by,
            at,
            resolve,
        })
    } else {
        None
    };
    if reader.at != bytes.len() {
        return Err(reader.corrupt());
    }
    Ok((
        seq,
        ThreadSummary {
            id: *root,
            title,
            author,
            author_name: None,
            created_at,
            reply_count,
            last_activity,
            edited: flags & EDITED != 0,
            resolution,
        },
    ))
}

fn text(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(&u32::try_from(text.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(text.as_bytes());
}

/// Reads fields off stored bytes; running short is a corrupt record.
struct Reader<'a> {
    key: &'a [u8],
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], StorageError> {
        let end = self.at.checked_add(n).ok_or_else(|| self.corrupt())?;
        let slice = self.bytes.get(self.at..end).ok_or_else(|| self.corrupt())?;
        self.at = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], StorageError> {
        let slice = self.take(N)?;
        let mut out = [0; N];
        out.copy_from_slice(slice);
        Ok(out)
    }

    fn time(&mut self) -> Result<Timestamp, StorageError> {
        Ok(Timestamp::from_millis(u64::from_be_bytes(self.array()?)))
    }

    fn text(&mut self) -> Result<String, StorageError> {
        let len = u32::from_be_bytes(self.array()?) as usize;
        let bytes = self.take(len)?.to_vec();
        String::from_utf8(bytes).map_err(|_| self.corrupt())
    }

    fn corrupt(&self) -> StorageError {
        keys::corrupt(
            self.key,
            Corruption::Length {
                expected: self.at,
                found: self.bytes.len(),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(resolved: bool) -> ThreadSummary {
        ThreadSummary {
            id: PostId::from_bytes([1; 32]),
            title: "Storage engine — sled?".to_owned(),
            author: UserId::from_bytes([2; 32]),
            author_name: None,
            created_at: Timestamp::from_millis(5),
            reply_count: 7,
            last_activity: Timestamp::from_millis(9),
            edited: true,
            resolution: resolved.then(|| Resolution {
                decision: "sled it is".to_owned(),
                by: UserId::from_bytes([3; 32]),
                at: Timestamp::from_millis(8),
                resolve: PostId::from_bytes([4; 32]),
            }),
        }
    }

    #[test]
    fn lines_round_trip_and_short_records_are_corrupt() {
        for resolved in [false, true] {
            let line = line(resolved);
            let bytes = encode(42, &line);
            assert_eq!(decode(b"h", &line.id, &bytes).unwrap(), (42, line.clone()));
            for cut in [0, 8, 40, bytes.len() - 1] {
                assert!(decode(b"h", &line.id, &bytes[..cut]).is_err(), "{cut}");
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(decode(b"h", &line.id, &longer).is_err());
        }
    }
}
