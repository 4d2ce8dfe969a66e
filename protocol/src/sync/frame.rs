//! The reconciliation frame format (NIP-77 protocol version 1), checked before any
//! frame from a peer reaches the reconciliation engine (`spec/07-sync-and-gossip.md`,
//! "Reconciliation frames").
//!
//! ```text
//! frame  = version:u8 (0x61) range*
//! range  = bound mode payload
//! bound  = varint(timestamp delta) varint(prefix length, 0..=32) prefix bytes
//! mode   = varint: 0 Skip (no payload) | 1 Fingerprint (16 bytes) | 2 IdList (varint n, n × 32 bytes)
//! ```
//!
//! The check is stricter than the engine: varints must be minimal and fit in 64 bits,
//! bounds must not decrease, and the frame must end exactly after its last range.

/// The first byte of every frame: NIP-77 protocol version 1.
pub const FRAME_VERSION: u8 = 0x61;

/// Why a frame is malformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The frame is empty: it lacks even the version byte.
    #[error("the frame is empty")]
    Empty,
    /// The frame's version byte is not `0x61`.
    #[error("unsupported frame version 0x{version:02x}")]
    UnsupportedVersion {
        /// The version byte found.
        version: u8,
    },
    /// The frame ends inside a range.
    #[error("the frame ends inside a range")]
    Truncated,
    /// A varint does not fit in 64 bits.
    #[error("a varint does not fit in 64 bits")]
    VarintOverflow,
    /// A varint has a leading zero group (it is not the shortest encoding).
    #[error("a varint is not minimally encoded")]
    NonMinimalVarint,
    /// A bound's id prefix is longer than an id.
    #[error("a bound's id prefix has {len} bytes, more than 32")]
    BoundTooLong {
        /// The prefix length claimed.
        len: u64,
    },
    /// A range has a mode other than 0, 1 or 2.
    #[error("unknown range mode {mode}")]
    UnknownMode {
        /// The mode found.
        mode: u64,
    },
    /// A bound is lower than the bound before it.
    #[error("range {index} has a bound below the previous range's")]
    BoundsOutOfOrder {
        /// Position of the offending range in the frame.
        index: usize,
    },
    /// A frame that must hold ranges holds none.
    #[error("the frame holds no range")]
    NoRanges,
}

/// What a well-formed frame holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct FrameSummary {
    /// Number of ranges.
    pub(crate) ranges: usize,
    /// Number of ranges in Fingerprint mode: the other side must answer them.
    pub(crate) fingerprints: usize,
}

/// Length of an id in bytes.
const ID_LEN: usize = 32;
/// Length of a fingerprint in bytes.
const FINGERPRINT_LEN: usize = 16;

/// Checks `frame` against the format and summarises it.
pub(crate) fn check_frame(frame: &[u8]) -> Result<FrameSummary, FrameError> {
    let (&version, mut rest) = frame.split_first().ok_or(FrameError::Empty)?;
    if version != FRAME_VERSION {
        return Err(FrameError::UnsupportedVersion { version });
    }
    let mut summary = FrameSummary::default();
    let mut last_timestamp = 0u64;
    let mut previous: Option<(u64, [u8; ID_LEN])> = None;
    while !rest.is_empty() {
        let delta = read_varint(&mut rest)?;
        let timestamp = if delta == 0 {
            u64::MAX
        } else {
            last_timestamp.saturating_add(delta - 1)
        };
        last_timestamp = timestamp;
        let len = read_varint(&mut rest)?;
        if len > ID_LEN as u64 {
            return Err(FrameError::BoundTooLong { len });
        }
        let mut prefix = [0u8; ID_LEN];
        // len <= 32, so the cast is exact.
        prefix[..len as usize].copy_from_slice(take(&mut rest, len as usize)?);
        let bound = (timestamp, prefix);
        if previous.is_some_and(|p| bound < p) {
            return Err(FrameError::BoundsOutOfOrder {
                index: summary.ranges,
            });
        }
        previous = Some(bound);
        match read_varint(&mut rest)? {
            0 => {}
            1 => {
                take(&mut rest, FINGERPRINT_LEN)?;
                summary.fingerprints += 1;
            }
            2 => {
                let count = read_varint(&mut rest)?;
                let bytes = usize::try_from(count)
                    .ok()
                    .and_then(|n| n.checked_mul(ID_LEN))
                    .ok_or(FrameError::Truncated)?;
                take(&mut rest, bytes)?;
            }
            mode => return Err(FrameError::UnknownMode { mode }),
        }
        summary.ranges += 1;
    }
    Ok(summary)
}

