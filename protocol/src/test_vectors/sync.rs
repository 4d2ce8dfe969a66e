//! `sync.json`: byte-exact gossip messages, invalid messages with the code each must be
//! refused with, and reconciliation transcripts (`spec/07-sync-and-gossip.md`).
//!
//! - `messages`: every `Message` variant (and the examples of spec 7.5), its fields and
//!   its bytes;
//! - `invalid_messages`: bytes a decoder must refuse, with the code (normative) and the
//!   detail (advisory) of spec 7.6; large inputs are a hex prefix followed by a run of
//!   one byte;
//! - `reconciliations`: two item sets, every message both sides send in order, and what
//!   the initiator learns (`need` sorted by id, `have` in item order).

use serde_json::{Value, json};

use crate::encoding::{BoundedVec, ByteString};
use crate::envelope::Post;
use crate::id::{NodeId, PostId, SpaceId};
use crate::limits::{
    MAX_ENVELOPE_BYTES, MAX_ERROR_TEXT_BYTES, MAX_IDS_PER_MESSAGE, MAX_MESSAGE_BYTES,
    MAX_POSTS_PER_BATCH, MAX_RECONCILE_FRAME_BYTES, MAX_SPACES_PER_HELLO, MAX_VERSIONS_PER_HELLO,
};
use crate::sync::{Input, Item, Output, SyncConfig, SyncSession};
use crate::time::Timestamp;
use crate::wire::{ErrorCode, Message};

use super::envelopes::{FIXED_NOW, key, sample_posts};

/// `sync.json`.
pub(super) fn sync() -> Value {
    let posts = sample_posts();
    let Some(space) = posts.first().map(Post::space) else {
        return Value::Null;
    };
    json!({
        "description": "Gossip messages (spec 7.5): each vector's bytes are the canonical encoding of its fields, and decode to them. Invalid messages (spec 7.6): each must be refused with `code`; `detail` is advisory. A `fill` appends `count` copies of `byte` to `prefix_hex`. Reconciliations (spec 7.3, 7.4): both parties use the default frame size limit (262144) and send exactly these messages, in this order; the initiator then reports `need` (sorted by id) and `have` (in item order), each id once.",
        "messages": messages(space, &posts),
        "invalid_messages": invalid_messages(),
        "reconciliations": [
            reconciliation(
                "id_lists",
                "three items each, two in common: one round of id lists",
                space,
                &[item(0), item(1), item(2)],
                &[item(1), item(2), item(3)],
            ),
            buckets(space),
        ],
    })
}

// ---------------------------------------------------------------------------------
// Messages.

/// Every variant, with real envelopes in `Posts`, and the examples of spec 7.5.
fn messages(space: SpaceId, posts: &[Post]) -> Value {
    let envelopes = posts
        .iter()
        .take(2)
        .map(|post| ByteString(post.bytes().to_vec()))
        .collect();
    let ids: Vec<PostId> = posts.iter().take(2).map(Post::id).collect();
    let list = |ids: Vec<PostId>| BoundedVec::try_from_vec(ids).unwrap_or_default();
    let cases = [
        (
            "hello",
            "version 1, the home node of the sample space, offering that space",
            Message::Hello {
                versions: BoundedVec::try_from_vec(vec![1]).unwrap_or_default(),
                node: key(9).node_id(),
                spaces: BoundedVec::try_from_vec(vec![space]).unwrap_or_default(),
            },
        ),
        (
            "reconcile_open",
            "the opening frame of reconciliation `id_lists` below",
            Message::ReconcileOpen {
                space,
                frame: ByteString(opening_frame(space, &[item(0), item(1), item(2)])),
            },
        ),
        (
            "reconcile_frame_closing",
            "the closing frame: version byte only",
            Message::ReconcileFrame {
                space,
                frame: ByteString(vec![0x61]),
            },
        ),
        (
            "posts",
            "the genesis and first post of the sample space (envelopes.json)",
            Message::Posts {
                space,
                envelopes: BoundedVec::try_from_vec(envelopes).unwrap_or_default(),
            },
        ),
        (
            "have",
            "the ids of those two posts",
            Message::Have {
                space,
                ids: list(ids.clone()),
            },
        ),
        (
            "want",
            "the same ids, asked for",
            Message::Want {
                space,
                ids: list(ids),
            },
        ),
        (
            "error_space_not_shared",
            "an error about a space",
            Message::error(ErrorCode::SpaceNotShared, Some(space), "space not shared"),
        ),
        (
            "error_unknown_code",
            "a code this version does not know: accepted, treated as internal",
            Message::error(ErrorCode::Unrecognized(999), None, ""),
        ),
        (
            "spec_want",
            "spec 7.5 example",
            Message::Want {
                space: SpaceId::from_bytes([0xab; 32]),
                ids: list(vec![PostId::from_bytes([0x01; 32])]),
            },
        ),
        (
            "spec_error",
            "spec 7.5 example",
            Message::error(ErrorCode::TooLarge, None, "big"),
        ),
        (
            "spec_reconcile_frame",
            "spec 7.5 example",
            Message::ReconcileFrame {
                space: SpaceId::from_bytes([0; 32]),
                frame: ByteString(vec![0x61]),
            },
        ),
        (
            "spec_hello",
            "spec 7.5 example",
            Message::Hello {
                versions: BoundedVec::try_from_vec(vec![1]).unwrap_or_default(),
                node: NodeId::from_bytes([0xcd; 32]),
                spaces: BoundedVec::new(),
            },
        ),
    ];
    Value::Array(
        cases
            .into_iter()
            .map(|(name, what, message)| {
                json!({
                    "name": name,
                    "what": what,
                    "message": message_json(&message),
                    "bytes_hex": hex::encode(message.encode()),
                })
            })
            .collect(),
    )
}

