//! Federation between nodes in this process over real QUIC on 127.0.0.1, measured:
//!
//! 1. a fresh node catching up with a node of 100,000 corpus-sized posts: seconds, and
//!    bytes on the wire against the posts' own bytes;
//! 2. the rate it ingests them from its peer, beside a bare single-threaded
//!    `Post::decode` + `Storage::insert` loop (one flush per 4096) over the same posts;
//! 3. how long a new post takes to reach every node of a 10- and a 30-node full mesh;
//! 4. two nodes of 1,000,000 posts each (100,000 with `--quick`) that differ by 100:
//!    each side's time in its reconciliation steps over the stores' kept sums, beside
//!    the same reconciliation over every item read into memory (how the node reconciled
//!    before); then seconds to converge, bytes on the wire, round trips over QUIC.
//!
//! ```text
//! cargo run --release --locked -p parley-node --example federation_bench [-- --quick] [--only 1|3|4]
//! ```
//!
//! `--only 1` runs measurements 1 and 2 (they share a run). The meshes run last: a
//! store that stalls there ends the process. Prints markdown tables, progress on
//! stderr. Every wait has a deadline (a watchdog thread ends the run when a blocking
//! call never returns): a measurement that does not finish says so instead of hanging.
//! Nothing here asserts a timing.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parley_node::federation::{FederationConfig, PeerStatus};
use parley_node::server::{self, NodeHandle};
use parley_node::{clock, storage::Storage};
use parley_protocol::api::NodeAddress;
use parley_protocol::content::{Content, Genesis, Member, Replica, Reply, Thread};
use parley_protocol::encoding::BoundedVec;
use parley_protocol::{NodeId, Post, PostId, SecretKey, SpaceId, Timestamp};
use tokio::sync::broadcast::error::RecvError;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{Layer, filter};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Posts per storage batch when preloading a store, and per flush in the bare loop.
const BATCH: usize = 4096;
/// Posts node A holds for the fresh-node sync.
const FRESH_POSTS: usize = 100_000;
/// Members writing the posts.
const AUTHORS: u64 = 4;
/// Posts published one at a time into each mesh.
const MESH_POSTS: usize = 50;
/// Pause between two posts published into a mesh.
const MESH_SPACING: Duration = Duration::from_millis(20);
/// Posts unique to each side in the last measurement.
const UNIQUE_EACH: usize = 50;

