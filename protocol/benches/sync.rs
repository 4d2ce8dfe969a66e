//! Criterion benches of set reconciliation: Parley's session (through encoded wire
//! messages) next to plain `negentropy` on the same sets, building both parties from
//! their item lists and running the exchange to the end.
//!
//! Run: `cargo bench -p parley-protocol --bench sync`. For round trips and bytes, see
//! `cargo run --release -p parley-protocol --example sync_bench`.

#[path = "support/drive.rs"]
mod drive;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use negentropy::{Id, Negentropy, NegentropyStorageVector};
use parley_protocol::limits::RECONCILE_FRAME_TARGET_BYTES;
use parley_protocol::sync::{Item, SyncConfig, SyncSession};
use parley_protocol::{PostId, SpaceId, Timestamp};

/// Two sets of `size` items sharing all but `difference` of them (half on each side).
fn sets(size: usize, difference: usize) -> (Vec<Item>, Vec<Item>) {
    let item = |n: u64| {
        let bytes = *blake3::hash(&n.to_le_bytes()).as_bytes();
        let jitter =
            u64::from_le_bytes(bytes[..8].try_into().unwrap_or_default()) % (365 * 86_400_000);
        Item::new(
            Timestamp::from_millis(1_700_000_000_000 + jitter),
            PostId::from_bytes(bytes),
        )
    };
    let shared = (size - difference / 2) as u64;
    let extra = (difference / 2) as u64;
    let mut ours: Vec<Item> = (0..shared).map(item).collect();
    let mut theirs = ours.clone();
    ours.extend((shared..shared + extra).map(item));
    theirs.extend((shared + extra..shared + 2 * extra).map(item));
    (ours, theirs)
}

/// A whole reconciliation through Parley sessions; returns the differences found.
fn parley(ours: &[Item], theirs: &[Item]) -> usize {
    let space = SpaceId::from_bytes([1; 32]);
    let config = SyncConfig::default();
    let mut initiator =
        SyncSession::initiate(space, ours.iter().copied(), config).expect("initiator");
    let mut responder =
        SyncSession::respond(space, theirs.iter().copied(), config).expect("responder");
    drive::drive(&mut initiator, &mut responder)
}

/// The same reconciliation with plain negentropy frames.
fn plain(ours: &[Item], theirs: &[Item]) -> usize {
    let storage = |items: &[Item]| {
        let mut storage = NegentropyStorageVector::with_capacity(items.len());
        for item in items {
            storage
                .insert(item.created_at.as_millis(), Id::from_byte_array(item.id.0))
                .expect("insert");
        }
        storage.seal().expect("seal");
        storage
    };
    let limit = RECONCILE_FRAME_TARGET_BYTES as u64;
    let mut initiator = Negentropy::owned(storage(ours), limit).expect("initiator");
    let mut responder = Negentropy::owned(storage(theirs), limit).expect("responder");
    let mut query = initiator.initiate().expect("initiate");
    let (mut have, mut need) = (Vec::new(), Vec::new());
    loop {
        let reply = responder.reconcile(&query).expect("reconcile");
        match initiator
            .reconcile_with_ids(&reply, &mut have, &mut need)
            .expect("reconcile")
        {
            Some(next) => query = next,
            None => return have.len() + need.len(),
        }
    }
}

fn reconcile(c: &mut Criterion) {
    for (name, size, difference) in [
        ("1m_items_100_differ", 1_000_000, 100),
        ("100k_items_1pct_differ", 100_000, 1_000),
    ] {
        let (ours, theirs) = sets(size, difference);
        let mut group = c.benchmark_group(format!("sync/{name}"));
        group.sample_size(10);
        group.warm_up_time(Duration::from_secs(1));
        group.measurement_time(Duration::from_secs(if size > 500_000 { 8 } else { 3 }));
        group.bench_function(BenchmarkId::from_parameter("parley"), |b| {
            b.iter(|| assert_eq!(parley(black_box(&ours), black_box(&theirs)), difference));
        });
        group.bench_function(BenchmarkId::from_parameter("negentropy"), |b| {
            b.iter(|| assert_eq!(plain(black_box(&ours), black_box(&theirs)), difference));
        });
        group.finish();
    }
}

criterion_group!(benches, reconcile);
criterion_main!(benches);
