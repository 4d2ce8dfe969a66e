//! `parleyd inspect`: read envelopes (raw, hex, or a spec vector file), decode and
//! validate each.

use std::io::{self, Read};
use std::path::Path;

use parley_protocol::{IdParseError, InvalidPost, Post, PostId, Timestamp};
use serde_json::Value;

/// The most input read. Far above any envelope, even in hexadecimal, and above the
/// spec's vector files.
const MAX_INPUT_BYTES: usize = 16 * 1024 * 1024;

/// Why the input could not be read as envelope bytes.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    /// The file or standard input could not be read.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The input is larger than this tool reads.
    #[error("input exceeds {limit} bytes")]
    TooLarge {
        /// [`MAX_INPUT_BYTES`].
        limit: usize,
    },
    /// The input looks like hexadecimal text but does not decode.
    #[error("input looks like hexadecimal text but is not: {0}")]
    BadHex(#[from] hex::FromHexError),
    /// The input starts like JSON but is not JSON.
    #[error("input starts with `{{` but is not JSON: {0}")]
    BadJson(#[from] serde_json::Error),
    /// A vector's `expected_id` is not a post id.
    #[error("a vector's expected_id is not a post id: {0}")]
    BadExpectedId(#[from] IdParseError),
    /// The input is JSON without a single `bytes_hex` string.
    #[error("JSON input holds no `bytes_hex` field")]
    NoVectors,
}

/// Envelopes to inspect.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Input {
    /// One envelope's bytes.
    Envelope(Vec<u8>),
    /// The envelopes of a spec vector file (`spec/vectors/*.json`), and the validator
    /// time the file names, if any.
    Vectors {
        /// The file's top-level `now`.
        now: Option<Timestamp>,
        /// Each object with a `bytes_hex`, in document order.
        vectors: Vec<Vector>,
    },
}

/// One envelope of a vector file.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Vector {
    /// The object's `name` or `kind`, else its path in the document.
    pub(crate) label: String,
    /// The decoded `bytes_hex`.
    pub(crate) bytes: Vec<u8>,
    /// The object's `expected_id`: the id the bytes were announced under.
    pub(crate) expected_id: Option<PostId>,
}

/// The outcome of inspecting one envelope.
#[derive(Debug)]
pub(crate) struct Report {
    /// What the envelope is called in a vector file.
    pub(crate) label: Option<String>,
    /// Size of the envelope bytes (after hex decoding).
    pub(crate) len: usize,
    /// The time validated against.
    pub(crate) now: Timestamp,
    /// The post, or why the bytes are not one.
    pub(crate) outcome: Result<Post, InvalidPost>,
}

/// Reads `path` (`-` for standard input) as one envelope, raw or hexadecimal, or as a
/// spec vector file.
///
/// Hexadecimal is recognised when the input holds only hex digits and whitespace, and
/// JSON when it starts with `{`. Raw envelopes are never mistaken for either: their
/// first byte is the protocol version (1).
pub(crate) fn read_input(path: &Path) -> Result<Input, ReadError> {
    let input = if path == Path::new("-") {
        read_bounded(io::stdin().lock())?
    } else {
        read_bounded(std::fs::File::open(path)?)?
    };
    parse_input(input)
}

/// Decodes and validates every envelope of `input` at `now`, checking a vector's bytes
/// against its `expected_id` where it has one.
pub(crate) fn inspect(input: Input, now: Timestamp) -> Vec<Report> {
    match input {
        Input::Envelope(bytes) => vec![Report {
            label: None,
            len: bytes.len(),
            now,
            outcome: Post::decode(&bytes, now),
        }],
        Input::Vectors { vectors, .. } => vectors
            .into_iter()
            .map(|vector| Report {
                len: vector.bytes.len(),
                now,
                outcome: match &vector.expected_id {
                    Some(expected) => Post::decode_expecting(&vector.bytes, expected, now),
                    None => Post::decode(&vector.bytes, now),
                },
                label: Some(vector.label),
            })
            .collect(),
    }
}

fn read_bounded(reader: impl Read) -> Result<Vec<u8>, ReadError> {
    let mut input = Vec::new();
    reader
        .take(MAX_INPUT_BYTES as u64 + 1)
        .read_to_end(&mut input)?;
    if input.len() > MAX_INPUT_BYTES {
        return Err(ReadError::TooLarge {
            limit: MAX_INPUT_BYTES,
        });
    }
    Ok(input)
}

