//! The canonical byte encoding, and the only module that names `bincode`.
//!
//! Parley encodes with bincode 2.0.1's serde support under one fixed configuration:
//! little-endian, fixed-width integers, and a hard limit on how much a decoder may
//! claim. `spec/02-encoding.md` describes the resulting bytes without reference to
//! bincode, so another implementation (or another codec here) can reproduce them.
//!
//! Every decoder here checks the input length against a declared bound before it
//! decodes, refuses trailing bytes, and re-encodes the value to refuse any byte string
//! that is not the canonical encoding of what it decodes to.

use bincode::config::{Configuration, Fixint, Limit, LittleEndian};
use serde::{Serialize, de::DeserializeOwned};

use crate::limits::{MAX_ENVELOPE_BYTES, MAX_MESSAGE_BYTES};

/// Why a byte string could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input is longer than the bound for what it claims to be.
    #[error("input of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Size of the input.
        size: usize,
        /// The bound.
        limit: usize,
    },
    /// The input ended before the value was complete.
    #[error("input is truncated: it ends before the value is complete")]
    Truncated,
    /// The value was complete before the input ended.
    #[error("{count} unexpected bytes after the end of the value")]
    TrailingBytes {
        /// How many bytes were left over.
        count: usize,
    },
    /// A length prefix claims more bytes than the input may hold.
    #[error("a length prefix claims more bytes than the limit allows")]
    LengthOverLimit,
    /// A collection holds more items than its bound.
    #[error("a list holds more items than its limit allows")]
    TooManyItems,
    /// A string is not valid UTF-8.
    #[error("a text field is not valid UTF-8")]
    InvalidUtf8,
    /// A boolean or option tag is neither 0 nor 1.
    #[error("a flag byte is neither 0 nor 1")]
    InvalidTag,
    /// An enum tag names no variant this version knows.
    #[error("unknown variant tag {tag}")]
    UnknownVariant {
        /// The tag found.
        tag: u32,
    },
    /// The bytes decode, but are not the canonical encoding of the value.
    #[error("bytes are not in canonical form")]
    NonCanonical,
    /// The bytes are malformed in another way.
    #[error("malformed bytes")]
    Malformed,
}

impl DecodeError {
    /// A stable snake_case name for this failure, for JSON output and test vectors.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "too_large",
            Self::Truncated => "truncated",
            Self::TrailingBytes { .. } => "trailing_bytes",
            Self::LengthOverLimit => "length_over_limit",
            Self::TooManyItems => "too_many_items",
            Self::InvalidUtf8 => "invalid_utf8",
            Self::InvalidTag => "invalid_tag",
            Self::UnknownVariant { .. } => "unknown_variant",
            Self::NonCanonical => "non_canonical",
            Self::Malformed => "malformed",
        }
    }
}

type Config<const N: usize> = Configuration<LittleEndian, Fixint, Limit<N>>;

const fn config<const N: usize>() -> Config<N> {
    bincode::config::standard()
        .with_fixed_int_encoding()
        .with_little_endian()
        .with_limit::<N>()
}

/// Encodes `value` canonically.
///
/// Encoding into memory cannot fail for the plain data types of this crate; should a
/// future type make it fail, the empty vector returned is refused by every decoder.
pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    bincode::serde::encode_to_vec(value, config::<MAX_MESSAGE_BYTES>()).unwrap_or_default()
}

/// Decodes an envelope-sized value (at most [`MAX_ENVELOPE_BYTES`]).
pub(crate) fn decode_envelope<T: Serialize + DeserializeOwned>(
    bytes: &[u8],
) -> Result<T, DecodeError> {
    decode_bounded::<T, MAX_ENVELOPE_BYTES>(bytes)
}

/// Decodes a gossip-message-sized value (at most [`MAX_MESSAGE_BYTES`]).
pub(crate) fn decode_message<T: Serialize + DeserializeOwned>(
    bytes: &[u8],
) -> Result<T, DecodeError> {
    decode_bounded::<T, MAX_MESSAGE_BYTES>(bytes)
}

fn decode_bounded<T: Serialize + DeserializeOwned, const N: usize>(
    bytes: &[u8],
) -> Result<T, DecodeError> {
    if bytes.len() > N {
        return Err(DecodeError::TooLarge {
            size: bytes.len(),
            limit: N,
        });
    }
    // Decode under the smallest limit that still covers the input, so a length prefix
    // the input cannot hold fails before it is allocated: a tiny message never makes
    // the decoder reserve more than 16 times its size (or 4 KiB).
    let decoded = match bytes.len() {
        len if len <= 4 * 1024 && N >= 4 * 1024 => decode_with::<T, { 4 * 1024 }>(bytes),
        len if len <= 64 * 1024 && N >= 64 * 1024 => decode_with::<T, { 64 * 1024 }>(bytes),
        len if len <= 1024 * 1024 && N >= 1024 * 1024 => decode_with::<T, { 1024 * 1024 }>(bytes),
        _ => decode_with::<T, N>(bytes),
    };
    let (value, used) = decoded?;
    if used != bytes.len() {
        return Err(DecodeError::TrailingBytes {
            count: bytes.len() - used,
        });
    }
    if !encodes_to(&value, bytes) {
        return Err(DecodeError::NonCanonical);
    }
    Ok(value)
}

