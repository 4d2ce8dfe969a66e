//! The committed `spec/vectors/*.json` are exactly what the generator writes, and every
//! vector in them holds against the implementation.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use parley_protocol::{Post, PostId, Timestamp};
use serde_json::Value;

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../spec/vectors")
}

fn load(name: &str) -> Value {
    let text = std::fs::read_to_string(vectors_dir().join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn committed_vectors_match_the_generator() {
    for (name, generated) in parley_protocol::test_vectors::all() {
        let committed = std::fs::read_to_string(vectors_dir().join(name)).unwrap_or_default();
        assert!(
            committed == generated,
            "spec/vectors/{name} differs from the generator: run \
             `cargo run -p parley-protocol --example gen_vectors --features test-support` and review the diff"
        );
    }
}

#[test]
fn every_envelope_vector_decodes_to_its_id_and_bytes() {
    let doc = load("envelopes.json");
    let now = Timestamp(doc["now"].as_u64().unwrap());
    let envelopes = doc["envelopes"].as_array().unwrap();
    assert_eq!(envelopes.len(), 15, "one vector per kind");
    for vector in envelopes {
        let bytes = hex::decode(vector["bytes_hex"].as_str().unwrap()).unwrap();
        let post = Post::decode(&bytes, now).unwrap();
        assert_eq!(post.id().to_string(), vector["id"].as_str().unwrap());
        assert_eq!(
            hex::encode(post.id().as_bytes()),
            vector["id_hex"].as_str().unwrap()
        );
        assert_eq!(
            hex::encode(blake3::hash(&bytes).as_bytes()),
            vector["id_hex"].as_str().unwrap()
        );
        assert_eq!(post.envelope().encode(), bytes);
        assert_eq!(post.content().kind_name(), vector["kind"].as_str().unwrap());
        assert_eq!(
            post.author().to_string(),
            vector["author"].as_str().unwrap()
        );
        assert_eq!(
            post.created_at().as_millis(),
            vector["created_at"].as_u64().unwrap()
        );
        let message = hex::decode(vector["signing_message_hex"].as_str().unwrap()).unwrap();
        assert_eq!(post.envelope().signing_message(), message);
        let signature = hex::decode(vector["signature_hex"].as_str().unwrap()).unwrap();
        assert_eq!(&bytes[bytes.len() - 64..], &signature[..]);
    }
}

#[test]
fn every_invalid_vector_is_refused_with_its_error() {
    let doc = load("invalid.json");
    let now = Timestamp(doc["now"].as_u64().unwrap());
    for vector in doc["vectors"].as_array().unwrap() {
        let name = vector["name"].as_str().unwrap();
        let bytes = match vector.get("bytes_hex").and_then(Value::as_str) {
            Some(hex_text) => hex::decode(hex_text).unwrap(),
            None => {
                let repeat = &vector["bytes_repeat"];
                vec![
                    repeat["byte"].as_u64().unwrap() as u8;
                    repeat["count"].as_u64().unwrap() as usize
                ]
            }
        };
        let result = match vector["expected_id"].as_str() {
            Some(id) => Post::decode_expecting(&bytes, &id.parse::<PostId>().unwrap(), now),
            None => Post::decode(&bytes, now),
        };
        let error = result.expect_err(name);
        let expect = &vector["expect"];
        assert_eq!(error.code(), expect["error"].as_str().unwrap(), "{name}");
        assert_eq!(
            error.is_transient(),
            expect["transient"].as_bool().unwrap(),
            "{name}"
        );
    }
}

#[test]
fn a_post_from_the_future_becomes_valid_once_the_clock_catches_up() {
    let doc = load("invalid.json");
    let now = Timestamp(doc["now"].as_u64().unwrap());
    let vector = doc["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "from_the_future")
        .unwrap();
    let bytes = hex::decode(vector["bytes_hex"].as_str().unwrap()).unwrap();
    assert!(Post::decode(&bytes, now).unwrap_err().is_transient());
    assert!(Post::decode(&bytes, now.saturating_add_millis(1)).is_ok());
}

// ---------------------------------------------------------------------------------
// sync.json (spec 7): messages, invalid messages, reconciliation transcripts.

fn hex_of(value: &Value) -> Vec<u8> {
    hex::decode(value.as_str().unwrap()).unwrap()
}

fn bytes32(value: &Value) -> [u8; 32] {
    hex_of(value).try_into().unwrap()
}

fn id_list(
    value: &Value,
) -> parley_protocol::encoding::BoundedVec<PostId, { parley_protocol::limits::MAX_IDS_PER_MESSAGE }>
{
    let ids = value
        .as_array()
        .unwrap()
        .iter()
        .map(|id| PostId::from_bytes(bytes32(id)))
        .collect();
    parley_protocol::encoding::BoundedVec::try_from_vec(ids).unwrap()
}

/// The message a vector's `message` fields describe.
fn message_from_json(fields: &Value) -> parley_protocol::wire::Message {
    use parley_protocol::encoding::{BoundedVec, ByteString};
    use parley_protocol::wire::{ErrorCode, Message};
    use parley_protocol::{NodeId, SpaceId};
    let space = || SpaceId::from_bytes(bytes32(&fields["space_hex"]));
    let frame = || ByteString(hex_of(&fields["frame_hex"]));
    match fields["type"].as_str().unwrap() {
        "Hello" => Message::Hello {
            versions: BoundedVec::try_from_vec(
                fields["versions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| u16::try_from(v.as_u64().unwrap()).unwrap())
                    .collect(),
            )
            .unwrap(),
            node: NodeId::from_bytes(bytes32(&fields["node_hex"])),
            spaces: BoundedVec::try_from_vec(
                fields["spaces_hex"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| SpaceId::from_bytes(bytes32(s)))
                    .collect(),
            )
            .unwrap(),
        },
        "ReconcileOpen" => Message::ReconcileOpen {
            space: space(),
            frame: frame(),
        },
        "ReconcileFrame" => Message::ReconcileFrame {
            space: space(),
            frame: frame(),
        },
        "Posts" => Message::Posts {
            space: space(),
            envelopes: BoundedVec::try_from_vec(
                fields["envelopes_hex"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| ByteString(hex_of(e)))
                    .collect(),
            )
            .unwrap(),
        },
        "Have" => Message::Have {
            space: space(),
            ids: id_list(&fields["ids_hex"]),
        },
        "Want" => Message::Want {
            space: space(),
            ids: id_list(&fields["ids_hex"]),
        },
        "Error" => Message::Error {
            code: ErrorCode::from_u16(u16::try_from(fields["code"].as_u64().unwrap()).unwrap()),
            space: fields["space_hex"]
                .as_str()
                .map(|_| SpaceId::from_bytes(bytes32(&fields["space_hex"]))),
            text: fields["text"].as_str().unwrap().to_owned(),
        },
        other => panic!("unknown message type {other}"),
    }
}

#[test]
fn every_sync_message_vector_decodes_to_its_fields() {
    use parley_protocol::wire::Message;
    let doc = load("sync.json");
    let messages = doc["messages"].as_array().unwrap();
    let mut types: Vec<&str> = messages
        .iter()
        .map(|m| m["message"]["type"].as_str().unwrap())
        .collect();
    types.sort_unstable();
    types.dedup();
    assert_eq!(types.len(), 7, "every message variant has a vector");
    for vector in messages {
        let name = vector["name"].as_str().unwrap();
        let bytes = hex_of(&vector["bytes_hex"]);
        let decoded = Message::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let expected = message_from_json(&vector["message"]);
        assert_eq!(decoded, expected, "{name}");
        assert_eq!(expected.encode(), bytes, "{name}");
        assert_eq!(expected.encoded_len(), bytes.len(), "{name}");
        if let Message::Error { code, .. } = &decoded {
            assert_eq!(code.name(), vector["message"]["code_name"], "{name}");
        }
        if let Message::Posts { envelopes, .. } = &decoded {
            let now = parley_protocol::test_vectors::FIXED_NOW;
            for envelope in envelopes.iter() {
                Post::decode(&envelope.0, now).unwrap();
            }
        }
    }
}

#[test]
fn every_invalid_sync_message_is_refused_with_its_code() {
    use parley_protocol::wire::Message;
    let doc = load("sync.json");
    for vector in doc["invalid_messages"].as_array().unwrap() {
        let name = vector["name"].as_str().unwrap();
        let mut bytes = hex_of(&vector["prefix_hex"]);
        if let Some(fill) = vector["fill"].as_object() {
            let byte = fill["byte"].as_u64().unwrap() as u8;
            let count = fill["count"].as_u64().unwrap() as usize;
            bytes.resize(bytes.len() + count, byte);
        }
        let error = Message::decode(&bytes).expect_err(name);
        let expect = &vector["expect"];
        assert_eq!(error.code().name(), expect["code"], "{name}");
        assert_eq!(
            u64::from(error.code().as_u16()),
            expect["code_number"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(error.detail(), expect["detail"], "{name}");
    }
}

#[test]
fn every_reconciliation_transcript_replays() {
    use parley_protocol::SpaceId;
    use parley_protocol::sync::{Input, Item, Output, SyncConfig, SyncSession};
    use parley_protocol::wire::Message;
    let items = |value: &Value| -> Vec<Item> {
        value
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                Item::new(
                    Timestamp(i["created_at"].as_u64().unwrap()),
                    PostId::from_bytes(bytes32(&i["id_hex"])),
                )
            })
            .collect()
    };
    let doc = load("sync.json");
    let transcripts = doc["reconciliations"].as_array().unwrap();
    assert!(!transcripts.is_empty());
    for transcript in transcripts {
        let name = transcript["name"].as_str().unwrap();
        let space = SpaceId::from_bytes(bytes32(&transcript["space_hex"]));
        let config = SyncConfig::default();
        let mut initiator =
            SyncSession::initiate(space, items(&transcript["initiator_items"]), config).unwrap();
        let mut responder =
            SyncSession::respond(space, items(&transcript["responder_items"]), config).unwrap();
        let expected = transcript["messages"].as_array().unwrap();
        let mut sent = 0;
        // Checks the next message of the transcript, and that its bytes decode to it.
        let mut check = |from: &str, message: &Message| {
            let vector = &expected[sent];
            assert_eq!(vector["from"], from, "{name}: message {sent}");
            let bytes = hex_of(&vector["message_hex"]);
            assert_eq!(message.encode(), bytes, "{name}: message {sent}");
            assert_eq!(&Message::decode(&bytes).unwrap(), message, "{name}");
            match message {
                Message::ReconcileOpen { frame, .. } | Message::ReconcileFrame { frame, .. } => {
                    assert_eq!(frame.0, hex_of(&vector["frame_hex"]), "{name}");
                    assert_eq!(
                        vector["type"],
                        if sent == 0 {
                            "ReconcileOpen"
                        } else {
                            "ReconcileFrame"
                        }
                    );
                }
                other => panic!("{name}: unexpected {other:?}"),
            }
            sent += 1;
        };
        let (mut need, mut have) = (Vec::new(), Vec::new());
        while !(initiator.is_closed() && responder.is_closed()) {
            while let Some(output) = initiator.poll_output() {
                match output {
                    Output::Send(message) => {
                        check("initiator", &message);
                        responder.handle(Input::Received(message)).unwrap();
                    }
                    Output::Need(ids) => need.extend(ids),
                    Output::Have(ids) => have.extend(ids),
                    _ => {}
                }
            }
            while let Some(output) = responder.poll_output() {
                if let Output::Send(message) = output {
                    check("responder", &message);
                    initiator.handle(Input::Received(message)).unwrap();
                }
            }
        }
        assert_eq!(sent, expected.len(), "{name}: every message was sent");
        assert!(initiator.is_finished() && responder.is_finished(), "{name}");
        let hexes =
            |ids: &[PostId]| -> Vec<String> { ids.iter().map(|i| hex::encode(i.0)).collect() };
        assert_eq!(
            hexes(&need),
            transcript["need_hex"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect::<Vec<_>>(),
            "{name}: need"
        );
        assert_eq!(
            hexes(&have),
            transcript["have_hex"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect::<Vec<_>>(),
            "{name}: have"
        );
        assert_eq!(
            u64::from(initiator.outcome().rounds),
            transcript["rounds"].as_u64().unwrap(),
            "{name}"
        );
    }
}
