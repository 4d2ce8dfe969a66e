//! Every decoder, fed random bytes and mutated valid encodings (bit flips, truncations,
//! splices, insertions, length prefixes rewritten to huge values), returns a value or a
//! typed error: it never panics, and no single allocation it makes exceeds the bound
//! its input type declares (`MAX_ENVELOPE_BYTES` for envelopes, `MAX_MESSAGE_BYTES` for
//! messages and for a reconciliation session handling one). The decoders: `Post::decode`,
//! every id type's `FromStr`, `wire::Message::decode`, and `SyncSession::handle` fed
//! arbitrary reconciliation frames. `Post::decode_many` gives every envelope of a batch
//! the verdict `Post::decode` gives it alone.
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
use parley_protocol::encoding::{BoundedVec, ByteString};
use parley_protocol::limits::{MAX_ENVELOPE_BYTES, MAX_MENTIONS, MAX_MESSAGE_BYTES};
use parley_protocol::sync::{FRAME_VERSION, Input, Item, Output, SyncConfig, SyncSession};
use parley_protocol::test_vectors::{FIXED_NOW, key, sample_posts};
use parley_protocol::wire::{ErrorCode, Message};
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

/// Threads with titles, bodies (some multi-byte UTF-8) and mention lists of varied
/// lengths, encoded: variety in the lengths and positions of the length prefixes.
/// Signed once; signing per case would dominate the run time.
fn varied_threads() -> &'static [Vec<u8>] {
    static THREADS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    THREADS.get_or_init(|| {
        let words = ["a", "décision", "ünïcödé", "—", "🦀", "line\n", "", "x"];
        (0..24u8)
            .filter_map(|i| {
                let n = usize::from(i);
                let title = format!("thread {i} {}", "t".repeat(n * 11 % 290));
                let body: String = (0..n * 7 % 60)
                    .map(|k| words[(k + n) % words.len()])
                    .collect();
                let mentions = (0..i % 6).map(|m| UserId([m; 32])).collect();
                let thread = Thread {
                    title,
                    body,
                    mentions: BoundedVec::try_from_vec(mentions).ok()?,
                };
                let created_at = Timestamp(FIXED_NOW.as_millis() - 1_000 * u64::from(i));
                let content = Content::Thread(thread);
                let post = Post::sign(&key(3), SpaceId([5; 32]), created_at, content, FIXED_NOW);
                post.ok().map(|post| post.bytes().to_vec())
            })
            .collect()
    })
}

