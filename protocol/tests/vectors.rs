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
