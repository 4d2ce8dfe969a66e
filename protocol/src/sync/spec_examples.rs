//! The worked examples of `spec/07-sync-and-gossip.md` (section 7.3.9), byte for byte,
//! with the fingerprint recomputed from its definition by an independent SHA-256.

use crate::encoding::ByteString;
use crate::id::{PostId, SpaceId};
use crate::time::Timestamp;
use crate::wire::Message;

use super::*;

fn space() -> SpaceId {
    SpaceId::from_bytes([5; 32])
}

/// The first frame of `items`, as the initiator sends it.
fn opening_frame(items: &[Item]) -> Vec<u8> {
    let mut initiator =
        SyncSession::initiate(space(), items.iter().copied(), SyncConfig::default()).unwrap();
    match initiator.poll_output() {
        Some(Output::Send(Message::ReconcileOpen { frame, .. })) => frame.0,
        other => panic!("no opening frame: {other:?}"),
    }
}

/// The responder's answer over `items` to `frame`.
fn answer(items: &[Item], frame: Vec<u8>) -> Vec<u8> {
    let mut responder =
        SyncSession::respond(space(), items.iter().copied(), SyncConfig::default()).unwrap();
    responder
        .handle(Input::Received(Message::ReconcileOpen {
            space: space(),
            frame: ByteString(frame),
        }))
        .unwrap();
    match responder.poll_output() {
        Some(Output::Send(Message::ReconcileFrame { frame, .. })) => frame.0,
        other => panic!("no answer: {other:?}"),
    }
}

fn at(t: u64, byte: u8) -> Item {
    Item::new(Timestamp::from_millis(t), PostId::from_bytes([byte; 32]))
}

/// `spec/07-sync-and-gossip.md`, example 7.3.9 a: small sets travel as id lists.
#[test]
fn spec_example_id_lists() {
    let opening = opening_frame(&[at(1, 0xaa), at(2, 0xbb)]);
    let mut expected = hex::decode("6100000202").unwrap();
    expected.extend_from_slice(&[0xaa; 32]);
    expected.extend_from_slice(&[0xbb; 32]);
    assert_eq!(opening, expected);

    let reply = answer(&[at(1, 0xaa), at(3, 0xcc)], opening);
    let mut expected = hex::decode("6100000202").unwrap();
    expected.extend_from_slice(&[0xaa; 32]);
    expected.extend_from_slice(&[0xcc; 32]);
    assert_eq!(reply, expected);
}

/// `spec/07`, example 7.3.9 b: a fingerprint over {01…01, 02…02} matches, so the
/// answer is the empty frame.
#[test]
fn spec_example_fingerprint() {
    // Sum of 01…01 and 02…02 is 03…03; the count 2 is the varint 02.
    let mut input = [0x03u8; 32].to_vec();
    input.push(0x02);
    assert_eq!(
        hex::encode(&sha256(&input)[..16]),
        "12a7b248579deb04f68dac6d3db20efd"
    );

    let frame = hex::decode("61000001")
        .unwrap()
        .into_iter()
        .chain(hex::decode("12a7b248579deb04f68dac6d3db20efd").unwrap())
        .collect();
    assert_eq!(answer(&[at(5, 0x01), at(6, 0x02)], frame), [0x61]);
    // One id more, and the fingerprint no longer matches: the range is answered with
    // the responder's ids.
    let frame: Vec<u8> = hex::decode("61000001")
        .unwrap()
        .into_iter()
        .chain(hex::decode("12a7b248579deb04f68dac6d3db20efd").unwrap())
        .collect();
    let reply = answer(&[at(5, 0x01), at(6, 0x02), at(7, 0x03)], frame);
    assert_eq!(&reply[..5], hex::decode("6100000203").unwrap());
}

/// `spec/07`, example 7.3.9 c: 32 items dated 0..=31 split into 16 buckets of two, with
/// bounds at t = 2, 4, …, 30 and infinity.
#[test]
fn spec_example_split() {
    let items: Vec<Item> = (0..32u8).map(|n| at(u64::from(n), n)).collect();
    let frame = opening_frame(&items);
    assert_eq!(frame.len(), 1 + 16 * 19);
    assert_eq!(frame[0], 0x61);
    for bucket in 0..16 {
        let range = &frame[1 + bucket * 19..1 + (bucket + 1) * 19];
        let bound: &[u8] = if bucket == 15 {
            &[0x00, 0x00]
        } else {
            &[0x03, 0x00]
        };
        assert_eq!(&range[..2], bound, "bucket {bucket}");
        assert_eq!(range[2], 0x01);
    }
    // The first bucket holds ids 00…00 and 01…01: sum 01…01, count 2.
    let mut input = [0x01u8; 32].to_vec();
    input.push(0x02);
    let digest = sha256(&input);
    assert_eq!(&frame[4..20], &digest[..16]);
}

/// SHA-256 (FIPS 180-4), written out so that the fingerprint formula is checked
/// without the reconciliation engine's own hash.
fn sha256(input: &[u8]) -> [u8; 32] {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut message = input.to_vec();
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&((input.len() as u64) * 8).to_be_bytes());
    for block in message.chunks(64) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (slot, value) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *slot = slot.wrapping_add(value);
        }
    }
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_mut(4).zip(h) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

#[test]
fn the_test_sha256_matches_a_known_digest() {
    assert_eq!(
        hex::encode(sha256(b"abc")),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}