fn parse_input(input: Vec<u8>) -> Result<Input, ReadError> {
    if input.trim_ascii_start().starts_with(b"{") {
        return parse_vectors(&input);
    }
    let is_hex = input.iter().any(u8::is_ascii_hexdigit)
        && input
            .iter()
            .all(|b| b.is_ascii_hexdigit() || b.is_ascii_whitespace());
    if !is_hex {
        return Ok(Input::Envelope(input));
    }
    Ok(Input::Envelope(decode_hex(&input)?))
}

fn decode_hex(text: &[u8]) -> Result<Vec<u8>, hex::FromHexError> {
    let digits: Vec<u8> = text.iter().copied().filter(u8::is_ascii_hexdigit).collect();
    hex::decode(digits)
}

fn parse_vectors(input: &[u8]) -> Result<Input, ReadError> {
    let document: Value = serde_json::from_slice(input)?;
    let now = document
        .get("now")
        .and_then(Value::as_u64)
        .map(Timestamp::from_millis);
    let mut vectors = Vec::new();
    collect_vectors(&document, "", &mut vectors)?;
    if vectors.is_empty() {
        return Err(ReadError::NoVectors);
    }
    Ok(Input::Vectors { now, vectors })
}

/// Appends every object with a `bytes_hex` under `value`, in document order.
fn collect_vectors(value: &Value, path: &str, out: &mut Vec<Vector>) -> Result<(), ReadError> {
    match value {
        Value::Object(object) => {
            if let Some(Value::String(text)) = object.get("bytes_hex") {
                let label = ["name", "kind"]
                    .iter()
                    .find_map(|key| object.get(*key).and_then(Value::as_str))
                    .map_or_else(|| path.to_owned(), str::to_owned);
                let expected_id = match object.get("expected_id") {
                    Some(Value::String(id)) => Some(id.parse()?),
                    _ => None,
                };
                out.push(Vector {
                    label,
                    bytes: decode_hex(text.as_bytes())?,
                    expected_id,
                });
            }
            for (key, child) in object {
                collect_vectors(child, &format!("{path}.{key}"), out)?;
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                collect_vectors(child, &format!("{path}[{i}]"), out)?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(input: &[u8]) -> Option<Vec<u8>> {
        match parse_input(input.to_vec()) {
            Ok(Input::Envelope(bytes)) => Some(bytes),
            _ => None,
        }
    }

    #[test]
    fn hex_with_whitespace_is_decoded() {
        assert_eq!(envelope(b"01 02\n0a\r\n"), Some(vec![1, 2, 10]));
        assert_eq!(envelope(b"ABcd"), Some(vec![0xab, 0xcd]));
    }

    #[test]
    fn raw_bytes_pass_through() {
        let raw = [1, b'a', b'b', 0, 255];
        assert_eq!(envelope(&raw), Some(raw.to_vec()));
        assert_eq!(envelope(b""), Some(Vec::new()));
        assert_eq!(envelope(b"  \n"), Some(b"  \n".to_vec()));
    }

    #[test]
    fn odd_hex_is_an_error() {
        assert!(matches!(
            parse_input(b"012".to_vec()),
            Err(ReadError::BadHex(_))
        ));
    }

    #[test]
    fn vector_files_yield_labelled_envelopes() {
        let expected_id = PostId([1; 32]);
        let json = format!(
            r#"{{"now": 5, "vectors": [
                {{"name": "first", "bytes_hex": "0102", "expected_id": "{expected_id}"}},
                {{"kind": "thread", "bytes_hex": "", "expected_id": null}},
                {{"bytes_hex": "ff", "expect": {{}}}}
            ]}}"#
        );
        let vector = |label: &str, bytes: &[u8], expected_id| Vector {
            label: label.to_owned(),
            bytes: bytes.to_vec(),
            expected_id,
        };
        let expected = Input::Vectors {
            now: Some(Timestamp(5)),
            vectors: vec![
                vector("first", &[1, 2], Some(expected_id)),
                vector("thread", &[], None),
                vector(".vectors[2]", &[255], None),
            ],
        };
        assert_eq!(parse_input(json.into_bytes()).ok(), Some(expected));
        assert!(matches!(
            parse_input(b"{}".to_vec()),
            Err(ReadError::NoVectors)
        ));
        assert!(matches!(
            parse_input(b"{nope".to_vec()),
            Err(ReadError::BadJson(_))
        ));
        let bad_id = br#"{"bytes_hex": "", "expected_id": "user1x"}"#.to_vec();
        assert!(matches!(
            parse_input(bad_id),
            Err(ReadError::BadExpectedId(_))
        ));
    }

    #[test]
    fn oversized_input_is_refused() {
        let big = io::repeat(b'0').take(MAX_INPUT_BYTES as u64 + 10);
        assert!(matches!(read_bounded(big), Err(ReadError::TooLarge { .. })));
    }
}
