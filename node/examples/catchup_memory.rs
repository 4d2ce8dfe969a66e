//! The memory of real `parleyd` processes while a fresh node catches up with a peer.
//!
//! Node A's data directory is prepared before it starts: a space homed at A and shared
//! with B, and 100,000 threads and replies of ~2 KiB, stored through
//! `Storage::insert` as `federation_bench` does. Then A and a fresh B run as child
//! `parleyd run` processes on 127.0.0.1, each is told to add the other as a peer, and
//! while B catches up this samples `/proc/<pid>/status` of both every 100 ms, polling
//! B's count of posts received from A every 100 ms until B holds every post.
//!
//! The nodes are created with `parleyd init`. While they run they are administered
//! through their admin API, one connection each, with the requests `parleyd peer add`,
//! `peer list` and `status` send: the CLI opens the store first and, finding it held by
//! the running node, waits out the store's two-second lock patience on every command,
//! which would make the catch-up's time two seconds coarse. The full status, which
//! counts a space's posts by scanning the node's index, is asked for only every few
//! seconds and at the end, as asking it often slows the catch-up it measures.
//!
//! ```text
//! cargo run --release --locked -p parley-node --example catchup_memory [-- --posts N]
//!     [--settle SECS] [--deadline SECS] [--parleyd PATH]
//! ```
//!
//! It builds `parleyd` itself (`cargo build --release --locked -p parley-node --bin
//! parleyd`, through the `CARGO` that runs it) unless `--parleyd PATH` names one. After
//! B holds every post it keeps sampling for `--settle` seconds (default 10), then stops
//! both nodes with SIGTERM and measures their stores. Prints markdown tables, progress
//! on stderr. The catch-up is given `--deadline` seconds (default 600); past it the run
//! fails, saying how far B got. The children are killed whatever happens (a guard kills
//! each on drop; Ctrl-C reaches them too) and the temporary directories removed. Linux
//! only (`/proc`). Nothing here asserts a figure.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parley_node::config::DataDir;
use parley_node::server::{AdminRequest, AdminResponse, MAX_ADMIN_BYTES, Status};
use parley_node::storage::Storage;
use parley_node::{clock, keyfile, transport};
use parley_protocol::api::NodeAddress;
use parley_protocol::content::{Content, Genesis, Member, Replica, Reply, Thread};
use parley_protocol::encoding::BoundedVec;
use parley_protocol::{NodeId, Post, PostId, SecretKey, SpaceId, Timestamp};
use serde_json::Value;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Posts A holds unless `--posts` says otherwise (besides the space's setup).
const DEFAULT_POSTS: usize = 100_000;
/// Posts per `Storage::insert` when preloading A.
const BATCH: usize = 4096;
/// Members writing the posts.
const AUTHORS: u64 = 4;
/// How often both processes' memory is read.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);
/// How often B's count of posts received from A is asked for (cheap: no store scan).
const POLL_EVERY: Duration = Duration::from_millis(100);
/// How often, besides when that count reaches the total, B's full status is asked for
/// (it counts the space's posts by scanning B's index, which costs B time).
const FULL_STATUS_EVERY: Duration = Duration::from_secs(5);
/// How long a node may take to start serving, or to stop after SIGTERM.
const START_STOP_LIMIT: Duration = Duration::from_secs(30);
/// The memory goal of a node (the store's page cache is sized against it).
const GOAL: &str = "< 200 MB";

fn main() -> Result<(), BoxError> {
    let args = Args::parse()?;
    let started = Instant::now();
    let parleyd = match &args.parleyd {
        Some(path) => path.clone(),
        None => build_parleyd()?,
    };
    progress(&format!("parleyd: {}", parleyd.display()));

    // Declared before the nodes, so it is removed after they are killed.
    let work = tempfile::tempdir()?;
    let a_dir = work.path().join("a");
    let b_dir = work.path().join("b");
    let a_address = init_node(&parleyd, &a_dir)?;
    let b_address = init_node(&parleyd, &b_dir)?;

    // A's store: the space (homed at A, shared with B) and its posts.
    let space = SpaceSetup::new(&a_address.node, &[b_address.node], 21);
    let signing = Instant::now();
    let mut posts = space.posts.clone();
    posts.extend(sign_range(space.id, 0..args.posts, 1_800, 500));
    let signing = signing.elapsed();
    let total = posts.len() as u64;
    let post_bytes: u64 = posts.iter().map(|p| p.bytes().len() as u64).sum();
    progress(&format!(
        "signed {total} posts ({post_bytes} bytes) in {:.1} s",
        signing.as_secs_f64()
    ));
    let preload = Instant::now();
    {
        let store = Storage::open(&DataDir(a_dir.clone()).db())?;
        for batch in posts.chunks(BATCH) {
            store.insert(batch)?;
        }
        store.flush()?;
    }
    let preload = preload.elapsed();
    drop(posts);
    progress(&format!(
        "preloaded A's store in {:.1} s",
        preload.as_secs_f64()
    ));

    let mut a = Daemon::start(&parleyd, &a_dir, "A")?;
    let mut b = Daemon::start(&parleyd, &b_dir, "B")?;
    // One worker runs the admin connections, so they stay alive between requests.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    // A node answers once it has loaded its spaces' governance (a read of its store).
    let a_admin = Admin::connect(&runtime, &a_dir)?;
    let b_admin = Admin::connect(&runtime, &b_dir)?;
    let a_idle = read_memory(a.pid)?;
    let b_idle = read_memory(b.pid)?;
    progress(&format!(
        "both nodes answer (A {}, B {} resident)",
        mib(a_idle.rss_kib),
        mib(b_idle.rss_kib)
    ));

    let space_id = space.id.to_string();
    let sampler = Sampler::spawn(a.pid, b.pid);
    let begun = sampler.started;
    a_admin.peer_add(&b_address)?;
    b_admin.peer_add(&a_address)?;
    progress("peered both ways; B catches up");

    // Progress is B's count of posts received from A (stored durably before it is
    // counted). B's full status confirms the space's count when that reaches the
    // total, and every few seconds in case the count restarted with a new connection.
    let a_node = a_address.node.to_string();
    let deadline = begun + args.deadline;
    let mut polls: Vec<(Duration, u64)> = Vec::new();
    let mut full_statuses = Vec::new();
    let mut held = 0;
    let mut last_full = Instant::now();
    let mut last_report = Instant::now();
    let caught_up = loop {
        a.check_running()?;
        b.check_running()?;
        let received = b_admin.received_from(&a_node)?;
        let at = begun.elapsed();
        polls.push((at, received));
        if received >= total || last_full.elapsed() >= FULL_STATUS_EVERY {
            let asked = Instant::now();
            held = space_posts(&b_admin.status()?, &space_id).unwrap_or(0);
            full_statuses.push(asked.elapsed());
            last_full = Instant::now();
            if held >= total {
                break at;
            }
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "after {:.0} s (--deadline) B held {held} of {total} posts and had received {received} from A; both nodes are killed",
                at.as_secs_f64()
            )
            .into());
        }
        if last_report.elapsed() >= Duration::from_secs(5) {
            last_report = Instant::now();
            progress(&format!("B received {received} of {total}"));
        }
        std::thread::sleep(POLL_EVERY);
    };
    progress(&format!(
        "B holds all {total} posts after {:.1} s; settling {} s",
        caught_up.as_secs_f64(),
        args.settle.as_secs()
    ));
    std::thread::sleep(args.settle);
    let b_status = b_admin.status()?;
    let samples = sampler.finish();
    let settled = begun.elapsed();

    drop((a_admin, b_admin));
    a.stop()?;
    b.stop()?;
    let a_disk = disk_usage(&a_dir)?;
    let b_disk = disk_usage(&b_dir)?;
    progress("both nodes stopped");

    let b_peak = samples.iter().filter_map(|s| s.b).map(|m| m.hwm_kib).max();
    let a_peak = samples.iter().filter_map(|s| s.a).map(|m| m.hwm_kib).max();
    let b_at_catch_up = sample_at(&samples, caught_up).and_then(|s| s.b);
    let b_at_end = samples.iter().rev().find_map(|s| s.b);
    let show = |m: Option<u64>| m.map_or_else(|| "-".to_owned(), mib);

    println!("# catch-up memory");
    println!();
    println!(
        "{} UTC, {} cores, two `parleyd run` processes on 127.0.0.1, default settings (RUST_LOG=warn).",
        utc_now(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "A holds {total} posts ({} threads and replies of ~2 KiB by {AUTHORS} members, plus the space's setup), signed in {:.1} s, stored in A's data directory in {:.1} s before A starts; B starts empty; each node is told to add the other (admin API) and B catches up. Memory from /proc/PID/status every {} ms; B's count of posts received from A every {} ms (the time is as coarse), confirmed by B's full status ({} of them, {} on average: it scans the space's index).",
        args.posts,
        signing.as_secs_f64(),
        preload.as_secs_f64(),
        SAMPLE_EVERY.as_millis(),
        POLL_EVERY.as_millis(),
        full_statuses.len(),
        millis(full_statuses.iter().sum::<Duration>() / full_statuses.len().max(1) as u32),
    );
    println!();
    println!(
        "| posts | seconds to catch up | B peak RSS (VmHWM) | B RSS at catch-up | B RSS {} s later | A peak RSS (VmHWM) | B store on disk (du) | posts' bytes | disk / posts' bytes | goal |",
        args.settle.as_secs()
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    println!(
        "| {total} | {:.1} | {} | {} | {} | {} | {} | {} | {:.2}x | {GOAL} per node |",
        caught_up.as_secs_f64(),
        show(b_peak),
        show(b_at_catch_up.map(|m| m.rss_kib)),
        show(b_at_end.map(|m| m.rss_kib)),
        show(a_peak),
        megabytes(b_disk.allocated),
        megabytes(post_bytes),
        b_disk.allocated as f64 / post_bytes as f64
    );
    println!();
    println!(
        "Before peering, once both answered: A {} resident (its store open, governance loaded), B {}. A's store on disk: {} (du), {} apparent; B's: {} apparent; B's own count (`disk_bytes`): {}.",
        mib(a_idle.rss_kib),
        mib(b_idle.rss_kib),
        megabytes(a_disk.allocated),
        megabytes(a_disk.apparent),
        megabytes(b_disk.apparent),
        megabytes(b_status.disk_bytes)
    );
    println!();
    println!("## B's memory over the catch-up");
    println!();
    println!(
        "RSS split into anonymous memory (heap) and file-backed pages; B's count of posts received from A at the last poll before that moment."
    );
    println!();
    println!("| seconds | B received | B RSS | B anon | B file | B VmHWM | A RSS | A anon |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut shown: Option<Duration> = None;
    for at in timeline(caught_up, settled) {
        let Some(sample) = sample_at(&samples, at) else {
            continue;
        };
        if shown.replace(sample.at) == Some(sample.at) {
            continue; // a catch-up shorter than the samples are apart
        }
        let received = polls
            .iter()
            .rev()
            .find(|(t, _)| *t <= sample.at)
            .map_or(0, |(_, n)| *n);
        let cell = |m: Option<Memory>, f: fn(&Memory) -> u64| show(m.as_ref().map(f));
        println!(
            "| {:.1} | {received} | {} | {} | {} | {} | {} | {} |",
            sample.at.as_secs_f64(),
            cell(sample.b, |m| m.rss_kib),
            cell(sample.b, |m| m.anon_kib),
            cell(sample.b, |m| m.file_kib),
            cell(sample.b, |m| m.hwm_kib),
            cell(sample.a, |m| m.rss_kib),
            cell(sample.a, |m| m.anon_kib),
        );
    }
    if let Some(link) = b_status.peers.iter().find(|p| p.node_id == a_node) {
        println!();
        println!(
            "B's status of A at the end: {} posts received, {} invalid.",
            link.posts_received, link.invalid
        );
    }
    println!();
    println!("total {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

// ---------------------------------------------------------------------------------
// Arguments.

struct Args {
    posts: usize,
    settle: Duration,
    deadline: Duration,
    parleyd: Option<PathBuf>,
}

impl Args {
    fn parse() -> Result<Self, BoxError> {
        let mut parsed = Self {
            posts: DEFAULT_POSTS,
            settle: Duration::from_secs(10),
            deadline: Duration::from_secs(600),
            parleyd: None,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
            match arg.as_str() {
                "--posts" => parsed.posts = value()?.parse()?,
                "--settle" => parsed.settle = Duration::from_secs(value()?.parse()?),
                "--deadline" => parsed.deadline = Duration::from_secs(value()?.parse()?),
                "--parleyd" => parsed.parleyd = Some(value()?.into()),
                "--bench" => {} // passed by `cargo bench`
                other => {
                    return Err(format!(
                        "unknown argument {other}; use --posts N, --settle SECS, --deadline SECS, --parleyd PATH"
                    )
                    .into());
                }
            }
        }
        Ok(parsed)
    }
}

// ---------------------------------------------------------------------------------
// The binary and its commands.

/// Builds `parleyd` (release) with the cargo that runs this example; its path.
fn build_parleyd() -> Result<PathBuf, BoxError> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    progress("building parleyd (release)");
    let out = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--locked",
            "-p",
            "parley-node",
            "--bin",
            "parleyd",
            "--message-format=json-render-diagnostics",
        ])
        .stderr(Stdio::inherit())
        .output()?;
    if !out.status.success() {
        return Err(format!("building parleyd failed ({})", out.status).into());
    }
    // The compiler's report of the `parleyd` binary names the file.
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "parleyd")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| "cargo built parleyd but did not say where it is".into())
}

