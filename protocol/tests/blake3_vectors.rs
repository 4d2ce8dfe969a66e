//! The blake3 crate, called the way Parley calls it, against the BLAKE3 team's
//! official vectors (`tests/data/blake3/`, CC0-1.0).
//!
//! Parley uses two modes: plain `hash` for post ids ([`PostId::of_bytes`]) and
//! `derive_key` for space ids (`SpaceId::derive`: `Hasher::new_derive_key(context)`,
//! `update`, `finalize`). Keyed hashing is not used by the protocol, so it is not checked.

// Helpers here unwrap like the tests they serve: a panic is a failed test.
#![allow(clippy::unwrap_used)]

use std::io::Read as _;

use parley_protocol::PostId;
use serde_json::Value;

const VECTORS: &str = include_str!("data/blake3/test_vectors.json");

/// One case of the file: an input length and the extended outputs of two modes.
struct Case {
    input_len: usize,
    hash: Vec<u8>,
    derive_key: Vec<u8>,
}

fn load() -> (String, Vec<Case>) {
    let file: Value = serde_json::from_str(VECTORS).unwrap();
    let context = file["context_string"].as_str().unwrap().to_owned();
    let cases = file["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|case| Case {
            input_len: usize::try_from(case["input_len"].as_u64().unwrap()).unwrap(),
            hash: hex::decode(case["hash"].as_str().unwrap()).unwrap(),
            derive_key: hex::decode(case["derive_key"].as_str().unwrap()).unwrap(),
        })
        .collect();
    (context, cases)
}

/// The vectors' input: the bytes 0, 1, ..., 250 repeated.
fn input(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

#[test]
fn the_file_is_the_one_we_think() {
    let (context, cases) = load();
    assert_eq!(context, "BLAKE3 2019-12-27 16:29:52 test vectors context");
    assert_eq!(cases.len(), 35);
    assert_eq!(cases.last().unwrap().input_len, 102_400);
    for case in &cases {
        assert_eq!(
            case.hash.len(),
            131,
            "extended output of input {}",
            case.input_len
        );
        assert_eq!(
            case.derive_key.len(),
            131,
            "extended output of input {}",
            case.input_len
        );
    }
}

#[test]
fn post_ids_use_the_plain_hash_of_the_vectors() {
    let (_, cases) = load();
    for case in &cases {
        let input = input(case.input_len);
        assert_eq!(
            PostId::of_bytes(&input).0.as_slice(),
            &case.hash[..32],
            "hash of {} bytes",
            case.input_len
        );
        let mut extended = vec![0u8; case.hash.len()];
        blake3::Hasher::new()
            .update(&input)
            .finalize_xof()
            .read_exact(&mut extended)
            .unwrap();
        assert_eq!(
            extended, case.hash,
            "extended hash of {} bytes",
            case.input_len
        );
    }
}

#[test]
fn space_ids_use_the_derive_key_of_the_vectors() {
    let (context, cases) = load();
    for case in &cases {
        let input = input(case.input_len);
        // Exactly the calls of `SpaceId::derive`.
        let mut hasher = blake3::Hasher::new_derive_key(&context);
        hasher.update(&input);
        assert_eq!(
            hasher.finalize().as_bytes().as_slice(),
            &case.derive_key[..32],
            "derive_key of {} bytes",
            case.input_len
        );
        assert_eq!(
            blake3::derive_key(&context, &input).as_slice(),
            &case.derive_key[..32]
        );
        let mut extended = vec![0u8; case.derive_key.len()];
        hasher.finalize_xof().read_exact(&mut extended).unwrap();
        assert_eq!(
            extended, case.derive_key,
            "extended derive_key of {} bytes",
            case.input_len
        );
    }
}
