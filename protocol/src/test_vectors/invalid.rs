//! Vectors for invalid inputs, each with the error a validator must report.

use serde_json::{Value, json};

use crate::content::{Content, Genesis, Reaction, Thread};
use crate::encoding::BoundedVec;
use crate::envelope::{Envelope, Post};
use crate::id::{PostId, SpaceId, UserId};
use crate::keys::{SecretKey, Signature};
use crate::limits::{MAX_BODY_BYTES, MAX_CLOCK_SKEW_MS, MAX_ENVELOPE_BYTES, MAX_MENTIONS};
use crate::time::Timestamp;
use crate::validate::InvalidPost;

use super::envelopes::{FIXED_NOW, key, sample_posts};

/// The group order l, little-endian, for building a malleated signature.
const GROUP_ORDER: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// Signs an envelope as given, without validating it, so invalid fields can be built.
fn signed(key: &SecretKey, space: SpaceId, created_at: Timestamp, content: Content) -> Vec<u8> {
    let mut envelope = Envelope {
        version: 1,
        space,
        author: key.user_id(),
        created_at,
        content,
        signature: Signature([0; 64]),
    };
    envelope.signature = key.sign(&envelope.signing_message());
    envelope.encode()
}

fn thread(title: &str, body: String) -> Content {
    Content::Thread(Thread {
        title: title.to_owned(),
        body,
        mentions: BoundedVec::new(),
    })
}

/// One invalid case: a name, what it shows, its bytes and the expected failure.
struct Case {
    name: &'static str,
    what: &'static str,
    bytes: Vec<u8>,
    expected_id: Option<PostId>,
}

/// Every invalid case, with its bytes.
fn cases() -> Vec<Case> {
    let posts = sample_posts();
    let Some(thread_post) = posts
        .iter()
        .find(|p| matches!(p.content(), Content::Thread(_)))
    else {
        return Vec::new();
    };
    let valid = thread_post.bytes().to_vec();
    let space = thread_post.space();
    let author = key(1);
    let at = thread_post.created_at();
    let len = valid.len();
    let mut cases = Vec::new();
    let mut push = |name, what, bytes: Vec<u8>| {
        cases.push(Case {
            name,
            what,
            bytes,
            expected_id: None,
        });
    };

    let mut flipped = valid.clone();
    flipped[len - 80] ^= 0x01;
    push(
        "bad_signature",
        "one bit of the body flipped after signing",
        flipped,
    );

    let mut malleated = valid.clone();
    let mut carry = 0u16;
    for (i, l) in GROUP_ORDER.iter().enumerate() {
        let sum = u16::from(malleated[len - 32 + i]) + u16::from(*l) + carry;
        malleated[len - 32 + i] = sum as u8;
        carry = sum >> 8;
    }
    push(
        "malleable_signature",
        "S replaced by S + l: the equation still holds, but S is not reduced",
        malleated,
    );

    let mut small_order_author = valid.clone();
    let mut identity = [0u8; 32];
    identity[0] = 1;
    small_order_author[33..65].copy_from_slice(&identity);
    push(
        "small_order_author",
        "author key replaced by the identity point (small order)",
        small_order_author,
    );

    push(
        "truncated",
        "the last byte removed",
        valid[..len - 1].to_vec(),
    );
    push("empty", "no bytes at all", Vec::new());

    let mut trailing = valid.clone();
    trailing.push(0);
    push("trailing_bytes", "one zero byte appended", trailing);

    let mut version = valid.clone();
    version[0] = 2;
    push("unknown_version", "version byte 2", version);

    let mut kind = valid.clone();
    kind[73..77].copy_from_slice(&99u32.to_le_bytes());
    push("unknown_kind", "kind tag 99", kind);

    push(
        "oversized_body",
        "a thread whose body is one byte over MAX_BODY_BYTES, correctly signed",
        signed(
            &author,
            space,
            at,
            thread("Too long", "a".repeat(MAX_BODY_BYTES + 1)),
        ),
    );

    push(
        "empty_title",
        "a thread with an empty title",
        signed(&author, space, at, thread("", "body".to_owned())),
    );

    push(
        "title_with_newline",
        "a thread title with a line break",
        signed(&author, space, at, thread("two\nlines", "body".to_owned())),
    );

    let mentions: Vec<UserId> = (0..=MAX_MENTIONS).map(|n| UserId([n as u8; 32])).collect();
    let mut too_many = Envelope {
        version: 1,
        space,
        author: author.user_id(),
        created_at: at,
        content: thread("Mentions", "body".to_owned()),
        signature: Signature([0; 64]),
    }
    .encode();
    // Rewrite the mention list (empty, last before the signature) to hold 51 ids.
    let list_at = too_many.len() - 64 - 8;
    let mut rebuilt = too_many[..list_at].to_vec();
    rebuilt.extend_from_slice(&(mentions.len() as u64).to_le_bytes());
    for m in &mentions {
        rebuilt.extend_from_slice(m.as_bytes());
    }
    rebuilt.extend_from_slice(&[0u8; 64]);
    too_many = rebuilt;
    push(
        "too_many_mentions",
        "a thread mentioning 51 users (the limit is 50)",
        too_many,
    );

    let mut bad_utf8 = signed(&author, space, at, thread("abc", "body".to_owned()));
    // The title's three bytes follow version, space, author, created_at, tag and length.
    bad_utf8[73 + 4 + 8] = 0xff;
    push("invalid_utf8", "a title byte replaced by 0xff", bad_utf8);

    let mut bad_option = signed(
        &author,
        space,
        at,
        Content::Edit(crate::content::Edit {
            target: thread_post.id(),
            title: None,
            body: "x".to_owned(),
        }),
    );
    bad_option[73 + 4 + 32] = 2;
    push(
        "invalid_option_tag",
        "an edit whose title option tag is 2",
        bad_option,
    );

    push(
        "reaction_with_space",
        "a reaction holding a space",
        signed(
            &author,
            space,
            at,
            Content::Reaction(Reaction {
                target: thread_post.id(),
                reaction: "+ 1".to_owned(),
            }),
        ),
    );

    let genesis = Genesis {
        name: "x".to_owned(),
        description: String::new(),
        home_node: key(9).node_id(),
        nonce: [0; 16],
    };
    push(
        "genesis_space_mismatch",
        "a genesis naming a space id its content does not derive",
        signed(&author, SpaceId([0xaa; 32]), at, Content::Genesis(genesis)),
    );

    push(
        "from_the_future",
        "dated one millisecond beyond the allowed clock skew (refused for now, not forever)",
        signed(
            &author,
            space,
            FIXED_NOW.saturating_add_millis(MAX_CLOCK_SKEW_MS + 1),
            thread("Later", String::new()),
        ),
    );

    cases.push(Case {
        name: "wrong_id",
        what: "valid bytes offered under another post's id",
        bytes: valid,
        expected_id: Some(PostId([0x42; 32])),
    });
    cases
}

