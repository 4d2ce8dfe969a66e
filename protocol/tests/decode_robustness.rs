//! Every decoder, fed random bytes and mutated valid encodings (bit flips, truncations,
//! splices, insertions, length prefixes rewritten to huge values), returns a value or a
//! typed error: it never panics, and no single allocation it makes exceeds the bound
//! its input type declares (`MAX_ENVELOPE_BYTES` for envelopes).
//!
//! A counting global allocator records the largest single allocation made on the
//! current thread; each decode is measured on its own.
//!
//! Cases: 1,000 per property by default; `PROPTEST_CASES=N` changes that.
#![allow(unsafe_code)] // only the counting allocator below

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::str::FromStr;
use std::sync::OnceLock;

use parley_protocol::content::{Content, Thread};
use parley_protocol::encoding::BoundedVec;
use parley_protocol::limits::{MAX_ENVELOPE_BYTES, MAX_MENTIONS};
use parley_protocol::test_vectors::{FIXED_NOW, key, sample_posts};
use parley_protocol::{IdParseError, NodeId, Post, PostId, SpaceId, Timestamp, UserId};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------
// The counting allocator.

/// `System`, recording the largest single allocation (or reallocation target) made by
/// each thread since that thread last reset it.
struct CountingAllocator;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn record(size: usize) {
    // `try_with`: the slot may be gone while the thread is being torn down. A const
    // thread-local without a destructor never allocates, so there is no recursion.
    let _ = LARGEST.try_with(|largest| largest.set(largest.get().max(size)));
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged;
// recording a size touches only a `Cell<usize>` in a thread-local.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: forwarded as is; the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size);
        // SAFETY: as above; `ptr` and `layout` come from this allocator, i.e. `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Runs `f`, and returns what it returned with the largest single allocation it made.
fn measured<R>(f: impl FnOnce() -> R) -> (R, usize) {
    LARGEST.with(|largest| largest.set(0));
    let result = f();
    (result, LARGEST.with(Cell::get))
}

// ---------------------------------------------------------------------------------
// Inputs: valid encodings and ways to break them.

/// One valid envelope of every kind (the spec's sample posts), encoded.
fn sample_envelopes() -> &'static [Vec<u8>] {
    static SAMPLES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SAMPLES.get_or_init(|| {
        sample_posts()
            .iter()
            .map(|post| post.bytes().to_vec())
            .collect()
    })
}

/// A valid thread with random title, body and mentions, encoded: variety in the
/// lengths and positions of the length prefixes.
fn random_thread() -> impl Strategy<Value = Vec<u8>> {
    (
        "[a-zA-Z0-9][a-zA-Z0-9 ]{0,40}",
        "\\PC{0,120}",
        prop::collection::vec(any::<[u8; 32]>(), 0..4),
        0u64..3_600_000,
    )
        .prop_filter_map("signs", |(title, body, mentions, age)| {
            let mentions = mentions.into_iter().map(UserId).collect();
            let thread = Thread {
                title,
                body,
                mentions: BoundedVec::try_from_vec(mentions).ok()?,
            };
            let created_at = Timestamp(FIXED_NOW.as_millis() - age);
            let space = SpaceId([5; 32]);
            let post = Post::sign(
                &key(3),
                space,
                created_at,
                Content::Thread(thread),
                FIXED_NOW,
            );
            post.ok().map(|post| post.bytes().to_vec())
        })
}

/// A valid envelope: a sample of some kind, or a random thread.
fn valid_envelope() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (0..sample_envelopes().len()).prop_map(|i| sample_envelopes()[i].clone()),
        random_thread(),
    ]
}

/// Values a rewritten length prefix (or count) takes: huge, just over a limit, or
/// anything.
fn huge_length() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(u64::MAX),
        Just(1 << 60),
        Just(1 << 63),
        Just(1 << 32),
        Just(u64::from(u32::MAX)),
        Just(MAX_ENVELOPE_BYTES as u64 + 1),
        Just(MAX_ENVELOPE_BYTES as u64),
        Just(MAX_MENTIONS as u64 + 1),
        any::<u64>(),
    ]
}