/// `parleyd init --data-dir DIR --listen 127.0.0.1:PORT`; the node's address.
fn init_node(parleyd: &Path, dir: &Path) -> Result<NodeAddress, BoxError> {
    let listen = format!("127.0.0.1:{}", free_port()?);
    let doc = admin_json(parleyd, dir, &["init", "--listen", &listen])?;
    let address = doc["address"]
        .as_str()
        .ok_or("parleyd init printed no address")?;
    Ok(address.parse()?)
}

/// Runs `parleyd ARGS --data-dir DIR --json`; the document it printed.
fn admin_json(parleyd: &Path, dir: &Path, args: &[&str]) -> Result<Value, BoxError> {
    let out = Command::new(parleyd)
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .arg("--json")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "parleyd {} failed ({}): {}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// The posts a status counts for `space` (`None`: the node holds no such space).
fn space_posts(status: &Status, space: &str) -> Option<u64> {
    status
        .spaces
        .iter()
        .find(|s| s.space == space)
        .map(|s| s.posts)
}

/// A connection to a running node's admin API, as its own key (read from its data
/// directory, as `parleyd` reads it).
struct Admin<'a> {
    runtime: &'a tokio::runtime::Runtime,
    _endpoint: transport::ClientEndpoint,
    connection: quinn::Connection,
}

