//! Group commit throughput: durably acknowledged posts per second through the
//! [`Committer`] with 1, 8 and 64 concurrent submitters, and the latency of each
//! acknowledgement (submit to flushed). Posts are 2 KiB and signed beforehand, so the
//! figures are the store's alone.
//!
//! ```text
//! cargo run --release -p parley-node --example storage_bench [-- --seconds S] [--dir DIR]
//! ```
//!
//! Each row runs for `S` seconds (default 5) on a fresh store in a temporary directory
//! (or under `DIR`, to measure another disk).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parley_node::storage::{Committer, Storage};
use parley_protocol::content::Thread;
use parley_protocol::encoding::BoundedVec;
use parley_protocol::{Content, Post, SecretKey, SpaceId, Timestamp};

const NOW: u64 = 1_800_000_000_000;
const BODY_BYTES: usize = 2048;
/// Submitters per row, and the most posts per second signed for that row.
const ROWS: [(usize, usize); 3] = [(1, 8_000), (8, 25_000), (64, 40_000)];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut seconds = 5u64;
    let mut dir: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => seconds = args.next().ok_or("--seconds needs a value")?.parse()?,
            "--dir" => dir = Some(args.next().ok_or("--dir needs a value")?.into()),
            "--bench" => {} // passed by `cargo bench`
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    println!("group commit, {BODY_BYTES}-byte bodies, {seconds} s per row");
    println!(
        "{:>10} {:>10} {:>12} {:>9} {:>9} {:>9} {:>11}",
        "submitters", "posts", "posts/s", "p50 ms", "p99 ms", "max ms", "disk MiB"
    );
    for (submitters, cap) in ROWS {
        let tmp = match &dir {
            Some(dir) => tempfile::tempdir_in(dir)?,
            None => tempfile::tempdir()?,
        };
        let storage = Storage::open(tmp.path())?;
        // Enough posts for the row at a generous rate, signed before the clock starts
        // (a row that runs out stops early, and its rate is still right).
        let posts = Arc::new(sign(submitters, cap * seconds as usize));
        let row = runtime.block_on(run(
            storage.clone(),
            posts,
            submitters,
            Duration::from_secs(seconds),
        ))?;
        let disk = storage.size_on_disk()? as f64 / (1024.0 * 1024.0);
        println!(
            "{:>10} {:>10} {:>12.0} {:>9.2} {:>9.2} {:>9.2} {:>11.1}",
            submitters,
            row.latencies.len(),
            row.latencies.len() as f64 / row.elapsed.as_secs_f64(),
            percentile(&row.latencies, 0.50),
            percentile(&row.latencies, 0.99),
            percentile(&row.latencies, 1.0),
            disk
        );
    }
    Ok(())
}

struct Row {
    /// Each acknowledgement's latency, sorted.
    latencies: Vec<Duration>,
    elapsed: Duration,
}

async fn run(
    storage: Storage,
    posts: Arc<Vec<Post>>,
    submitters: usize,
    length: Duration,
) -> Result<Row, Box<dyn std::error::Error>> {
    let commit = Committer::spawn(storage);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..submitters)
        .map(|_| {
            let (commit, posts, next) = (commit.clone(), posts.clone(), next.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while started.elapsed() < length {
                    let Some(post) = posts.get(next.fetch_add(1, Ordering::Relaxed)) else {
                        break;
                    };
                    let submitted = Instant::now();
                    commit.commit(vec![post.clone()]).await?;
                    latencies.push(submitted.elapsed());
                }
                Ok::<_, parley_node::storage::StorageError>(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    Ok(Row { latencies, elapsed })
}

/// `count` distinct 2 KiB thread posts, signed on all cores.
fn sign(salt: usize, count: usize) -> Vec<Post> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = count.div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    let key = SecretKey::from_seed(&[(salt * 16 + t + 1) as u8; 32]);
                    let now = Timestamp::from_millis(NOW);
                    (0..per_thread)
                        .map(|n| {
                            let content = Content::Thread(Thread {
                                title: format!("bench {t} {n}"),
                                body: "x".repeat(BODY_BYTES),
                                mentions: BoundedVec::new(),
                            });
                            let at = Timestamp::from_millis(NOW - 1_000_000 + n as u64);
                            Post::sign(&key, SpaceId::from_bytes([9; 32]), at, content, now)
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .expect("a signing thread panicked")
                    .expect("bench posts are valid")
            })
            .collect()
    })
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}