/// One way to damage an encoding. Positions are fractions of the input's length, so
/// every mutation applies to inputs of every size.
#[derive(Clone, Debug)]
enum Mutation {
    /// Flip one bit.
    FlipBit { at: prop::sample::Index, bit: u8 },
    /// Keep only a prefix.
    Truncate { at: prop::sample::Index },
    /// Replace everything from `at` with the tail of another valid encoding.
    Splice {
        at: prop::sample::Index,
        other: Vec<u8>,
        from: prop::sample::Index,
    },
    /// Insert bytes.
    Insert {
        at: prop::sample::Index,
        bytes: Vec<u8>,
    },
    /// Remove a range.
    Remove { at: prop::sample::Index, len: usize },
    /// Rewrite a u64 that reads as a plausible length prefix (at most the bytes that
    /// follow it) to `value`, or, if none does, the u64 at `at`.
    RewriteLength {
        which: prop::sample::Index,
        at: prop::sample::Index,
        value: u64,
    },
    /// Overwrite a u32 (an enum tag, perhaps) with `value`.
    RewriteTag { at: prop::sample::Index, value: u32 },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    use prop::sample::Index;
    prop_oneof![
        (any::<Index>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
        any::<Index>().prop_map(|at| Mutation::Truncate { at }),
        (any::<Index>(), valid_envelope(), any::<Index>())
            .prop_map(|(at, other, from)| Mutation::Splice { at, other, from }),
        (any::<Index>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        (any::<Index>(), 1usize..64).prop_map(|(at, len)| Mutation::Remove { at, len }),
        (any::<Index>(), any::<Index>(), huge_length())
            .prop_map(|(which, at, value)| Mutation::RewriteLength { which, at, value }),
        (
            any::<Index>(),
            prop_oneof![Just(u32::MAX), 0u32..32, any::<u32>()]
        )
            .prop_map(|(at, value)| Mutation::RewriteTag { at, value }),
    ]
}

impl Mutation {
    fn apply(&self, bytes: &mut Vec<u8>) {
        let len = bytes.len();
        match self {
            Self::FlipBit { at, bit } if len > 0 => bytes[at.index(len)] ^= 1 << bit,
            Self::Truncate { at } => bytes.truncate(at.index(len + 1)),
            Self::Splice { at, other, from } => {
                bytes.truncate(at.index(len + 1));
                bytes.extend_from_slice(&other[from.index(other.len() + 1)..]);
            }
            Self::Insert {
                at,
                bytes: inserted,
            } => {
                let at = at.index(len + 1);
                bytes.splice(at..at, inserted.iter().copied());
            }
            Self::Remove { at, len: count } if len > 0 => {
                let start = at.index(len);
                bytes.drain(start..(start + count).min(len));
            }
            Self::RewriteLength { which, at, value } if len >= 8 => {
                let candidates = length_prefix_candidates(bytes);
                let offset = if candidates.is_empty() {
                    at.index(len - 7)
                } else {
                    candidates[which.index(candidates.len())]
                };
                bytes[offset..offset + 8].copy_from_slice(&value.to_le_bytes());
            }
            Self::RewriteTag { at, value } if len >= 4 => {
                let offset = at.index(len - 3);
                bytes[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
            }
            _ => {}
        }
    }
}

/// Offsets of u64s that could be length prefixes: non-zero and at most the number of
/// bytes after them (lengths are u64 little-endian, `spec/02-encoding.md`).
fn length_prefix_candidates(bytes: &[u8]) -> Vec<usize> {
    (0..bytes.len().saturating_sub(7))
        .filter(|&i| {
            let mut word = [0u8; 8];
            word.copy_from_slice(&bytes[i..i + 8]);
            let value = u64::from_le_bytes(word);
            value > 0 && value <= (bytes.len() - i - 8) as u64
        })
        .collect()
}

/// A valid envelope broken by one to four mutations.
fn mutated_envelope() -> impl Strategy<Value = Vec<u8>> {
    (valid_envelope(), prop::collection::vec(mutation(), 1..=4)).prop_map(
        |(mut bytes, mutations)| {
            for mutation in &mutations {
                mutation.apply(&mut bytes);
            }
            bytes
        },
    )
}

// ---------------------------------------------------------------------------------
// The decoders under test, each with its bound.

/// `Post::decode`: a value or an error, never more than `MAX_ENVELOPE_BYTES` at once,
/// and whatever it accepts is exactly its canonical encoding.
fn check_envelope(bytes: &[u8]) -> Result<(), TestCaseError> {
    let (outcome, largest) = measured(|| Post::decode(bytes, FIXED_NOW));
    prop_assert!(
        largest <= MAX_ENVELOPE_BYTES,
        "decoding {} bytes allocated {largest} bytes at once",
        bytes.len()
    );
    if let Ok(post) = outcome {
        prop_assert_eq!(post.bytes(), bytes);
        prop_assert_eq!(post.envelope().encode(), bytes);
    }
    Ok(())
}

/// Every id type's `FromStr`: a value or an error; what parses prints back the same.
fn check_ids(text: &str) -> Result<(), TestCaseError> {
    fn one<T: FromStr<Err = IdParseError> + ToString>(text: &str) -> Result<(), TestCaseError> {
        let (parsed, largest) = measured(|| text.parse::<T>());
        // Ids have no declared bound; a parse that allocates more than a few times
        // its input (plus a constant) would be a bug all the same.
        prop_assert!(
            largest <= 16 * text.len() + 1024,
            "parsing {text:?} allocated {largest}"
        );
        if let Ok(id) = parsed {
            prop_assert_eq!(id.to_string(), text);
        }
        Ok(())
    }
    one::<UserId>(text)?;
    one::<NodeId>(text)?;
    one::<PostId>(text)?;
    one::<SpaceId>(text)
}

/// A valid id text of any type, broken by a few character edits.
fn mutated_id_text() -> impl Strategy<Value = String> {
    let id = (0u8..4, any::<[u8; 32]>()).prop_map(|(kind, bytes)| match kind {
        0 => UserId(bytes).to_string(),
        1 => NodeId(bytes).to_string(),
        2 => PostId(bytes).to_string(),
        _ => SpaceId(bytes).to_string(),
    });
    let edit = (any::<prop::sample::Index>(), 0u8..5, any::<char>());
    (id, prop::collection::vec(edit, 0..4)).prop_map(|(text, edits)| {
        let mut chars: Vec<char> = text.chars().collect();
        for (at, how, c) in edits {
            let i = at.index(chars.len().max(1)).min(chars.len());
            match how {
                0 if i < chars.len() => chars[i] = c,
                1 => chars.insert(i, c),
                2 if i < chars.len() => {
                    chars.remove(i);
                }
                3 if i < chars.len() => chars[i] = chars[i].to_ascii_uppercase(),
                4 => chars.truncate(i),
                _ => {}
            }
        }
        chars.into_iter().collect()
    })
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn envelope_decode_survives_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check_envelope(&bytes)?;
    }

    #[test]
    fn envelope_decode_survives_random_bytes_after_a_valid_header(
        tail in prop::collection::vec(any::<u8>(), 0..512),
        kind in 0u32..16,
    ) {
        // Version 1, any space, author and date, a known kind: the body decoders run.
        let mut bytes = vec![1u8];
        bytes.extend_from_slice(&[7; 72]);
        bytes.extend_from_slice(&kind.to_le_bytes());
        bytes.extend_from_slice(&tail);
        check_envelope(&bytes)?;
    }

    #[test]
    fn envelope_decode_survives_mutated_envelopes(bytes in mutated_envelope()) {
        check_envelope(&bytes)?;
    }

    #[test]
    fn id_parsers_survive_random_text(text in "\\PC{0,100}|[a-z0-9]{0,100}") {
        check_ids(&text)?;
    }

    #[test]
    fn id_parsers_survive_mutated_ids(text in mutated_id_text()) {
        check_ids(&text)?;
    }
}

// ---------------------------------------------------------------------------------
// Targeted cases.

/// A 100-byte input whose first string claims 2^60 bytes is refused without
/// allocating anything near that (or near the envelope bound).
#[test]
fn huge_length_prefix_allocates_nothing_near_it() {
    let mut bytes = vec![1u8];
    bytes.extend_from_slice(&[7; 72]);
    bytes.extend_from_slice(&1u32.to_le_bytes()); // a thread: its title comes first
    bytes.extend_from_slice(&(1u64 << 60).to_le_bytes());
    bytes.resize(100, b'a');
    let (outcome, largest) = measured(|| Post::decode(&bytes, FIXED_NOW));
    assert!(outcome.is_err());
    assert!(
        largest < 4096,
        "a 100-byte input allocated {largest} bytes at once"
    );
}

/// Every sample envelope with each of its plausible length prefixes set to each huge
/// value: exhaustive over positions, where the properties above sample.
#[test]
fn every_length_prefix_of_every_kind_rewritten_to_huge_values() {
    let values = [u64::MAX, 1 << 60, 1 << 32, MAX_ENVELOPE_BYTES as u64 + 1];
    for sample in sample_envelopes() {
        for offset in length_prefix_candidates(sample) {
            for value in values {
                let mut bytes = sample.clone();
                bytes[offset..offset + 8].copy_from_slice(&value.to_le_bytes());
                let (outcome, largest) = measured(|| Post::decode(&bytes, FIXED_NOW));
                assert!(outcome.is_err(), "offset {offset} value {value}");
                assert!(
                    largest < 4096,
                    "offset {offset} value {value}: allocated {largest}"
                );
            }
        }
    }
}

/// The largest valid envelope (a thread with a full body, title and mention list)
/// decodes without any single allocation above the envelope bound.
#[test]
fn largest_valid_envelope_stays_within_the_bound() {
    use parley_protocol::limits::{MAX_BODY_BYTES, MAX_TITLE_BYTES};
    let mentions = (0..MAX_MENTIONS).map(|i| UserId([i as u8; 32])).collect();
    let thread = Thread {
        title: "t".repeat(MAX_TITLE_BYTES),
        body: "b".repeat(MAX_BODY_BYTES),
        mentions: BoundedVec::try_from_vec(mentions).unwrap(),
    };
    let created_at = Timestamp(FIXED_NOW.as_millis() - 1);
    let post = Post::sign(
        &key(3),
        SpaceId([5; 32]),
        created_at,
        Content::Thread(thread),
        FIXED_NOW,
    )
    .unwrap();
    let bytes = post.bytes().to_vec();
    assert!(
        bytes.len() > MAX_ENVELOPE_BYTES - 8 * 1024,
        "{} bytes",
        bytes.len()
    );
    let (outcome, largest) = measured(|| Post::decode(&bytes, FIXED_NOW));
    assert!(outcome.is_ok());
    assert!(
        largest <= MAX_ENVELOPE_BYTES,
        "decoding {} bytes allocated {largest} bytes at once (bound {MAX_ENVELOPE_BYTES})",
        bytes.len()
    );
}