fn decode_with<T: DeserializeOwned, const L: usize>(
    bytes: &[u8],
) -> Result<(T, usize), DecodeError> {
    bincode::serde::decode_from_slice(bytes, config::<L>()).map_err(map_error)
}

/// Whether `value` encodes to exactly `bytes`, compared as the encoder writes: no copy
/// of the encoding is made. (A re-encoded copy of a value near its bound would take up
/// to twice the bound while its buffer grows, breaking "no allocation above the bound".)
fn encodes_to<T: Serialize>(value: &T, bytes: &[u8]) -> bool {
    let mut writer = CompareWriter {
        expected: bytes,
        matched: 0,
    };
    bincode::serde::encode_into_writer(value, &mut writer, config::<MAX_MESSAGE_BYTES>()).is_ok()
        && writer.matched == bytes.len()
}

/// A bincode writer that checks each write against the next expected bytes.
struct CompareWriter<'a> {
    expected: &'a [u8],
    matched: usize,
}

impl bincode::enc::write::Writer for CompareWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), bincode::error::EncodeError> {
        let end = self.matched.saturating_add(bytes.len());
        if self.expected.get(self.matched..end) != Some(bytes) {
            return Err(bincode::error::EncodeError::Other(
                "not the canonical encoding",
            ));
        }
        self.matched = end;
        Ok(())
    }
}

fn map_error(error: bincode::error::DecodeError) -> DecodeError {
    use bincode::error::DecodeError as E;
    match error {
        E::UnexpectedEnd { .. } => DecodeError::Truncated,
        E::LimitExceeded | E::OutsideUsizeRange(_) => DecodeError::LengthOverLimit,
        E::Utf8 { .. } => DecodeError::InvalidUtf8,
        E::InvalidBooleanValue(_) => DecodeError::InvalidTag,
        E::UnexpectedVariant {
            type_name: "Option<T>",
            ..
        } => DecodeError::InvalidTag,
        E::UnexpectedVariant { found, .. } => DecodeError::UnknownVariant { tag: found },
        E::OtherString(text) => map_serde_message(&text),
        E::Serde(_) => DecodeError::Malformed,
        _ => DecodeError::Malformed,
    }
}

/// Maps the messages serde's derived code raises through bincode to typed errors.
fn map_serde_message(text: &str) -> DecodeError {
    if let Some(rest) = text.strip_prefix("invalid value: integer `") {
        let tag = rest
            .split('`')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(u32::MAX);
        DecodeError::UnknownVariant { tag }
    } else if text.contains(crate::encoding::TOO_MANY_ITEMS) {
        DecodeError::TooManyItems
    } else {
        DecodeError::Malformed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_fixed_width_little_endian() {
        assert_eq!(encode(&0x0102_0304u32), vec![4, 3, 2, 1]);
        assert_eq!(encode(&1u64), vec![1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            encode(&"ab".to_string()),
            vec![2, 0, 0, 0, 0, 0, 0, 0, b'a', b'b']
        );
        assert_eq!(encode(&Some(7u8)), vec![1, 7]);
        assert_eq!(encode(&None::<u8>), vec![0]);
    }

    #[test]
    fn trailing_and_truncated_bytes_are_refused() {
        assert_eq!(
            decode_message::<u32>(&[1, 0, 0, 0, 9]),
            Err(DecodeError::TrailingBytes { count: 1 })
        );
        assert_eq!(
            decode_message::<u32>(&[1, 0, 0]),
            Err(DecodeError::Truncated)
        );
    }

    #[test]
    fn huge_length_prefix_is_refused_before_allocation() {
        let mut bytes = u64::MAX.to_le_bytes().to_vec();
        bytes.extend_from_slice(b"abc");
        assert!(decode_message::<String>(&bytes).is_err());
    }

    #[test]
    fn invalid_flags_are_refused() {
        assert_eq!(
            decode_message::<Option<u8>>(&[2, 7]),
            Err(DecodeError::InvalidTag)
        );
        assert_eq!(decode_message::<bool>(&[2]), Err(DecodeError::InvalidTag));
    }
}