impl<'a> Admin<'a> {
    /// Connects to the node in `dir` at its listen address.
    fn connect(runtime: &'a tokio::runtime::Runtime, dir: &Path) -> Result<Self, BoxError> {
        let dir = DataDir(dir.to_owned());
        let key = keyfile::read(&dir.key())?;
        let settings = parley_node::config::Settings::load(&dir.config())?;
        let target = settings.listen;
        let (endpoint, connection) = runtime.block_on(async {
            let endpoint = transport::client_endpoint(&key, target)?;
            let connection = tokio::time::timeout(
                START_STOP_LIMIT,
                transport::connect(&endpoint, target, key.node_id(), transport::ADMIN_ALPN),
            )
            .await
            .map_err(|_| format!("the node at {target} did not answer"))??;
            Ok::<_, BoxError>((endpoint, connection))
        })?;
        Ok(Self {
            runtime,
            _endpoint: endpoint,
            connection,
        })
    }

    /// Sends `request`; the node's answer, an error if it refused.
    fn request(&self, request: &AdminRequest) -> Result<AdminResponse, BoxError> {
        let body = serde_json::to_vec(request)?;
        let reply = self.runtime.block_on(async {
            tokio::time::timeout(
                START_STOP_LIMIT,
                transport::request(&self.connection, &body, MAX_ADMIN_BYTES),
            )
            .await
        });
        let reply = reply.map_err(|_| format!("no answer to {request:?} within 30 s"))??;
        match serde_json::from_slice(&reply)? {
            AdminResponse::Error { message } => {
                Err(format!("the node refused {request:?}: {message}").into())
            }
            response => Ok(response),
        }
    }