fn main() -> Result<(), BoxError> {
    let mut quick = false;
    let mut only: Option<u8> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--only" => only = Some(args.next().ok_or("--only needs 1, 3 or 4")?.parse()?),
            "--bench" => {} // passed by `cargo bench`
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("# federation bench");
    println!();
    println!(
        "{} UTC, {cores} cores, in-process nodes over QUIC on 127.0.0.1, FederationConfig::default(){}",
        utc_now(),
        if quick { ", --quick" } else { "" }
    );
    println!();

    let started = Instant::now();
    let runs = |n: u8| only.is_none_or(|o| o == n);
    if runs(1) {
        watchdog("the fresh node sync", Duration::from_secs(600));
        fresh_sync(&runtime, FRESH_POSTS)?;
        println!();
    }
    // The meshes run last: a store that stalls there (see `mesh`) ends the run.
    if runs(4) {
        let per_node = if quick { 100_000 } else { 1_000_000 };
        watchdog(
            "the two large nodes",
            Duration::from_secs(if quick { 300 } else { 1_200 }),
        );
        differing_pair(&runtime, per_node)?;
        println!();
    }
    if runs(3) {
        mesh_table(&runtime)?;
        println!();
    }
    println!("total {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

fn mesh_table(runtime: &tokio::runtime::Runtime) -> Result<(), BoxError> {
    println!("## 3. propagation: a new post reaches every node of a full mesh");
    println!();
    println!(
        "{MESH_POSTS} posts of ~2 KiB, each published at a random node, {} ms apart; the time from `publish` until every node stored it.",
        MESH_SPACING.as_millis()
    );
    println!();
    println!(
        "| nodes | connections | mesh up s | posts | reached all | p50 ms | p99 ms | max ms | goal |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for nodes in [10, 30] {
        // A mesh takes seconds; longer means a store stalled (see `stalled`).
        watchdog(&format!("the {nodes}-node mesh"), Duration::from_secs(90));
        runtime.block_on(mesh(nodes))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------
// 1 and 2: a fresh node catches up.

fn fresh_sync(runtime: &tokio::runtime::Runtime, count: usize) -> Result<(), BoxError> {
    let a_key = key(1, 0);
    let b_key = key(2, 0);
    let space = SpaceSetup::new(&a_key.node_id(), &[b_key.node_id()], 11);
    let signing = Instant::now();
    let mut posts = space.posts.clone();
    posts.extend(sign_range(space.id, 0..count, 1_800, 500));
    let signing = signing.elapsed();
    let envelopes: Vec<Vec<u8>> = posts.iter().map(|p| p.bytes().to_vec()).collect();
    let post_bytes: u64 = envelopes.iter().map(|e| e.len() as u64).sum();
    let total = posts.len();

    let a_dir = tempfile::tempdir()?;
    let b_dir = tempfile::tempdir()?;
    let a_store = Storage::open(a_dir.path())?;
    let preload = Instant::now();
    for batch in posts.chunks(BATCH) {
        a_store.insert(batch)?;
    }
    a_store.flush()?;
    let preload = preload.elapsed();
    drop(posts);

    // The bare loop, before any node runs: one thread, verify, insert, flush per batch.
    let bare = bare_ingest(&envelopes)?;
    drop(envelopes);

    let outcome = runtime.block_on(async {
        let a = start_node(&a_key, a_store)?;
        let b = start_node(&b_key, Storage::open(b_dir.path())?)?;
        let counter = EventCounter::spawn(&b.handle, total as u64);
        reconciliations().clear();
        let begun = Instant::now();
        progress("fresh sync: peering");
        a.peer_with(&b)?;
        b.peer_with(&a)?;
        let done = counter.wait(Duration::from_secs(120)).await;
        // Read the connection's counters while it is up.
        let status = a.status_of(&b.handle.id());
        let held = b.handle.items(&space.id)?.len();
        let rounds = reconciliations().take();
        let seconds = begun.elapsed();
        a.stop().await;
        b.stop().await;
        Ok::<_, BoxError>((done, status, held, rounds, seconds))
    })?;
    let (done, status, held, rounds, waited) = outcome;
    // B's store once B stopped: its log segments and its index.
    let b_disk = bytes_under(b_dir.path())?;

    println!("## 1. fresh node sync");
    println!();
    println!(
        "node A holds {total} posts ({count} threads and replies of ~2 KiB by {AUTHORS} members, plus the space's setup), signed in {:.1} s and preloaded in {:.1} s; node B starts empty; A and B peer both ways and the space is shared with B.",
        signing.as_secs_f64(),
        preload.as_secs_f64()
    );
    println!();
    println!(
        "| posts | posts' bytes | seconds to hold all | bytes on the wire | wire / posts' bytes | reconciliations (rounds) | goal |"
    );
    println!("|---:|---:|---:|---:|---:|---|---|");
    let wire = status
        .as_ref()
        .map_or(0, |s| s.bytes_sent + s.bytes_received);
    match &done {
        Some(progress) => println!(
            "| {total} | {post_bytes} | {:.2} | {wire} | {:.3}x | {} | < 10 s, < 1.1x |",
            progress.last_at.as_secs_f64(),
            wire as f64 / post_bytes as f64,
            describe_rounds(&rounds)
        ),
        None => println!(
            "| {total} | {post_bytes} | did not converge within {:.0} s (B holds {held}) | {wire} | - | {} | < 10 s, < 1.1x |",
            waited.as_secs_f64(),
            describe_rounds(&rounds)
        ),
    }
    if let Some(status) = &status {
        println!();
        println!(
            "A's status of B: {} posts sent, {} bytes sent, {} bytes received (UDP payload, current connection); B holds {held} items. B's store takes {b_disk} bytes on disk ({:.2}x the posts' bytes).",
            status.posts_sent,
            status.bytes_sent,
            status.bytes_received,
            b_disk as f64 / post_bytes as f64
        );
    }

    println!();
    println!("## 2. ingest rate");
    println!();
    println!("| path | posts | seconds | posts/s | goal |");
    println!("|---|---:|---:|---:|---|");
    if let Some(progress) = &done {
        let end_to_end = progress.last_at.as_secs_f64();
        println!(
            "| B from its peer A, peering to last post stored | {total} | {end_to_end:.2} | {:.0} | >= 20,000 |",
            total as f64 / end_to_end
        );
        let streaming = (progress.last_at - progress.first_at).as_secs_f64();
        println!(
            "| B from its peer A, first to last post stored | {total} | {streaming:.2} | {:.0} | >= 20,000 |",
            total as f64 / streaming.max(1e-9)
        );
    } else {
        println!("| B from its peer A | {held} of {total} | - | - | >= 20,000 |");
    }
    let rate = |d: Duration| total as f64 / d.as_secs_f64().max(1e-9);
    println!(
        "| bare loop: `Post::decode` + `Storage::insert`, flush per {BATCH}, 1 thread | {total} | {:.2} | {:.0} | |",
        bare.total().as_secs_f64(),
        rate(bare.total())
    );
    println!(
        "| of which `Post::decode` alone | {total} | {:.2} | {:.0} | |",
        bare.decode.as_secs_f64(),
        rate(bare.decode)
    );
    println!(
        "| of which `Storage::insert` alone | {total} | {:.2} | {:.0} | |",
        bare.insert.as_secs_f64(),
        rate(bare.insert)
    );
    println!(
        "| of which `Storage::flush` alone | {total} | {:.2} | {:.0} | |",
        bare.flush.as_secs_f64(),
        rate(bare.flush)
    );
    Ok(())
}

/// Time spent in each step of the bare ingest loop.
#[derive(Clone, Copy, Debug, Default)]
struct Bare {
    decode: Duration,
    insert: Duration,
    flush: Duration,
}

impl Bare {
    fn total(&self) -> Duration {
        self.decode + self.insert + self.flush
    }
}

/// Verifies and stores `envelopes` on a fresh store, one thread, one flush per batch.
fn bare_ingest(envelopes: &[Vec<u8>]) -> Result<Bare, BoxError> {
    let dir = tempfile::tempdir()?;
    let storage = Storage::open(dir.path())?;
    let now = clock::now();
    let mut bare = Bare::default();
    for batch in envelopes.chunks(BATCH) {
        let step = Instant::now();
        let posts = batch
            .iter()
            .map(|e| Post::decode(e, now))
            .collect::<Result<Vec<_>, _>>()?;
        bare.decode += step.elapsed();
        let step = Instant::now();
        storage.insert(&posts)?;
        bare.insert += step.elapsed();
        let step = Instant::now();
        storage.flush()?;
        bare.flush += step.elapsed();
    }
    Ok(bare)
}

// ---------------------------------------------------------------------------------
// 3: propagation through a full mesh.

async fn mesh(count: usize) -> Result<(), BoxError> {
    let keys: Vec<SecretKey> = (0..count as u64).map(|n| key(3, n)).collect();
    let ids: Vec<NodeId> = keys.iter().map(SecretKey::node_id).collect();
    let space = SpaceSetup::new(&ids[0], &ids[1..], 12);
    let dirs = (0..count)
        .map(|_| tempfile::tempdir())
        .collect::<Result<Vec<_>, _>>()?;
    let mut nodes = Vec::with_capacity(count);
    for (key, dir) in keys.iter().zip(&dirs) {
        nodes.push(start_node(key, Storage::open(dir.path())?)?);
    }
    progress(&format!("mesh of {count}: nodes started"));
    match tokio::time::timeout(STALL, nodes[0].handle.publish(space.posts.clone())).await {
        Ok(stored) => drop(stored?),
        Err(_) => stalled(count, 0),
    }
    let begun = Instant::now();
    for a in &nodes {
        for b in &nodes {
            if a.handle.id() != b.handle.id() {
                a.peer_with(b)?;
            }
        }
    }
    progress(&format!("mesh of {count}: peers added"));
    let connections = count * (count - 1) / 2;
    // Every peer connected, and the space's setup everywhere, before the first post.
    let limit = Duration::from_secs(120);
    let up = wait_for(limit, || {
        nodes.iter().all(|n| {
            n.handle.peers().iter().filter(|p| p.connected).count() == count - 1
                && n.handle
                    .items(&space.id)
                    .is_ok_and(|items| items.len() == space.posts.len())
        })
    })
    .await;
    let mesh_up = begun.elapsed().as_secs_f64();
    if !up {
        let connected: usize = nodes
            .iter()
            .map(|n| n.handle.peers().iter().filter(|p| p.connected).count())
            .sum();
        println!(
            "| {count} | {connections} | did not come up within {} s ({} of {} peer links up) | | | | | | p99 < 500 ms at 30 |",
            limit.as_secs(),
            connected,
            count * (count - 1)
        );
        stop_all(nodes).await;
        return Ok(());
    }

    progress(&format!("mesh of {count}: up"));
    // Sign first, so the posts leave on schedule.
    let posts = sign_range(space.id, 1_000_000..1_000_000 + MESH_POSTS, 1_800, 500);
    let wanted: Arc<Vec<PostId>> = Arc::new(posts.iter().map(Post::id).collect());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let watchers: Vec<_> = nodes
        .iter()
        .map(|n| {
            let mut events = n.handle.subscribe();
            let wanted = wanted.clone();
            tokio::spawn(async move {
                let mut seen: HashMap<PostId, Instant> = HashMap::new();
                while seen.len() < wanted.len() {
                    match tokio::time::timeout_at(deadline, events.recv()).await {
                        Ok(Ok(post)) if wanted.contains(&post.id()) => {
                            seen.entry(post.id()).or_insert_with(Instant::now);
                        }
                        Ok(Ok(_) | Err(RecvError::Lagged(_))) => {}
                        Ok(Err(RecvError::Closed)) | Err(_) => break,
                    }
                }
                seen
            })
        })
        .collect();
    let mut rng = Rng(0x5eed + count as u64);
    let mut published = BTreeMap::new();
    for post in posts {
        let at = &nodes[rng.below(count)];
        published.insert(post.id(), Instant::now());
        match tokio::time::timeout(STALL, at.handle.publish(vec![post])).await {
            Ok(stored) => drop(stored?),
            Err(_) => stalled(count, published.len()),
        }
        tokio::time::sleep(MESH_SPACING).await;
    }
    progress(&format!("mesh of {count}: published"));
    let mut arrivals: Vec<HashMap<PostId, Instant>> = Vec::with_capacity(count);
    for watcher in watchers {
        arrivals.push(watcher.await.unwrap_or_default());
    }
    let mut latencies: Vec<Duration> = published
        .iter()
        .filter_map(|(id, sent)| {
            arrivals
                .iter()
                .map(|seen| seen.get(id).map(|at| at.saturating_duration_since(*sent)))
                .collect::<Option<Vec<_>>>()
                .and_then(|each| each.into_iter().max())
        })
        .collect();
    progress(&format!("mesh of {count}: measured"));
    latencies.sort();
    let ms = |p: f64| {
        if latencies.is_empty() {
            "-".to_owned()
        } else {
            format!("{:.1}", percentile(&latencies, p))
        }
    };
    println!(
        "| {count} | {connections} | {mesh_up:.1} | {} | {}{} | {} | {} | {} | p99 < 500 ms at 30 |",
        published.len(),
        latencies.len(),
        if latencies.len() < published.len() {
            " (others not within 60 s)"
        } else {
            ""
        },
        ms(0.50),
        ms(0.99),
        ms(1.0)
    );
    stop_all(nodes).await;
    Ok(())
}

/// What a stall most likely is.
const STALL_NOTE: &str = "A node stopped making progress (a stall in storage or the runtime); the watchdog ended the run.";

/// How long a node may take to store one published post before the run is given up.
const STALL: Duration = Duration::from_secs(30);

/// Ends the run: a node's group commit did not come back. The store is stuck, and
/// every store in this process with it (sled 0.34 keeps one lock for all of them), so
/// nothing after this could finish either.
fn stalled(count: usize, post: usize) -> ! {
    println!(
        "| {count} | {} | | | stalled: post {post} not stored at its node within {} s | | | | p99 < 500 ms at 30 |",
        count * (count - 1) / 2,
        STALL.as_secs()
    );
    println!();
    println!("the run ends here. {STALL_NOTE}");
    std::process::exit(2)
}

// ---------------------------------------------------------------------------------
// 4: two large stores that differ a little.

fn differing_pair(runtime: &tokio::runtime::Runtime, per_node: usize) -> Result<(), BoxError> {
    let a_key = key(4, 0);
    let b_key = key(5, 0);
    let space = SpaceSetup::new(&a_key.node_id(), &[b_key.node_id()], 13);
    let a_dir = tempfile::tempdir()?;
    let b_dir = tempfile::tempdir()?;
    let a_store = Storage::open(a_dir.path())?;
    let b_store = Storage::open(b_dir.path())?;
    let common = per_node - UNIQUE_EACH;
    let preload = Instant::now();
    a_store.insert(&space.posts)?;
    b_store.insert(&space.posts)?;
    let mut post_bytes = 0u64;
    // Signed and stored a slice at a time: a million posts need not sit in memory.
    let slice = BATCH * 16;
    let mut start = 0;
    while start < common {
        let end = (start + slice).min(common);
        let posts = sign_range(space.id, start..end, 160, 160);
        post_bytes += posts.iter().map(|p| p.bytes().len() as u64).sum::<u64>();
        for batch in posts.chunks(BATCH) {
            a_store.insert(batch)?;
            b_store.insert(batch)?;
        }
        start = end;
    }
    let only_a = sign_range(space.id, common..common + UNIQUE_EACH, 160, 160);
    let only_b = sign_range(
        space.id,
        common + UNIQUE_EACH..common + 2 * UNIQUE_EACH,
        160,
        160,
    );
    a_store.insert(&only_a)?;
    b_store.insert(&only_b)?;
    a_store.flush()?;
    b_store.flush()?;
    let preload = preload.elapsed();
    progress("large pair: reconciling in this thread");
    let from_sums = reconcile_in_thread(&a_store, &b_store, space.id, Items::Sums)?;
    let from_memory = reconcile_in_thread(&a_store, &b_store, space.id, Items::ReadAll)?;

    let outcome = runtime.block_on(async {
        let a = start_node(&a_key, a_store)?;
        let b = start_node(&b_key, b_store)?;
        let a_gets = EventCounter::spawn(&a.handle, UNIQUE_EACH as u64);
        let b_gets = EventCounter::spawn(&b.handle, UNIQUE_EACH as u64);
        reconciliations().clear();
        let begun = Instant::now();
        progress("large pair: peering");
        a.peer_with(&b)?;
        b.peer_with(&a)?;
        let limit = Duration::from_secs(300);
        let (a_done, b_done) = tokio::join!(a_gets.wait(limit), b_gets.wait(limit));
        let converged = a_done.zip(b_done).map(|(x, y)| x.last_at.max(y.last_at));
        let status = a.status_of(&b.handle.id());
        let rounds = reconciliations().take();
        let waited = begun.elapsed();
        let a_items = a.handle.items(&space.id)?.len();
        let b_items = b.handle.items(&space.id)?.len();
        a.stop().await;
        b.stop().await;
        Ok::<_, BoxError>((converged, status, rounds, waited, a_items, b_items))
    })?;
    let (converged, status, rounds, waited, a_items, b_items) = outcome;

    println!("## 4. two large nodes that differ by {}", 2 * UNIQUE_EACH);
    println!();
    println!(
        "one reconciliation of the two stores, both sides stepped in one thread (no network): each side's time in its steps (start, then each frame), bytes of messages, round trips, differences found"
    );
    println!();
    println!(
        "| items read | A (initiator) ms | B (responder) ms | bytes | rounds | A has, A needs |"
    );
    println!("|---|---:|---:|---:|---:|---|");
    for (name, cost) in [
        ("from the kept sums (now)", &from_sums),
        ("all read into memory (before)", &from_memory),
    ] {
        println!(
            "| {name} | {:.1} | {:.1} | {} | {} | {}, {} |",
            cost.initiator.as_secs_f64() * 1e3,
            cost.responder.as_secs_f64() * 1e3,
            cost.bytes,
            cost.rounds,
            cost.have,
            cost.need
        );
    }
    println!();
    println!(
        "each node holds {per_node} posts (~{} bytes each, short bodies so the stores stay small; signed and preloaded in {:.0} s), {UNIQUE_EACH} of them unique to it; both hold the space, then peer both ways.",
        post_bytes / common.max(1) as u64,
        preload.as_secs_f64()
    );
    println!();
    println!(
        "| posts per node | differing | seconds to converge | bytes on the wire | reconciliations (rounds) | items after (A, B) |"
    );
    println!("|---:|---:|---:|---:|---|---|");
    let wire = status
        .as_ref()
        .map_or(0, |s| s.bytes_sent + s.bytes_received);
    let seconds = match converged {
        Some(at) => format!("{:.2}", at.as_secs_f64()),
        None => format!("did not converge within {:.0} s", waited.as_secs_f64()),
    };
    println!(
        "| {per_node} | {} | {seconds} | {wire} | {} | {a_items}, {b_items} |",
        2 * UNIQUE_EACH,
        describe_rounds(&rounds)
    );
    println!();
    println!(
        "bytes on the wire: A's count for its connection to B, both ways, UDP payload, handshake and keep-alives included; for reference the protocol-level bench (sync in memory) gives 3 round trips and ~172 KB for 1M posts differing by 100."
    );
    Ok(())
}

/// How a reconciliation in this thread reads the stores' items.
#[derive(Clone, Copy)]
enum Items {
    /// Through the sums the store keeps, as the node does.
    Sums,
    /// Every item read into memory first, as the node did before it kept sums.
    ReadAll,
}

/// What one reconciliation cost each side.
struct Cost {
    initiator: Duration,
    responder: Duration,
    bytes: u64,
    rounds: u32,
    have: usize,
    need: usize,
}

/// Reconciles `space` of store `a` (initiating) with store `b` in this thread, timing
/// each side's steps.
fn reconcile_in_thread(
    a: &Storage,
    b: &Storage,
    space: SpaceId,
    items: Items,
) -> Result<Cost, BoxError> {
    use parley_protocol::sync::{Input, Output, SyncConfig, SyncSession};
    let config = SyncConfig::default();
    let mut cost = Cost {
        initiator: Duration::ZERO,
        responder: Duration::ZERO,
        bytes: 0,
        rounds: 0,
        have: 0,
        need: 0,
    };
    let started = Instant::now();
    let mut initiator = match items {
        Items::Sums => {
            let _held = a.hold_items();
            SyncSession::initiate_over(space, a.space_items(space), config)?
        }
        Items::ReadAll => SyncSession::initiate(space, a.items(&space)?, config)?,
    };
    cost.initiator += started.elapsed();
    let started = Instant::now();
    let mut responder = match items {
        Items::Sums => SyncSession::respond_over(space, b.space_items(space), config)?,
        Items::ReadAll => SyncSession::respond(space, b.items(&space)?, config)?,
    };
    cost.responder += started.elapsed();
    for _ in 0..1_000 {
        while let Some(output) = initiator.poll_output() {
            match output {
                Output::Send(message) => {
                    cost.bytes += message.encoded_len() as u64;
                    let started = Instant::now();
                    let _held = b.hold_items();
                    responder.handle(Input::Received(message))?;
                    cost.responder += started.elapsed();
                }
                Output::Have(ids) => cost.have += ids.len(),
                Output::Need(ids) => cost.need += ids.len(),
                _ => {}
            }
        }
        let mut answered = false;
        while let Some(output) = responder.poll_output() {
            if let Output::Send(message) = output {
                answered = true;
                cost.bytes += message.encoded_len() as u64;
                let started = Instant::now();
                let _held = a.hold_items();
                initiator.handle(Input::Received(message))?;
                cost.initiator += started.elapsed();
            }
        }
        if initiator.is_finished() || !answered {
            break;
        }
    }
    cost.rounds = initiator.outcome().rounds;
    Ok(cost)
}

// ---------------------------------------------------------------------------------
// Nodes.

/// A node running in this process.
struct Running {
    handle: NodeHandle,
    addr: std::net::SocketAddr,
}

fn start_node(key: &SecretKey, storage: Storage) -> Result<Running, BoxError> {
    let config = FederationConfig::default();
    let endpoint = server::endpoint(key, "127.0.0.1:0".parse()?, &config)?;
    let addr = endpoint.local_addr()?;
    let handle = server::start(
        SecretKey::from_seed(&key.to_seed()),
        storage,
        endpoint,
        addr.to_string(),
        config,
        Vec::new(),
    )?;
    Ok(Running { handle, addr })
}

impl Running {
    /// Makes `other` a configured peer of this node.
    fn peer_with(&self, other: &Self) -> Result<(), BoxError> {
        self.handle.add_peer(NodeAddress {
            node: other.handle.id(),
            host_port: other.addr.to_string(),
        })?;
        Ok(())
    }

    fn status_of(&self, peer: &NodeId) -> Option<PeerStatus> {
        self.handle.peers().into_iter().find(|p| p.node == *peer)
    }

    /// Stops the node, giving up on a clean stop after ten seconds.
    async fn stop(self) {
        let _ = tokio::time::timeout(Duration::from_secs(10), self.handle.shutdown()).await;
    }
}

async fn stop_all(nodes: Vec<Running>) {
    let stops: Vec<_> = nodes.into_iter().map(|n| tokio::spawn(n.stop())).collect();
    for stop in stops {
        let _ = stop.await;
    }
}

/// Polls `check` every 20 ms until it holds (`true`) or `limit` passes (`false`).
async fn wait_for(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// When a node stored its first and its `target`th new post, measured from when the
/// counter was polled first. Counts the node's post events (a lagging receiver still
/// learns how many it missed), which costs far less than listing the store's items.
struct EventCounter {
    count: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<Option<Progress>>,
}

#[derive(Clone, Copy, Debug)]
struct Progress {
    first_at: Duration,
    last_at: Duration,
}

impl EventCounter {
    fn spawn(node: &NodeHandle, target: u64) -> Self {
        let mut events = node.subscribe();
        let count = Arc::new(AtomicU64::new(0));
        let seen = count.clone();
        let started = Instant::now();
        let task = tokio::spawn(async move {
            let mut first_at = None;
            loop {
                let n = match events.recv().await {
                    Ok(_) => 1,
                    Err(RecvError::Lagged(missed)) => missed,
                    Err(RecvError::Closed) => return None,
                };
                let now = started.elapsed();
                let first_at = *first_at.get_or_insert(now);
                if seen.fetch_add(n, Ordering::Relaxed) + n >= target {
                    return Some(Progress {
                        first_at,
                        last_at: now,
                    });
                }
            }
        });
        Self { count, task }
    }

    /// Waits, polling every 20 ms, until the target is reached or `limit` passes.
    async fn wait(self, limit: Duration) -> Option<Progress> {
        let Self { count, task } = self;
        let deadline = Instant::now() + limit;
        while !task.is_finished() {
            if Instant::now() >= deadline {
                eprintln!(
                    "gave up after {} s with {} new posts stored",
                    limit.as_secs(),
                    count.load(Ordering::Relaxed)
                );
                task.abort();
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        task.await.ok().flatten()
    }
}

// ---------------------------------------------------------------------------------
// Posts.

/// A space founded for a bench: its genesis, replicas and members.
struct SpaceSetup {
    id: SpaceId,
    /// Genesis, shares and member additions, in order.
    posts: Vec<Post>,
}

impl SpaceSetup {
    fn new(home: &NodeId, replicas: &[NodeId], nonce: u8) -> Self {
        let founder = author(0);
        let start = base_time();
        let genesis = Genesis {
            name: format!("bench {nonce}"),
            description: "federation bench".to_owned(),
            home_node: *home,
            nonce: [nonce; 16],
        };
        let genesis = Post::sign_genesis(&founder, start, genesis, clock::now())
            .expect("a bench genesis is valid");
        let id = genesis.space();
        let mut posts = vec![genesis];
        let mut at = start;
        let mut sign = |content: Content| {
            at = at.saturating_add_millis(1);
            Post::sign(&founder, id, at, content, clock::now()).expect("bench posts are valid")
        };
        for node in replicas {
            posts.push(sign(Content::ShareReplica(Replica { node: *node })));
        }
        for n in 1..AUTHORS {
            posts.push(sign(Content::AddMember(Member {
                user: author(n).user_id(),
            })));
        }
        Self { id, posts }
    }
}

/// The bench's authors: the founder (0) and the members it adds.
fn author(n: u64) -> SecretKey {
    key(0xa0, n)
}

fn key(tag: u8, n: u64) -> SecretKey {
    let mut seed = [tag; 32];
    seed[..8].copy_from_slice(&n.to_le_bytes());
    SecretKey::from_seed(&seed)
}

/// A week ago: every post is dated after its space's setup and well before now.
fn base_time() -> Timestamp {
    Timestamp::from_millis(clock::now().as_millis() - 7 * 24 * 3_600_000)
}

/// Posts number `range` of `space`, signed on every core: every eighth a thread, the
/// rest replies to it, with deterministic text bodies of `body` to `body + spread`
/// bytes. Post `n` is the same post whichever range it is signed in (its thread root
/// is signed again when the range starts inside a thread).
fn sign_range(
    space: SpaceId,
    range: std::ops::Range<usize>,
    body: usize,
    spread: usize,
) -> Vec<Post> {
    const THREAD: usize = 8;
    let base = base_time().saturating_add_millis(1_000);
    let now = clock::now();
    let make = move |n: usize, root: Option<PostId>| -> Post {
        let mut rng = Rng(n as u64 * 0x9e37_79b9_7f4a_7c15 + 1);
        let len = body + rng.below(spread + 1);
        let text = words(&mut rng, len);
        let content = match root {
            None => Content::Thread(Thread {
                title: format!(
                    "Topic {}: {}",
                    n / THREAD,
                    words(&mut rng, 40).replace('\n', " ")
                ),
                body: text,
                mentions: BoundedVec::new(),
            }),
            Some(root) => Content::Reply(Reply {
                root,
                parent: root,
                body: text,
                mentions: BoundedVec::new(),
            }),
        };
        let at = base.saturating_add_millis(n as u64 * 10);
        Post::sign(&author(n as u64 % AUTHORS), space, at, content, now)
            .expect("bench posts are valid")
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = range
        .len()
        .div_ceil(threads)
        .next_multiple_of(THREAD)
        .max(THREAD);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let from = (range.start + t * per_thread).min(range.end);
                let to = (from + per_thread).min(range.end);
                scope.spawn(move || {
                    let mut root = None;
                    let mut out = Vec::with_capacity(to - from);
                    for n in from..to {
                        if n % THREAD == 0 {
                            let post = make(n, None);
                            root = Some(post.id());
                            out.push(post);
                        } else {
                            let id = match root {
                                Some(id) => id,
                                None => make(n - n % THREAD, None).id(),
                            };
                            root = Some(id);
                            out.push(make(n, Some(id)));
                        }
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a signing thread panicked"))
            .collect()
    })
}

/// About `len` bytes of words.
fn words(rng: &mut Rng, len: usize) -> String {
    const WORDS: [&str; 32] = [
        "the",
        "node",
        "replica",
        "thread",
        "reply",
        "we",
        "should",
        "consider",
        "whether",
        "sync",
        "packet",
        "latency",
        "design",
        "agree",
        "however",
        "proposal",
        "meeting",
        "review",
        "patch",
        "release",
        "because",
        "question",
        "data",
        "space",
        "member",
        "decision",
        "asynchronous",
        "discussion",
        "perhaps",
        "later",
        "test",
        "results",
    ];
    let mut text = String::with_capacity(len + 16);
    while text.len() < len {
        if !text.is_empty() {
            text.push(if rng.below(12) == 0 { '\n' } else { ' ' });
        }
        text.push_str(WORDS[rng.below(WORDS.len())]);
    }
    text
}

/// xorshift64*: deterministic text and choices without a rand crate.
struct Rng(u64);

impl Rng {
    fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % bound.max(1) as u64) as usize
    }
}

// ---------------------------------------------------------------------------------
// Round trips and failures, from the nodes' own log lines.

/// A federation event the nodes logged.
#[derive(Clone, Debug)]
enum Logged {
    /// A reconciliation finished: its round trips, and the ids each side lacked.
    Reconciled { rounds: u64, have: u64, need: u64 },
    /// A reconciliation failed, as initiator or responder.
    Failed(String),
    /// A peer connection went down.
    Disconnected(String),
}

#[derive(Default)]
struct Log(Mutex<Vec<Logged>>);

impl Log {
    fn clear(&self) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    fn take(&self) -> Vec<Logged> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

fn reconciliations() -> &'static Log {
    static LOG: std::sync::OnceLock<Log> = std::sync::OnceLock::new();
    LOG.get_or_init(Log::default)
}

/// `rounds (have h, need n)` of each finished reconciliation, then failures.
fn describe_rounds(log: &[Logged]) -> String {
    let mut parts = Vec::new();
    for event in log {
        match event {
            Logged::Reconciled { rounds, have, need } => {
                parts.push(format!("{rounds} (have {have}, need {need})"));
            }
            Logged::Failed(error) => parts.push(format!("failed: {error}")),
            Logged::Disconnected(reason) => parts.push(format!("disconnected: {reason}")),
        }
    }
    if parts.is_empty() {
        return "none logged".to_owned();
    }
    parts.join("; ")
}

/// Records the federation's `reconciled`, `reconciliation failed` and `disconnected`
/// events.
struct Capture;

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let logged = match fields.message.as_str() {
            "reconciled" => Logged::Reconciled {
                rounds: fields.rounds,
                have: fields.have,
                need: fields.need,
            },
            "reconciliation failed" => Logged::Failed(fields.error),
            "answering a reconciliation failed" => {
                Logged::Failed(format!("{} (responder)", fields.error))
            }
            "disconnected from peer" => Logged::Disconnected(fields.reason),
            _ => return,
        };
        reconciliations()
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(logged);
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    error: String,
    reason: String,
    rounds: u64,
    have: u64,
    need: u64,
}

impl tracing::field::Visit for Fields {
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        match field.name() {
            "rounds" => self.rounds = value,
            "have" => self.have = value,
            "need" => self.need = value,
            _ => {}
        }
    }

    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.record_u64(field, value.unsigned_abs());
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "error" => self.error = format!("{value:?}"),
            "reason" => self.reason = format!("{value:?}"),
            _ => {}
        }
    }
}

/// Warnings to stderr; the federation's connection events to [`Capture`].
fn init_tracing() {
    let capture = Capture.with_filter(
        filter::Targets::new()
            .with_target("parley_node::federation::connection", tracing::Level::DEBUG),
    );
    let warnings = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(filter::LevelFilter::WARN);
    tracing_subscriber::registry()
        .with(capture)
        .with(warnings)
        .init();
}

// ---------------------------------------------------------------------------------
// Small helpers.

/// Ends the process if the step `what` is still running after `limit`: the last word on
/// every deadline, even when a blocking call inside a node never returns.
fn watchdog(what: &str, limit: Duration) {
    static ARMED: Mutex<Option<(String, Instant, Duration)>> = Mutex::new(None);
    static THREAD: std::sync::Once = std::sync::Once::new();
    *ARMED.lock().unwrap_or_else(PoisonError::into_inner) =
        Some((what.to_owned(), Instant::now() + limit, limit));
    THREAD.call_once(|| {
        std::thread::spawn(|| {
            loop {
                std::thread::sleep(Duration::from_millis(500));
                let armed = ARMED.lock().unwrap_or_else(PoisonError::into_inner).clone();
                if let Some((what, deadline, limit)) = armed
                    && Instant::now() >= deadline
                {
                    println!();
                    println!(
                        "{what} did not finish within {} s; the run ends here. {STALL_NOTE}",
                        limit.as_secs()
                    );
                    std::process::exit(2);
                }
            }
        });
    });
}

/// Notes on stderr how far the bench got.
fn progress(what: &str) {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let start = START.get_or_init(Instant::now);
    eprintln!("[{:7.1} s] {what}", start.elapsed().as_secs_f64());
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

/// Today's date and time, `YYYY-MM-DD HH:MM`, in UTC.
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60
    )
}

/// Bytes of the files under `dir`.
fn bytes_under(dir: &std::path::Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            total += bytes_under(&entry.path())?;
        } else {
            total += entry.metadata()?.len();
        }
    }
    Ok(total)
}