/// A message's fields as JSON: `type`, then each field (byte strings and ids in hex).
fn message_json(message: &Message) -> Value {
    let hexes = |ids: &[PostId]| -> Vec<String> { ids.iter().map(|i| hex::encode(i.0)).collect() };
    match message {
        Message::Hello {
            versions,
            node,
            spaces,
        } => json!({
            "type": "Hello",
            "versions": versions.to_vec(),
            "node_hex": hex::encode(node.0),
            "spaces_hex": spaces.iter().map(|s| hex::encode(s.0)).collect::<Vec<_>>(),
        }),
        Message::ReconcileOpen { space, frame } => json!({
            "type": "ReconcileOpen",
            "space_hex": hex::encode(space.0),
            "frame_hex": hex::encode(&frame.0),
        }),
        Message::ReconcileFrame { space, frame } => json!({
            "type": "ReconcileFrame",
            "space_hex": hex::encode(space.0),
            "frame_hex": hex::encode(&frame.0),
        }),
        Message::Posts { space, envelopes } => json!({
            "type": "Posts",
            "space_hex": hex::encode(space.0),
            "envelopes_hex": envelopes.iter().map(|e| hex::encode(&e.0)).collect::<Vec<_>>(),
        }),
        Message::Have { space, ids } => json!({
            "type": "Have",
            "space_hex": hex::encode(space.0),
            "ids_hex": hexes(ids),
        }),
        Message::Want { space, ids } => json!({
            "type": "Want",
            "space_hex": hex::encode(space.0),
            "ids_hex": hexes(ids),
        }),
        Message::Error { code, space, text } => json!({
            "type": "Error",
            "code": code.as_u16(),
            "code_name": code.name(),
            "space_hex": space.map(|s| hex::encode(s.0)),
            "text": text,
        }),
    }
}

// ---------------------------------------------------------------------------------
// Invalid messages.

/// Bytes of an invalid message: a prefix, then `count` copies of `byte`.
struct Invalid {
    name: &'static str,
    what: &'static str,
    prefix: Vec<u8>,
    fill: Option<(u8, usize)>,
}

impl Invalid {
    fn bytes(&self) -> Vec<u8> {
        let mut bytes = self.prefix.clone();
        if let Some((byte, count)) = self.fill {
            bytes.resize(bytes.len() + count, byte);
        }
        bytes
    }
}

/// `tag`, then the given parts, concatenated.
fn concat(tag: u32, parts: &[&[u8]]) -> Vec<u8> {
    let mut bytes = tag.to_le_bytes().to_vec();
    for part in parts {
        bytes.extend_from_slice(part);
    }
    bytes
}

fn u64_le(n: usize) -> [u8; 8] {
    (n as u64).to_le_bytes()
}