/// A valid envelope: a sample of some kind, or a varied thread.
fn valid_envelope() -> impl Strategy<Value = Vec<u8>> {
    let samples = sample_envelopes().len();
    (0..samples + varied_threads().len()).prop_map(move |i| match i.checked_sub(samples) {
        None => sample_envelopes()[i].clone(),
        Some(j) => varied_threads()[j].clone(),
    })
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

/// A mutation; splices take their tail from `donor`.
fn mutation(donor: BoxedStrategy<Vec<u8>>) -> impl Strategy<Value = Mutation> {
    use prop::sample::Index;
    // Besides random bytes, insert the longest varints (reconciliation frames count
    // and measure with them).
    let inserted = prop_oneof![
        prop::collection::vec(any::<u8>(), 1..16),
        Just([[0xff; 9].as_slice(), &[0x7f]].concat()),
        Just(vec![0x8f, 0xff, 0xff, 0xff, 0x7f]),
    ];
    prop_oneof![
        (any::<Index>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
        any::<Index>().prop_map(|at| Mutation::Truncate { at }),
        (any::<Index>(), donor, any::<Index>()).prop_map(|(at, other, from)| Mutation::Splice {
            at,
            other,
            from
        }),
        (any::<Index>(), inserted).prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
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

/// An input from `valid` broken by one to four mutations (splicing in other inputs
/// from `valid`).
fn mutated(valid: BoxedStrategy<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let mutations = prop::collection::vec(mutation(valid.clone()), 1..=4);
    (valid, mutations).prop_map(|(mut bytes, mutations)| {
        for mutation in &mutations {
            mutation.apply(&mut bytes);
        }
        bytes
    })
}

/// A valid envelope broken by one to four mutations.
fn mutated_envelope() -> impl Strategy<Value = Vec<u8>> {
    mutated(valid_envelope().boxed())
}

/// The items of a space for reconciliation: `count` distinct ids, dated from `seed`.
fn items(count: u16, seed: u8) -> Vec<Item> {
    (0..count)
        .map(|i| {
            let mut id = [seed; 32];
            id[..2].copy_from_slice(&i.to_le_bytes());
            let created_at = Timestamp(1_000 * u64::from(i) + u64::from(seed));
            Item::new(created_at, PostId(id))
        })
        .collect()
}

/// The space every reconciliation here is about.
const SPACE: SpaceId = SpaceId([9; 32]);

/// Every message two honest sessions exchanged, over a few pairs of item sets, from
/// equal to disjoint and from empty to large enough for several rounds.
fn sample_sync_messages() -> &'static [Message] {
    static MESSAGES: OnceLock<Vec<Message>> = OnceLock::new();
    MESSAGES.get_or_init(|| {
        let pairs = [
            (0, 0, 0, 0),
            (3, 1, 5, 1),
            (40, 1, 40, 2),
            (300, 1, 250, 1),
            (2_000, 3, 1_900, 4),
        ];
        let mut messages = Vec::new();
        for (a, seed_a, b, seed_b) in pairs {
            let mut a_items = items(a, seed_a);
            a_items.extend(items(a / 3, 200));
            let mut b_items = items(b, seed_b);
            b_items.extend(items(b / 3, 200));
            reconcile(a_items, b_items, &mut messages);
        }
        messages
    })
}

/// Runs a reconciliation between honest sessions, appending every message sent.
fn reconcile(initiator: Vec<Item>, responder: Vec<Item>, log: &mut Vec<Message>) {
    let config = SyncConfig::default();
    let (Ok(mut initiator), Ok(mut responder)) = (
        SyncSession::initiate(SPACE, initiator, config),
        SyncSession::respond(SPACE, responder, config),
    ) else {
        return;
    };
    for _ in 0..64 {
        let sent = relay(&mut initiator, &mut responder, log)
            .and_then(|a| relay(&mut responder, &mut initiator, log).map(|b| a || b));
        if sent != Some(true) {
            return;
        }
    }
}

/// Delivers `from`'s messages to `to`, logging them: whether any were sent, or `None`
/// once a session refuses one.
fn relay(from: &mut SyncSession, to: &mut SyncSession, log: &mut Vec<Message>) -> Option<bool> {
    let mut sent = false;
    while let Some(output) = from.poll_output() {
        if let Output::Send(message) = output {
            log.push(message.clone());
            sent = true;
            to.handle(Input::Received(message)).ok()?;
        }
    }
    Some(sent)
}

/// The frame of every sample reconciliation message.
fn sample_frames() -> &'static [Vec<u8>] {
    static FRAMES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    FRAMES.get_or_init(|| {
        sample_sync_messages()
            .iter()
            .filter_map(|message| match message {
                Message::ReconcileOpen { frame, .. } | Message::ReconcileFrame { frame, .. } => {
                    Some(frame.0.clone())
                }
                _ => None,
            })
            .collect()
    })
}

/// One valid message of every kind, and every sample reconciliation message, encoded.
fn sample_messages() -> &'static [Vec<u8>] {
    static MESSAGES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    MESSAGES.get_or_init(|| {
        let ids = |n: u8| BoundedVec::try_from_vec((0..n).map(|i| PostId([i; 32])).collect());
        let envelopes = sample_envelopes()
            .iter()
            .take(4)
            .map(|e| ByteString(e.clone()));
        let mut messages = vec![
            Message::Hello {
                versions: BoundedVec::try_from_vec(vec![1, 2]).unwrap_or_default(),
                node: NodeId([4; 32]),
                spaces: BoundedVec::try_from_vec(vec![SPACE, SpaceId([8; 32])]).unwrap_or_default(),
            },
            Message::Posts {
                space: SPACE,
                envelopes: BoundedVec::try_from_vec(envelopes.collect()).unwrap_or_default(),
            },
            Message::Have {
                space: SPACE,
                ids: ids(3).unwrap_or_default(),
            },
            Message::Want {
                space: SPACE,
                ids: ids(2).unwrap_or_default(),
            },
            Message::error(ErrorCode::from_u16(2), Some(SPACE), "space not shared"),
            Message::error(ErrorCode::from_u16(700), None, ""),
        ];
        messages.extend(sample_sync_messages().iter().take(12).cloned());
        messages.iter().map(Message::encode).collect()
    })
}

/// A valid message, from the samples.
fn valid_message() -> impl Strategy<Value = Vec<u8>> {
    (0..sample_messages().len()).prop_map(|i| sample_messages()[i].clone())
}

/// A reconciliation frame: random bytes (with and without the right version byte),
/// an honest frame, or an honest frame broken by mutations.
fn frame() -> impl Strategy<Value = Vec<u8>> {
    let honest = (0..sample_frames().len())
        .prop_map(|i| sample_frames()[i].clone())
        .boxed();
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        prop::collection::vec(any::<u8>(), 0..256).prop_map(|mut bytes| {
            bytes.insert(0, FRAME_VERSION);
            bytes
        }),
        honest.clone(),
        mutated(honest),
    ]
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

/// `Message::decode`: a value or an error, never more than `MAX_MESSAGE_BYTES` at
/// once, and whatever it accepts is exactly its canonical encoding.
fn check_message(bytes: &[u8]) -> Result<(), TestCaseError> {
    let (outcome, largest) = measured(|| Message::decode(bytes));
    prop_assert!(
        largest <= MAX_MESSAGE_BYTES,
        "decoding {} bytes allocated {largest} bytes at once",
        bytes.len()
    );
    if let Ok(message) = outcome {
        prop_assert_eq!(message.encode(), bytes);
    }
    Ok(())
}

/// A session (initiator or responder over `items`) fed `frames`, in the messages that
/// carry them: each `handle` returns, allocates at most `MAX_MESSAGE_BYTES` at once,
/// and every message the session sends is one its peer can decode.
fn check_session(
    initiate: bool,
    items: Vec<Item>,
    frames: &[Vec<u8>],
) -> Result<(), TestCaseError> {
    let config = SyncConfig::default();
    let session = if initiate {
        SyncSession::initiate(SPACE, items, config)
    } else {
        SyncSession::respond(SPACE, items, config)
    };
    let Ok(mut session) = session else {
        return Err(TestCaseError::fail("honest items refused"));
    };
    check_outputs(&mut session)?;
    for (i, frame) in frames.iter().enumerate() {
        let frame = ByteString(frame.clone());
        let message = if i == 0 && !initiate {
            Message::ReconcileOpen {
                space: SPACE,
                frame,
            }
        } else {
            Message::ReconcileFrame {
                space: SPACE,
                frame,
            }
        };
        let (outcome, largest) = measured(|| session.handle(Input::Received(message)));
        prop_assert!(
            largest <= MAX_MESSAGE_BYTES,
            "frame {i}: allocated {largest} bytes at once"
        );
        check_outputs(&mut session)?;
        if outcome.is_err() || session.is_closed() {
            break;
        }
    }
    Ok(())
}

fn check_outputs(session: &mut SyncSession) -> Result<(), TestCaseError> {
    while let Some(output) = session.poll_output() {
        if let Output::Send(message) = output {
            let decoded = Message::decode(&message.encode());
            prop_assert_eq!(
                decoded.as_ref(),
                Ok(&message),
                "the session sent an invalid message"
            );
        }
    }
    Ok(())
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
    fn decoding_many_gives_each_envelope_the_verdict_decoding_it_alone_gives(
        batch in prop::collection::vec(
            prop_oneof![valid_envelope(), mutated_envelope()],
            0..12,
        ),
    ) {
        // Valid envelopes repeat authors, so the shared key path is taken; mutated ones
        // bring bad keys and signatures beside good ones by the same author.
        let alone: Vec<_> = batch.iter().map(|bytes| Post::decode(bytes, FIXED_NOW)).collect();
        prop_assert_eq!(Post::decode_many(&batch, FIXED_NOW), alone);
    }

    #[test]
    fn id_parsers_survive_random_text(text in "\\PC{0,100}|[a-z0-9]{0,100}") {
        check_ids(&text)?;
    }

    #[test]
    fn id_parsers_survive_mutated_ids(text in mutated_id_text()) {
        check_ids(&text)?;
    }

    #[test]
    fn message_decode_survives_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check_message(&bytes)?;
    }

    #[test]
    fn message_decode_survives_random_bytes_after_each_tag(
        tag in 0u32..8,
        tail in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut bytes = tag.to_le_bytes().to_vec();
        bytes.extend_from_slice(&tail);
        check_message(&bytes)?;
    }

    #[test]
    fn message_decode_survives_mutated_messages(bytes in mutated(valid_message().boxed())) {
        check_message(&bytes)?;
    }

    #[test]
    fn sync_session_survives_arbitrary_frames(
        initiate in any::<bool>(),
        count in 0u16..400,
        seed in any::<u8>(),
        frames in prop::collection::vec(frame(), 1..6),
    ) {
        check_session(initiate, items(count, seed), &frames)?;
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

/// A 100-byte message whose frame claims 2^60 bytes is refused without allocating
/// anything near that.
#[test]
fn huge_frame_length_allocates_nothing_near_it() {
    let mut bytes = 1u32.to_le_bytes().to_vec(); // ReconcileOpen
    bytes.extend_from_slice(&SPACE.0);
    bytes.extend_from_slice(&(1u64 << 60).to_le_bytes());
    bytes.resize(100, FRAME_VERSION);
    let (outcome, largest) = measured(|| Message::decode(&bytes));
    assert!(outcome.is_err());
    assert!(
        largest < 4096,
        "a 100-byte message allocated {largest} bytes at once"
    );
}

/// Every sample message with each of its plausible length prefixes set to each huge
/// value allocates at most 16 times its own size (or 4 KiB): the codec decodes under the
/// smallest limit that covers the input, so a claim the input cannot hold fails before
/// it is allocated.
#[test]
fn every_length_prefix_of_every_message_rewritten_to_huge_values() {
    let values = [
        u64::MAX,
        1 << 60,
        1 << 32,
        MAX_MESSAGE_BYTES as u64 + 1,
        65_536,
        4_000_000,
    ];
    for sample in sample_messages() {
        for offset in length_prefix_candidates(sample) {
            for value in values {
                let mut bytes = sample.clone();
                bytes[offset..offset + 8].copy_from_slice(&value.to_le_bytes());
                let (_, largest) = measured(|| Message::decode(&bytes));
                let bound = (16 * bytes.len()).max(4096);
                assert!(
                    largest <= bound,
                    "offset {offset} value {value}: {} bytes allocated {largest}",
                    bytes.len()
                );
            }
        }
    }
}

/// The largest messages (a full batch of ids; envelopes filling the message bound)
/// decode without any single allocation above the message bound.
#[test]
fn largest_valid_messages_stay_within_the_bound() {
    use parley_protocol::limits::{MAX_IDS_PER_MESSAGE, MAX_POSTS_PER_BATCH};
    let per_envelope = 8 + MAX_ENVELOPE_BYTES;
    let count = ((MAX_MESSAGE_BYTES - 4 - 32 - 8) / per_envelope).min(MAX_POSTS_PER_BATCH);
    let envelopes = vec![ByteString(vec![1; MAX_ENVELOPE_BYTES]); count];
    let ids = (0..MAX_IDS_PER_MESSAGE)
        .map(|i| PostId([i as u8; 32]))
        .collect();
    let messages = [
        Message::Posts {
            space: SPACE,
            envelopes: BoundedVec::try_from_vec(envelopes).unwrap(),
        },
        Message::Have {
            space: SPACE,
            ids: BoundedVec::try_from_vec(ids).unwrap(),
        },
    ];
    for message in messages {
        let bytes = message.encode();
        let (outcome, largest) = measured(|| Message::decode(&bytes));
        assert_eq!(outcome.as_ref(), Ok(&message));
        assert!(
            largest <= MAX_MESSAGE_BYTES,
            "decoding {} bytes allocated {largest} bytes at once",
            bytes.len()
        );
    }
}

/// The fixtures hold what the properties assume: every kind, all the varied threads,
/// and honest reconciliations of several rounds (a check of the fixtures, not of the
/// decoders).
#[test]
fn fixtures_are_varied() {
    assert!(sample_envelopes().len() >= 15, "one of every kind");
    assert_eq!(varied_threads().len(), 24);
    let frames = sample_frames();
    assert!(frames.len() >= 12, "{} frames", frames.len());
    assert!(
        frames.iter().any(|f| f.len() > 1_000),
        "no multi-range frame"
    );
}