/// Reads a NIP-77 varint: base 128, most significant group first, the high bit set on
/// every byte but the last.
pub(super) fn read_varint(input: &mut &[u8]) -> Result<u64, FrameError> {
    let mut value = 0u64;
    let mut first = true;
    loop {
        let (&byte, rest) = input.split_first().ok_or(FrameError::Truncated)?;
        *input = rest;
        if first && byte == 0x80 {
            return Err(FrameError::NonMinimalVarint);
        }
        first = false;
        if value > u64::MAX >> 7 {
            return Err(FrameError::VarintOverflow);
        }
        value = (value << 7) | u64::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
}

pub(super) fn take<'a>(input: &mut &'a [u8], n: usize) -> Result<&'a [u8], FrameError> {
    if input.len() < n {
        return Err(FrameError::Truncated);
    }
    let (head, rest) = input.split_at(n);
    *input = rest;
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smallest_frames_are_well_formed() {
        assert_eq!(
            check_frame(&[0x61]),
            Ok(FrameSummary {
                ranges: 0,
                fingerprints: 0
            })
        );
        // One range up to infinity, IdList of no ids.
        assert_eq!(
            check_frame(&[0x61, 0, 0, 2, 0]),
            Ok(FrameSummary {
                ranges: 1,
                fingerprints: 0
            })
        );
        let mut fingerprint = vec![0x61, 0, 0, 1];
        fingerprint.extend_from_slice(&[7; 16]);
        assert_eq!(
            check_frame(&fingerprint),
            Ok(FrameSummary {
                ranges: 1,
                fingerprints: 1
            })
        );
    }

    #[test]
    fn version_and_emptiness_are_checked() {
        assert_eq!(check_frame(&[]), Err(FrameError::Empty));
        assert_eq!(
            check_frame(&[0x62]),
            Err(FrameError::UnsupportedVersion { version: 0x62 })
        );
    }

    #[test]
    fn varints_must_be_minimal_and_fit() {
        assert_eq!(
            check_frame(&[0x61, 0x80, 0x01, 0, 0]),
            Err(FrameError::NonMinimalVarint)
        );
        let mut long = vec![0x61];
        long.extend_from_slice(&[0xff; 10]);
        long.push(0x7f);
        assert_eq!(check_frame(&long), Err(FrameError::VarintOverflow));
        assert_eq!(check_frame(&[0x61, 0x81]), Err(FrameError::Truncated));
        let mut input: &[u8] = &[0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
        assert_eq!(read_varint(&mut input), Ok(u64::MAX));
        let mut input: &[u8] = &[0x82, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00];
        assert_eq!(read_varint(&mut input), Err(FrameError::VarintOverflow));
        let mut input: &[u8] = &[0x81, 0x00];
        assert_eq!(read_varint(&mut input), Ok(128));
    }

    #[test]
    fn ranges_are_checked() {
        assert_eq!(
            check_frame(&[0x61, 0, 33]),
            Err(FrameError::BoundTooLong { len: 33 })
        );
        assert_eq!(
            check_frame(&[0x61, 0, 0, 3]),
            Err(FrameError::UnknownMode { mode: 3 })
        );
        assert_eq!(
            check_frame(&[0x61, 0, 0, 1, 1, 2]),
            Err(FrameError::Truncated)
        );
        assert_eq!(check_frame(&[0x61, 0, 0, 2, 1]), Err(FrameError::Truncated));
        assert_eq!(
            check_frame(&[0x61, 0, 0, 2, 0xff, 0xff, 0x7f]),
            Err(FrameError::Truncated)
        );
        assert_eq!(check_frame(&[0x61, 0, 2, 5]), Err(FrameError::Truncated));
    }

    #[test]
    fn bounds_may_repeat_but_not_decrease() {
        // (5, []) skip, then (5, []) skip: equal bounds are accepted.
        assert!(check_frame(&[0x61, 6, 0, 0, 1, 0, 0]).is_ok());
        // (5, [9]) then (5, [1]): the second is lower.
        assert_eq!(
            check_frame(&[0x61, 6, 1, 9, 0, 1, 1, 1, 0]),
            Err(FrameError::BoundsOutOfOrder { index: 1 })
        );
        // Infinity, then a finite delta: still infinity (deltas saturate), accepted.
        assert!(check_frame(&[0x61, 0, 0, 0, 5, 0, 0]).is_ok());
    }
}