    /// What `parleyd peer add ADDRESS` asks.
    fn peer_add(&self, address: &NodeAddress) -> Result<(), BoxError> {
        self.request(&AdminRequest::PeerAdd {
            address: address.clone(),
        })?;
        Ok(())
    }

    /// The posts the node counts as received from its peer `node` (0 if not a peer):
    /// what `parleyd peer list` asks.
    fn received_from(&self, node: &str) -> Result<u64, BoxError> {
        match self.request(&AdminRequest::PeerList)? {
            AdminResponse::Peers(peers) => Ok(peers
                .iter()
                .find(|p| p.node_id == node)
                .map_or(0, |p| p.posts_received)),
            other => Err(format!("a peer list request was answered with {other:?}").into()),
        }
    }

    /// What `parleyd status` asks.
    fn status(&self) -> Result<Status, BoxError> {
        match self.request(&AdminRequest::Status)? {
            AdminResponse::Status(status) => Ok(status),
            other => Err(format!("a status request was answered with {other:?}").into()),
        }
    }
}

impl Drop for Admin<'_> {
    fn drop(&mut self) {
        self.connection.close(0u32.into(), b"done");
    }
}

/// A free UDP port on 127.0.0.1 (bound, read, released).
fn free_port() -> Result<u16, BoxError> {
    Ok(std::net::UdpSocket::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A `parleyd run` child process, killed when dropped unless it was stopped.
struct Daemon {
    name: &'static str,
    pid: u32,
    child: Child,
}

impl Daemon {
    /// Starts `parleyd run --data-dir DIR` and waits until it prints that it serves.
    fn start(parleyd: &Path, dir: &Path, name: &'static str) -> Result<Self, BoxError> {
        let mut child = Command::new(parleyd)
            .args(["run", "--data-dir"])
            .arg(dir)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take();
        // From here on the guard kills the child on any early return.
        let daemon = Self {
            name,
            pid: child.id(),
            child,
        };
        let stdout = stdout.ok_or("parleyd's stdout is not piped")?;
        let (tx, rx) = mpsc::channel();
        // Reads stdout to its end, so the node never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + START_STOP_LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.contains("serving at") => return Ok(daemon),
                Ok(_) => {}
                Err(_) => {
                    return Err(format!(
                        "node {name} did not start serving within {} s",
                        START_STOP_LIMIT.as_secs()
                    )
                    .into());
                }
            }
        }
    }

    /// An error if the process has ended.
    fn check_running(&mut self) -> Result<(), BoxError> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => Err(format!("node {} exited early ({status})", self.name).into()),
        }
    }

    /// Stops the node with SIGTERM and waits for it; kills it if it does not stop.
    fn stop(&mut self) -> Result<(), BoxError> {
        if self.child.try_wait()?.is_some() {
            return Ok(());
        }
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status();
        let deadline = Instant::now() + START_STOP_LIMIT;
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!(
            "node {} did not stop within {} s of SIGTERM (it is killed)",
            self.name,
            START_STOP_LIMIT.as_secs()
        )
        .into())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------