fn invalid_cases() -> Vec<Invalid> {
    let space = [0xab; 32];
    let want = Message::Want {
        space: SpaceId::from_bytes(space),
        ids: BoundedVec::try_from_vec(vec![PostId::from_bytes([1; 32])]).unwrap_or_default(),
    }
    .encode();
    let small = |name, what, prefix| Invalid {
        name,
        what,
        prefix,
        fill: None,
    };
    let filled = |name, what, prefix, byte, count| Invalid {
        name,
        what,
        prefix,
        fill: Some((byte, count)),
    };
    let mut trailing = want.clone();
    trailing.push(0);
    let no_versions = concat(0, &[&u64_le(0), &[0xcd; 32], &u64_le(0)]);
    let mut versions_over = concat(0, &[&u64_le(MAX_VERSIONS_PER_HELLO + 1)]);
    for _ in 0..=MAX_VERSIONS_PER_HELLO {
        versions_over.extend_from_slice(&1u16.to_le_bytes());
    }
    versions_over.extend_from_slice(&[0xcd; 32]);
    versions_over.extend_from_slice(&u64_le(0));
    vec![
        small("unknown_tag", "message tag 7", 7u32.to_le_bytes().to_vec()),
        small(
            "trailing_bytes",
            "the spec_want message and one zero byte",
            trailing,
        ),
        small(
            "truncated",
            "the spec_want message without its last byte",
            want[..want.len() - 1].to_vec(),
        ),
        small(
            "invalid_option_tag",
            "an Error whose space option tag is 02",
            concat(6, &[&3u16.to_le_bytes(), &[2], &u64_le(0)]),
        ),
        small(
            "invalid_utf8",
            "an Error whose text is the byte ff",
            concat(6, &[&3u16.to_le_bytes(), &[0], &u64_le(1), &[0xff]]),
        ),
        small(
            "hello_without_versions",
            "a Hello listing no version",
            no_versions,
        ),
        small(
            "too_many_versions",
            "a Hello listing MAX_VERSIONS_PER_HELLO + 1 versions",
            versions_over,
        ),
        filled(
            "too_many_spaces",
            "a Hello offering MAX_SPACES_PER_HELLO + 1 spaces",
            concat(
                0,
                &[
                    &u64_le(1),
                    &1u16.to_le_bytes(),
                    &[0xcd; 32],
                    &u64_le(MAX_SPACES_PER_HELLO + 1),
                ],
            ),
            0x33,
            32 * (MAX_SPACES_PER_HELLO + 1),
        ),
        small(
            "too_many_ids_count_first",
            "a Want whose count is MAX_IDS_PER_MESSAGE + 1 and no id follows: the count is refused before the missing ids",
            concat(5, &[&space, &u64_le(MAX_IDS_PER_MESSAGE + 1)]),
        ),
        filled(
            "too_many_envelopes_count_first",
            "a Posts whose count is MAX_POSTS_PER_BATCH + 1, followed by one envelope over MAX_ENVELOPE_BYTES: the count is refused first",
            concat(
                3,
                &[
                    &space,
                    &u64_le(MAX_POSTS_PER_BATCH + 1),
                    &u64_le(MAX_ENVELOPE_BYTES + 1),
                ],
            ),
            0,
            MAX_ENVELOPE_BYTES + 1,
        ),
        filled(
            "message_too_large",
            "MAX_MESSAGE_BYTES + 1 bytes: a Posts whose count is also over its bound; the size is checked first",
            concat(3, &[&space, &u64_le(MAX_POSTS_PER_BATCH + 1)]),
            0,
            MAX_MESSAGE_BYTES + 1 - 44,
        ),
        filled(
            "frame_too_large",
            "a ReconcileOpen whose frame is MAX_RECONCILE_FRAME_BYTES + 1 bytes",
            concat(1, &[&space, &u64_le(MAX_RECONCILE_FRAME_BYTES + 1)]),
            0x61,
            MAX_RECONCILE_FRAME_BYTES + 1,
        ),
        small(
            "frame_length_beyond_the_message",
            "a ReconcileFrame whose frame length claims MAX_RECONCILE_FRAME_BYTES + 1 bytes but one follows: a decoding failure, not a size",
            concat(
                2,
                &[&space, &u64_le(MAX_RECONCILE_FRAME_BYTES + 1), &[0x61]],
            ),
        ),
        filled(
            "envelope_too_large",
            "a Posts holding one envelope of MAX_ENVELOPE_BYTES + 1 bytes",
            concat(3, &[&space, &u64_le(1), &u64_le(MAX_ENVELOPE_BYTES + 1)]),
            0,
            MAX_ENVELOPE_BYTES + 1,
        ),
        filled(
            "error_text_too_long",
            "an Error whose text is MAX_ERROR_TEXT_BYTES + 1 bytes of 'x'",
            concat(
                6,
                &[&3u16.to_le_bytes(), &[0], &u64_le(MAX_ERROR_TEXT_BYTES + 1)],
            ),
            b'x',
            MAX_ERROR_TEXT_BYTES + 1,
        ),
    ]
}

fn invalid_messages() -> Value {
    Value::Array(
        invalid_cases()
            .iter()
            .map(|case| {
                let expect = match Message::decode(&case.bytes()) {
                    Ok(_) => json!({ "code": null }),
                    Err(error) => json!({
                        "code": error.code().name(),
                        "code_number": error.code().as_u16(),
                        "detail": error.detail(),
                    }),
                };
                json!({
                    "name": case.name,
                    "what": case.what,
                    "prefix_hex": hex::encode(&case.prefix),
                    "fill": case.fill.map(|(byte, count)| json!({ "byte": byte, "count": count })),
                    "expect": expect,
                })
            })
            .collect(),
    )
}

