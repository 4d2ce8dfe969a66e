//! Prints a table comparing Parley's reconciliation session with plain `negentropy` on
//! the same sets: round trips, bytes each way, and time.
//!
//! Run: `cargo run --release -p parley-protocol --example sync_bench`
//! (`SYNC_BENCH_REPEAT=N` times each run N times and reports the median; default 5).
//!
//! Parley's bytes are whole encoded `ReconcileOpen`/`ReconcileFrame` messages (tag,
//! space id and length prefix around each frame, 44 bytes); negentropy's are its bare
//! frames. Time is wall-clock time of one thread, both parties on it, split into
//! building each party from its item list (sorting included) and the exchange itself.
// A benchmark reads the clock; the protocol crate does not.
#![allow(clippy::disallowed_methods)]

#[path = "../benches/support/drive.rs"]
mod drive;

use std::time::{Duration, Instant};

use negentropy::{Id, Negentropy, NegentropyStorageVector};
use parley_protocol::limits::RECONCILE_FRAME_TARGET_BYTES;
use parley_protocol::sync::{Item, SyncConfig, SyncSession};
use parley_protocol::{PostId, SpaceId, Timestamp};

/// One scenario: two sets of `size` items each, differing in `difference` items (half
/// on each side).
struct Scenario {
    name: &'static str,
    size: usize,
    difference: usize,
}

const SCENARIOS: [Scenario; 2] = [
    Scenario {
        name: "1,000,000 items, 100 differ",
        size: 1_000_000,
        difference: 100,
    },
    Scenario {
        name: "100,000 items, 1% differ",
        size: 100_000,
        difference: 1_000,
    },
];

/// What one reconciliation cost.
#[derive(Clone, Copy, Debug, Default)]
struct Measure {
    rounds: u32,
    bytes_out: u64,
    bytes_back: u64,
    found: usize,
    setup: Duration,
    exchange: Duration,
}

fn main() {
    let repeat: usize = std::env::var("SYNC_BENCH_REPEAT")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(5)
        .max(1);
    println!(
        "reconciliation, frame size limit {} bytes, median of {repeat} runs (single thread, both parties)\n",
        RECONCILE_FRAME_TARGET_BYTES
    );
    println!(
        "| scenario | implementation | round trips | bytes initiator→responder | bytes responder→initiator | build (ms) | exchange (ms) | total (ms) | differences found |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for scenario in &SCENARIOS {
        let (ours, theirs) = sets(scenario.size, scenario.difference);
        let parley = median(repeat, || parley(&ours, &theirs));
        let plain = median(repeat, || plain_negentropy(&ours, &theirs));
        for (name, m) in [("parley session", parley), ("plain negentropy", plain)] {
            assert_eq!(m.found, scenario.difference, "{name} missed differences");
            println!(
                "| {} | {name} | {} | {} | {} | {:.1} | {:.1} | {:.1} | {} |",
                scenario.name,
                m.rounds,
                m.bytes_out,
                m.bytes_back,
                ms(m.setup),
                ms(m.exchange),
                ms(m.setup + m.exchange),
                m.found,
            );
        }
        println!(
            "| {} | ratio parley / plain | {:.2} | {:.4} | {:.4} | {:.2} | {:.2} | {:.2} | |",
            scenario.name,
            f64::from(parley.rounds) / f64::from(plain.rounds),
            parley.bytes_out as f64 / plain.bytes_out as f64,
            parley.bytes_back as f64 / plain.bytes_back as f64,
            ms(parley.setup) / ms(plain.setup),
            ms(parley.exchange) / ms(plain.exchange),
            ms(parley.setup + parley.exchange) / ms(plain.setup + plain.exchange),
        );
    }
}

/// Two sets of `size` items sharing all but `difference` of them. Ids are BLAKE3
/// outputs, timestamps spread over a year.
fn sets(size: usize, difference: usize) -> (Vec<Item>, Vec<Item>) {
    let item = |n: u64| {
        let hash = blake3::hash(&n.to_le_bytes());
        let bytes = *hash.as_bytes();
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

fn parley(ours: &[Item], theirs: &[Item]) -> Measure {
    let space = SpaceId::from_bytes([1; 32]);
    let config = SyncConfig::default();
    let start = Instant::now();
    let mut initiator =
        SyncSession::initiate(space, ours.iter().copied(), config).expect("initiator");
    let mut responder =
        SyncSession::respond(space, theirs.iter().copied(), config).expect("responder");
    let setup = start.elapsed();
    let start = Instant::now();
    let found = drive::drive(&mut initiator, &mut responder);
    let exchange = start.elapsed();
    let outcome = initiator.outcome();
    Measure {
        rounds: outcome.rounds,
        bytes_out: outcome.bytes_sent,
        bytes_back: outcome.bytes_received,
        found,
        setup,
        exchange,
    }
}

fn plain_negentropy(ours: &[Item], theirs: &[Item]) -> Measure {
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
    let start = Instant::now();
    let mut initiator = Negentropy::owned(storage(ours), limit).expect("initiator");
    let mut responder = Negentropy::owned(storage(theirs), limit).expect("responder");
    let setup = start.elapsed();
    let start = Instant::now();
    let mut measure = Measure::default();
    let mut query = initiator.initiate().expect("initiate");
    let (mut have, mut need) = (Vec::new(), Vec::new());
    loop {
        measure.bytes_out += query.len() as u64;
        let reply = responder.reconcile(&query).expect("reconcile");
        measure.bytes_back += reply.len() as u64;
        measure.rounds += 1;
        match initiator
            .reconcile_with_ids(&reply, &mut have, &mut need)
            .expect("reconcile")
        {
            Some(next) => query = next,
            None => break,
        }
    }
    measure.exchange = start.elapsed();
    measure.setup = setup;
    measure.found = have.len() + need.len();
    measure
}

/// Runs `f` `repeat` times; the run with the median total time.
fn median(repeat: usize, mut f: impl FnMut() -> Measure) -> Measure {
    let mut runs: Vec<Measure> = (0..repeat).map(|_| f()).collect();
    runs.sort_by_key(|m| m.setup + m.exchange);
    runs[runs.len() / 2]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
