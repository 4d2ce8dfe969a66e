//! Parley's verdict on every C2SP/CCTV Ed25519 edge case (`spec/03-ids-and-signatures.md`,
//! "Validity rule"): the 914 cases of `ed25519vectors.json` (CCTV commit 1e3d286,
//! BSD-3-Clause, copied with its licence into `protocol/tests/data/cctv-ed25519/`), each
//! with its inputs in hex, `accept` or `reject`, and the first rule it breaks.

use serde_json::{Value, json};

use crate::keys::{Signature, verify_signature};

/// The CCTV file, embedded so the verdicts need no file system.
const CCTV_JSON: &str = include_str!("../../tests/data/cctv-ed25519/ed25519vectors.json");

/// The verdicts document: for each CCTV case in file order, `number`, `key`, `sig` and
/// `msg` (all hex; CCTV's own file gives `msg` as text, here it is the hex of those
/// bytes), CCTV's `flags`, `verdict` (`"accept"` or `"reject"`) and `rule_broken` (the
/// [`SignatureError::code`](crate::keys::SignatureError::code) of the first rule broken,
/// or null when accepted).
pub fn cctv_verdicts() -> Value {
    let cases: Vec<Value> = serde_json::from_str(CCTV_JSON)
        .expect("the embedded CCTV file is a JSON array (checked by tests/signature_vectors.rs)");
    let vectors: Vec<Value> = cases.iter().map(verdict).collect();
    let accepted = vectors.iter().filter(|v| v["verdict"] == "accept").count();
    json!({
        "description": "Parley's signature rule (spec section 3.4) on every C2SP/CCTV Ed25519 edge case. Inputs are hex; msg is the hex of the message bytes. verdict is accept or reject; rule_broken is the detail code of the first rule broken, checked in the spec's order, or null. Implementations MUST agree with every verdict.",
        "source": "C2SP/CCTV ed25519/ed25519vectors.json, commit 1e3d286, BSD-3-Clause (Copyright 2019 Google LLC, 2022 Filippo Valsorda)",
        "cases": vectors.len(),
        "accepted": accepted,
        "vectors": vectors,
    })
}

/// One case's inputs and verdict.
fn verdict(case: &Value) -> Value {
    let key = fixed::<32>(&case["key"]);
    let sig = fixed::<64>(&case["sig"]);
    let msg = case["msg"]
        .as_str()
        .expect("every embedded CCTV case has a text msg")
        .as_bytes();
    let (verdict, rule_broken) = match verify_signature(&key, msg, &Signature(sig)) {
        Ok(()) => ("accept", None),
        Err(error) => ("reject", Some(error.code())),
    };
    json!({
        "number": case["number"],
        "key": hex::encode(key),
        "sig": hex::encode(sig),
        "msg": hex::encode(msg),
        "flags": case["flags"],
        "verdict": verdict,
        "rule_broken": rule_broken,
    })
}

/// A hex field of the embedded file, of exactly `N` bytes.
fn fixed<const N: usize>(field: &Value) -> [u8; N] {
    let bytes = hex::decode(field.as_str().unwrap_or_default())
        .expect("every embedded CCTV key and sig is hex");
    bytes
        .try_into()
        .expect("every embedded CCTV key is 32 bytes and every sig 64")
}