// ---------------------------------------------------------------------------------
// Reconciliations.

/// When the items of the transcripts start: an hour before `FIXED_NOW`.
fn start() -> u64 {
    FIXED_NOW.as_millis() - 3_600_000
}

/// An id for the transcripts: BLAKE3 of "parley sync vector " and `n` (u32
/// little-endian), so that no two small sets have equal fingerprint sums.
fn vector_id(n: u32) -> PostId {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"parley sync vector ");
    hasher.update(&n.to_le_bytes());
    PostId::from_bytes(*hasher.finalize().as_bytes())
}

/// Item `n` of the transcripts: one a second from the start.
fn item(n: u32) -> Item {
    Item::new(Timestamp(start() + u64::from(n) * 1_000), vector_id(n))
}

/// Extra item `k` (0 to 29): between items 0 and 1, one a millisecond, ids 1000 + k.
fn extra(k: u32) -> Item {
    Item::new(Timestamp(start() + 1 + u64::from(k)), vector_id(1_000 + k))
}

/// A transcript with fingerprints: the initiator holds items 0 to 32 but 7, 32 items,
/// so it opens with 16 buckets of two; the responder holds items 0 to 32 but 20, and 30
/// extra items inside the first bucket, which it splits into 16 buckets of its own.
fn buckets(space: SpaceId) -> Value {
    let initiator: Vec<Item> = (0..33).filter(|n| *n != 7).map(item).collect();
    let mut responder: Vec<Item> = (0..33).filter(|n| *n != 20).map(item).collect();
    responder.extend((0..30).map(extra));
    responder.sort_unstable();
    reconciliation(
        "buckets",
        "32 items against 62: fingerprints, skips, a bucket split again, then id lists; two rounds",
        space,
        &initiator,
        &responder,
    )
}

fn opening_frame(space: SpaceId, items: &[Item]) -> Vec<u8> {
    SyncSession::initiate(space, items.iter().copied(), SyncConfig::default())
        .ok()
        .and_then(|mut session| match session.poll_output() {
            Some(Output::Send(Message::ReconcileOpen { frame, .. })) => Some(frame.0),
            _ => None,
        })
        .unwrap_or_default()
}

fn items_json(items: &[Item]) -> Value {
    Value::Array(
        items
            .iter()
            .map(|i| json!({ "created_at": i.created_at.as_millis(), "id_hex": hex::encode(i.id.0) }))
            .collect(),
    )
}

/// Runs a reconciliation between the two sets and records it.
fn reconciliation(
    name: &str,
    what: &str,
    space: SpaceId,
    initiator_items: &[Item],
    responder_items: &[Item],
) -> Value {
    let config = SyncConfig::default();
    let (Ok(mut initiator), Ok(mut responder)) = (
        SyncSession::initiate(space, initiator_items.iter().copied(), config),
        SyncSession::respond(space, responder_items.iter().copied(), config),
    ) else {
        return Value::Null;
    };
    let mut transcript = Vec::new();
    let mut need = Vec::new();
    let mut have = Vec::new();
    let record = |from: &str, message: &Message, transcript: &mut Vec<Value>| {
        let frame = match message {
            Message::ReconcileOpen { frame, .. } | Message::ReconcileFrame { frame, .. } => {
                hex::encode(&frame.0)
            }
            _ => String::new(),
        };
        transcript.push(json!({
            "from": from,
            "type": message_json(message)["type"],
            "frame_hex": frame,
            "message_hex": hex::encode(message.encode()),
        }));
    };
    for _ in 0..64 {
        let mut progressed = false;
        while let Some(output) = initiator.poll_output() {
            progressed = true;
            match output {
                Output::Send(message) => {
                    record("initiator", &message, &mut transcript);
                    if responder.handle(Input::Received(message)).is_err() {
                        return Value::Null;
                    }
                }
                Output::Need(ids) => need.extend(ids),
                Output::Have(ids) => have.extend(ids),
                _ => {}
            }
        }
        while let Some(output) = responder.poll_output() {
            progressed = true;
            if let Output::Send(message) = output {
                record("responder", &message, &mut transcript);
                if initiator.handle(Input::Received(message)).is_err() {
                    return Value::Null;
                }
            }
        }
        if !progressed {
            break;
        }
    }
    json!({
        "name": name,
        "what": what,
        "space_hex": hex::encode(space.0),
        "initiator_items": items_json(initiator_items),
        "responder_items": items_json(responder_items),
        "messages": transcript,
        "rounds": initiator.outcome().rounds,
        "need_hex": need.iter().map(|id| hex::encode(id.0)).collect::<Vec<_>>(),
        "have_hex": have.iter().map(|id| hex::encode(id.0)).collect::<Vec<_>>(),
    })
}