/// The result of validating a case's bytes the way a receiver would.
pub(crate) fn check(bytes: &[u8], expected_id: Option<&PostId>) -> Result<Post, InvalidPost> {
    match expected_id {
        Some(id) => Post::decode_expecting(bytes, id, FIXED_NOW),
        None => Post::decode(bytes, FIXED_NOW),
    }
}

/// The error's code and, for nested errors, the inner code.
fn error_json(error: &InvalidPost) -> Value {
    let detail = match error {
        InvalidPost::Malformed(inner) => Some(inner.code()),
        InvalidPost::Signature(inner) => Some(inner.code()),
        _ => None,
    };
    json!({ "error": error.code(), "detail": detail, "transient": error.is_transient(), "message": error.to_string() })
}

/// `invalid.json`: invalid inputs and the error each must produce.
pub(super) fn invalid() -> Value {
    let mut vectors: Vec<Value> = cases()
        .iter()
        .map(|case| {
            let outcome = match check(&case.bytes, case.expected_id.as_ref()) {
                Ok(_) => json!({ "error": null }),
                Err(error) => error_json(&error),
            };
            json!({
                "name": case.name,
                "what": case.what,
                "bytes_hex": hex::encode(&case.bytes),
                "expected_id": case.expected_id.map(|id| id.to_string()),
                "expect": outcome,
            })
        })
        .collect();
    let oversized = vec![1u8; MAX_ENVELOPE_BYTES + 1];
    if let Err(error) = check(&oversized, None) {
        vectors.push(json!({
            "name": "oversized_envelope",
            "what": "MAX_ENVELOPE_BYTES + 1 bytes, all 0x01 (given as a repeat, not hex)",
            "bytes_repeat": { "byte": 1, "count": oversized.len() },
            "expected_id": null,
            "expect": error_json(&error),
        }));
    }
    json!({
        "description": "Invalid inputs. Each must be refused with the given error code (and detail) when validated at `now`; `expected_id`, where set, is the id the bytes were announced under.",
        "now": FIXED_NOW.as_millis(),
        "vectors": vectors,
    })
}