// Memory and disk.

/// One reading of `/proc/PID/status`, in KiB.
#[derive(Clone, Copy, Debug, Default)]
struct Memory {
    rss_kib: u64,
    hwm_kib: u64,
    anon_kib: u64,
    file_kib: u64,
}

/// The memory of process `pid`.
fn read_memory(pid: u32) -> Result<Memory, BoxError> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let mut memory = Memory::default();
    for line in text.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let field = match name {
            "VmRSS" => &mut memory.rss_kib,
            "VmHWM" => &mut memory.hwm_kib,
            "RssAnon" => &mut memory.anon_kib,
            "RssFile" => &mut memory.file_kib,
            _ => continue,
        };
        *field = value.trim().trim_end_matches("kB").trim().parse()?;
    }
    Ok(memory)
}

/// Both nodes' memory at one moment (`None`: it could not be read).
#[derive(Clone, Copy, Debug)]
struct Sample {
    at: Duration,
    a: Option<Memory>,
    b: Option<Memory>,
}

/// A thread reading both processes' memory every [`SAMPLE_EVERY`].
struct Sampler {
    started: Instant,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Vec<Sample>>,
}

impl Sampler {
    fn spawn(a: u32, b: u32) -> Self {
        let started = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut samples = Vec::new();
            let mut next = started;
            while !stopped.load(Ordering::Relaxed) {
                samples.push(Sample {
                    at: started.elapsed(),
                    a: read_memory(a).ok(),
                    b: read_memory(b).ok(),
                });
                next += SAMPLE_EVERY;
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
            samples
        });
        Self {
            started,
            stop,
            thread,
        }
    }

    /// Stops sampling; every sample taken.
    fn finish(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

/// The last sample taken at or before `at` (the first one if none was).
fn sample_at(samples: &[Sample], at: Duration) -> Option<&Sample> {
    samples
        .iter()
        .rev()
        .find(|s| s.at <= at)
        .or_else(|| samples.first())
}

/// Moments to show: the catch-up in tenths, then the end of the settling time.
fn timeline(caught_up: Duration, settled: Duration) -> Vec<Duration> {
    let mut moments: Vec<Duration> = (0..=10).map(|i| caught_up * i / 10).collect();
    moments.push(caught_up + (settled.saturating_sub(caught_up)) / 2);
    moments.push(settled);
    moments
}

/// Bytes under a directory: allocated on disk (what `du` shows) and apparent.
#[derive(Clone, Copy, Debug, Default)]
struct Disk {
    allocated: u64,
    apparent: u64,
}

fn disk_usage(dir: &Path) -> Result<Disk, BoxError> {
    use std::os::unix::fs::MetadataExt as _;
    let mut total = Disk::default();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let metadata = entry.metadata()?;
            if metadata.is_dir() {
                pending.push(entry.path());
            } else {
                total.allocated += metadata.blocks() * 512;
                total.apparent += metadata.len();
            }
        }
    }
    Ok(total)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn millis(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

// ---------------------------------------------------------------------------------
// Posts (as `federation_bench` signs them).

/// A space founded for the bench: its genesis, replicas and members.
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
            description: "catch-up memory bench".to_owned(),
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
    let mut seed = [0xa1; 32];
    seed[..8].copy_from_slice(&n.to_le_bytes());
    SecretKey::from_seed(&seed)
}

/// A week ago: every post is dated after its space's setup and well before now.
fn base_time() -> Timestamp {
    Timestamp::from_millis(clock::now().as_millis() - 7 * 24 * 3_600_000)
}

/// Posts number `range` of `space`, signed on every core: every eighth a thread, the
/// rest replies to it, with deterministic text bodies of `body` to `body + spread`
/// bytes.
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

/// xorshift64*: deterministic text without a rand crate.
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
// Small helpers.

/// Notes on stderr how far the bench got.
fn progress(what: &str) {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let start = START.get_or_init(Instant::now);
    eprintln!("[{:7.1} s] {what}", start.elapsed().as_secs_f64());
}

/// Now, `YYYY-MM-DD HH:MM`, in UTC.
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
