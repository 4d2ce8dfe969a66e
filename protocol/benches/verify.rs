//! What validating a post costs next to the bare signature check, and many signatures
//! checked one by one (`keys::verify_many`) next to ed25519-dalek's randomized batch.
//! Run: `cargo bench -p parley-protocol --bench verify`.
//!
//! The goal: `Post::decode` of a 2 KiB thread (decode, field checks, key decoding and
//! Parley's signature rule, post id) within 1.2x of a bare `verify_strict` over the
//! same signed bytes with an already decoded key. Decoding the author's key (one point
//! decompression) is about a tenth of that, so the bench also times dalek's
//! `VerifyingKey::from_bytes` plus `verify_strict`, the bare cost from key bytes.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ed25519_dalek::VerifyingKey;
use parley_protocol::content::{Content, Thread};
use parley_protocol::encoding::BoundedVec;
use parley_protocol::keys::{self, PublicKey, Signature};
use parley_protocol::{Post, SecretKey, SpaceId, Timestamp};

const NOW: Timestamp = Timestamp(1_795_564_800_000);
/// Items in the many-signature benches.
const MANY: usize = 1024;
/// Distinct authors among them.
const AUTHORS: usize = 32;

/// A thread post whose body is 2 KiB.
fn two_kib_thread(seed: u8, n: usize) -> Post {
    let key = SecretKey::from_seed(&[seed; 32]);
    let body: String = format!("{n} Lorem ipsum dolor sit amet, consectetur adipiscing elit. ")
        .repeat(40)[..2048]
        .to_owned();
    let thread = Thread {
        title: format!("A 2 KiB post, number {n}"),
        body,
        mentions: BoundedVec::new(),
    };
    Post::sign(&key, SpaceId([5; 32]), NOW, Content::Thread(thread), NOW).expect("a valid post")
}

fn single(c: &mut Criterion) {
    let post = two_kib_thread(1, 0);
    let bytes = post.bytes().to_vec();
    let message = post.envelope().signing_message();
    let signature = post.envelope().signature;
    let author = post.author().0;
    let dalek_key = VerifyingKey::from_bytes(&author).expect("a valid key");
    let dalek_signature = ed25519_dalek::Signature::from_bytes(&signature.0);
    let key = PublicKey::from_bytes(&author).expect("a valid key");

    let mut group = c.benchmark_group("single 2 KiB");
    group
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    group.bench_function("dalek verify_strict (key decoded)", |b| {
        b.iter(|| dalek_key.verify_strict(black_box(&message), black_box(&dalek_signature)))
    });
    group.bench_function("dalek from_bytes + verify_strict (key bytes)", |b| {
        b.iter(|| {
            VerifyingKey::from_bytes(black_box(&author))
                .and_then(|key| key.verify_strict(black_box(&message), black_box(&dalek_signature)))
        })
    });
    group.bench_function("PublicKey::verify (key decoded)", |b| {
        b.iter(|| key.verify(black_box(&message), black_box(&signature)))
    });
    group.bench_function("keys::verify_signature (key bytes)", |b| {
        b.iter(|| {
            keys::verify_signature(
                black_box(&author),
                black_box(&message),
                black_box(&signature),
            )
        })
    });
    group.bench_function("PublicKey::from_bytes", |b| {
        b.iter(|| PublicKey::from_bytes(black_box(&author)))
    });
    group.bench_function("Post::decode (decode, validate, verify, id)", |b| {
        b.iter(|| Post::decode(black_box(&bytes), NOW))
    });
    group.finish();
}

fn many(c: &mut Criterion) {
    let posts: Vec<Post> = (0..MANY)
        .map(|n| two_kib_thread(1 + (n % AUTHORS) as u8, n))
        .collect();
    let messages: Vec<Vec<u8>> = posts
        .iter()
        .map(|p| p.envelope().signing_message())
        .collect();
    let authors: Vec<[u8; 32]> = posts.iter().map(|p| p.author().0).collect();
    let signatures: Vec<Signature> = posts.iter().map(|p| p.envelope().signature).collect();
    let items: Vec<(&[u8; 32], &[u8], &Signature)> = (0..MANY)
        .map(|i| (&authors[i], messages[i].as_slice(), &signatures[i]))
        .collect();
    let message_refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    let dalek_signatures: Vec<ed25519_dalek::Signature> = signatures
        .iter()
        .map(|s| ed25519_dalek::Signature::from_bytes(&s.0))
        .collect();
    let dalek_keys: Vec<VerifyingKey> = authors
        .iter()
        .map(|a| VerifyingKey::from_bytes(a).expect("a valid key"))
        .collect();
    assert!(keys::verify_many(&items).iter().all(Result::is_ok));
    assert!(ed25519_dalek::verify_batch(&message_refs, &dalek_signatures, &dalek_keys).is_ok());

    let mut group = c.benchmark_group("1024 x 2 KiB, 32 authors");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    group.throughput(Throughput::Elements(MANY as u64));
    group.bench_function("keys::verify_many (exact)", |b| {
        b.iter(|| keys::verify_many(black_box(&items)))
    });
    group.bench_function("dalek verify_batch (randomized, not exact)", |b| {
        b.iter(|| {
            ed25519_dalek::verify_batch(black_box(&message_refs), &dalek_signatures, &dalek_keys)
        })
    });
    group.finish();
}

criterion_group!(benches, single, many);
criterion_main!(benches);
