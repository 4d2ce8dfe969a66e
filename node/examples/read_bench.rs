//! How a node's reads and writes scale with a space's history (issue 9). For each size,
//! one space holds that many posts of about 2 KiB (the shared corpus's bodies where
//! present): threads of a root and 7 replies, and one thread of 50 posts. The node is
//! a real `parleyd` process; users speak the client API over QUIC on 127.0.0.1.
//!
//! Measured per size: the store on disk; start-up to serving; the time the node takes
//! to fold the threads of a store filled behind its back (its read model's catch-up);
//! RSS after start, after reads and after a burst of writes; p50/p99 of the first page
//! of `threads`, `show` of the 50-post thread and `unread` (for a user who has read
//! everything but the new posts, marking them), each while 8 users publish 50 posts a
//! second each; publish throughput with
//! 64 users. Beside it, in the same run, the baseline: folding the whole space in
//! memory, which is what every read cost before the read model (sizes up to 20,000
//! only; it needs ~25 KB per post). The last line prints each figure's ratio between
//! the largest and the smallest size. Prints markdown; asserts nothing.
//!
//! ```text
//! cargo run --release --locked -p parley-node --example read_bench [-- SIZE... [--spaces N]]
//! ```
//! Sizes default to 10000 100000. With `--spaces N`, the same posts are spread over N
//! spaces (whole threads round the spaces) and the reads look at the first space.
//! `PARLEY_BENCH_KEEP=DIR` keeps each size's node in `DIR/SIZE`.

#[path = "support/daemon.rs"]
mod daemon;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use daemon::{BoxError, Daemon, parleyd, rss_kib};
use parley_node::{clock, keyfile, storage::Storage, transport};
use parley_protocol::api::{CLIENT_ALPN, Request, Response};
use parley_protocol::content::{Content, Genesis, Member, Reply, Thread};
use parley_protocol::encoding::{BoundedVec, ByteString};
use parley_protocol::limits::MAX_MESSAGE_BYTES;
use parley_protocol::view::SpaceView;
use parley_protocol::{NodeId, Post, PostId, SecretKey, Timestamp};

/// Posts per thread: a root and its replies.
const THREAD_LEN: usize = 8;
/// Posts of the long thread `show` reads.
const LONG_THREAD: usize = 50;
/// Writers of the long thread.
const LONG_AUTHORS: usize = 4;
/// Members who write; the reader is one more.
const WRITERS: u64 = 64;
/// Users publishing while reads are measured.
const BUSY_WRITERS: u64 = 8;
/// Reads per measured request kind (unread: a tenth of it).
const READS: usize = 200;
/// The largest size whose whole space the baseline folds in memory.
const BASELINE_MAX: usize = 20_000;

fn key(n: u64) -> SecretKey {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&n.to_le_bytes());
    seed[8] = 0x9e;
    SecretKey::from_seed(&seed)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `--spaces N`: the same posts spread over N spaces (reads look at the first).
    let spaces = args
        .iter()
        .position(|a| a == "--spaces")
        .and_then(|at| args.get(at + 1))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let sizes: Vec<usize> = args
        .iter()
        .enumerate()
        .filter(|(i, _)| *i == 0 || args[i - 1] != "--spaces")
        .filter_map(|(_, a)| a.replace('_', "").parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![10_000, 100_000]
    } else {
        sizes
    };
    let parleyd = parleyd()?;
    let bodies = bodies();
    println!("# read bench\n");
    println!(
        "posts of ~2 KiB ({1}) in {0}, threads of {THREAD_LEN} posts and one of {LONG_THREAD}; a `parleyd` process on 127.0.0.1; reads (of the first space) measured while {BUSY_WRITERS} users publish 50 posts/s each\n",
        if spaces == 1 {
            "one space".to_owned()
        } else {
            format!("{spaces} spaces")
        },
        if bodies.len() > 1 {
            "bodies from the shared corpus"
        } else {
            "synthetic bodies"
        }
    );
    println!(
        "| posts | disk | start-up | model caught up | RSS start | RSS reads | RSS writes | threads p50/p99 | show 50 p50/p99 | unread p50/p99 | publish 64 users | baseline: fold whole space |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut rows = Vec::new();
    for size in sizes {
        let row = measure(&parleyd, &bodies, size, spaces).await?;
        println!("{}", row.line());
        rows.push(row);
    }
    if let (Some(first), Some(last)) = (rows.first(), rows.last())
        && rows.len() > 1
    {
        println!("{}", last.ratio(first));
    }
    Ok(())
}

/// Bodies of about 2 KiB: the corpus's messages where present, else one made up.
fn bodies() -> Vec<String> {
    let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpus"));
    let mut bodies = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let Ok(text) = std::fs::read_to_string(entry.path()) else {
                continue;
            };
            for line in text.lines() {
                let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
                    continue;
                };
                if let Some(body) = message["body"].as_str().filter(|b| b.trim().len() > 40) {
                    let mut body = body.to_owned();
                    while body.len() < 2048 {
                        body.push_str("\n\n");
                        body.push_str(&body.clone());
                    }
                    let cut = (2048..=body.len())
                        .find(|i| body.is_char_boundary(*i))
                        .unwrap_or(body.len());
                    body.truncate(cut);
                    bodies.push(body);
                }
            }
        }
    }
    if bodies.is_empty() {
        bodies.push("An asynchronous thought, written carefully. ".repeat(47)[..2048].to_owned());
    }
    bodies
}

/// Figures of one size.
struct Row {
    posts: usize,
    disk_mib: f64,
    startup: Duration,
    caught_up: Duration,
    rss_start: u64,
    rss_reads: u64,
    rss_writes: u64,
    threads: (Duration, Duration),
    show: (Duration, Duration),
    unread: (Duration, Duration),
    publish: f64,
    baseline: Option<Duration>,
}

impl Row {
    fn line(&self) -> String {
        format!(
            "| {} | {:.0} MiB | {} | {} | {} MiB | {} MiB | {} MiB | {} | {} | {} | {:.0}/s | {} |",
            self.posts,
            self.disk_mib,
            ms(self.startup),
            ms(self.caught_up),
            self.rss_start / 1024,
            self.rss_reads / 1024,
            self.rss_writes / 1024,
            pair(self.threads),
            pair(self.show),
            pair(self.unread),
            self.publish,
            self.baseline.map_or_else(|| "—".to_owned(), ms),
        )
    }

    fn ratio(&self, base: &Self) -> String {
        let r = |a: f64, b: f64| format!("{:.2}x", a / b.max(1e-9));
        let d = |a: Duration, b: Duration| r(a.as_secs_f64(), b.as_secs_f64());
        let p = |a: (Duration, Duration), b: (Duration, Duration)| {
            format!("{} / {}", d(a.0, b.0), d(a.1, b.1))
        };
        format!(
            "| ratio {}/{} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | |",
            self.posts,
            base.posts,
            r(self.disk_mib, base.disk_mib),
            d(self.startup, base.startup),
            d(self.caught_up, base.caught_up),
            r(self.rss_start as f64, base.rss_start as f64),
            r(self.rss_reads as f64, base.rss_reads as f64),
            r(self.rss_writes as f64, base.rss_writes as f64),
            p(self.threads, base.threads),
            p(self.show, base.show),
            p(self.unread, base.unread),
            r(self.publish, base.publish),
        )
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn pair((p50, p99): (Duration, Duration)) -> String {
    format!("{} / {}", ms(p50), ms(p99))
}

fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let at = |p: f64| {
        samples
            .get(((samples.len() as f64 * p) as usize).min(samples.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    (at(0.50), at(0.99))
}

/// The space of one size, signed.
struct Space {
    /// Stored behind the node's back before it starts.
    posts: Vec<Post>,
    /// The long thread, published once the reader has read everything else.
    long: Vec<Post>,
    long_thread: PostId,
    /// Threads in `posts`.
    threads: usize,
}

fn sign_space(
    founder: &SecretKey,
    node: NodeId,
    writers: &[SecretKey],
    reader: &SecretKey,
    bodies: &[String],
    size: usize,
    spaces: usize,
) -> Result<Space, BoxError> {
    let now = clock::now();
    // A year of history, ending an hour ago.
    let start = Timestamp::from_millis(now.as_millis() - 366 * 86_400_000);
    let mut posts = Vec::new();
    let mut ids = Vec::new();
    for s in 0..spaces {
        let mut nonce = [7; 16];
        nonce[..8].copy_from_slice(&(s as u64).to_le_bytes());
        let genesis = Post::sign_genesis(
            founder,
            start,
            Genesis {
                name: if s == 0 {
                    "archive".into()
                } else {
                    format!("archive-{s}")
                },
                description: String::new(),
                home_node: node,
                nonce,
            },
            now,
        )?;
        let space = genesis.space();
        ids.push(space);
        posts.push(genesis);
        for (i, user) in writers.iter().chain([reader]).enumerate() {
            let add = Content::AddMember(Member {
                user: user.user_id(),
            });
            posts.push(Post::sign(
                founder,
                space,
                start.saturating_add_millis(1 + i as u64),
                add,
                now,
            )?);
        }
    }
    let space = ids[0];
    let ids = &ids;
    let body_count = size.saturating_sub(LONG_THREAD);
    let step = (365 * 86_400_000) / (body_count.max(1) as u64);
    let plan: Vec<usize> = (0..body_count).collect();
    let signed = std::thread::scope(|scope| {
        let chunks: Vec<_> = plan
            .chunks(plan.len().div_ceil(2).max(1))
            .map(|chunk| {
                scope.spawn(move || -> Result<Vec<Post>, BoxError> {
                    let mut out = Vec::with_capacity(chunk.len());
                    let mut root = None;
                    let mut in_space = ids[0];
                    for &i in chunk {
                        let at = start.saturating_add_millis(1000 + i as u64 * step);
                        let author = &writers[i % writers.len()];
                        let body = bodies[i % bodies.len()].clone();
                        let starts = i % THREAD_LEN == 0 || root.is_none();
                        if starts {
                            // Whole threads go round the spaces.
                            in_space = ids[(i / THREAD_LEN) % ids.len()];
                        }
                        let content = if starts {
                            Content::Thread(Thread {
                                title: format!("Topic {i}"),
                                body,
                                mentions: BoundedVec::new(),
                            })
                        } else {
                            Content::Reply(Reply {
                                root: root.unwrap_or(PostId([0; 32])),
                                parent: root.unwrap_or(PostId([0; 32])),
                                body,
                                mentions: BoundedVec::new(),
                            })
                        };
                        let post = Post::sign(author, in_space, at, content, now)?;
                        if matches!(post.content(), Content::Thread(_)) {
                            root = Some(post.id());
                        }
                        out.push(post);
                    }
                    Ok(out)
                })
            })
            .collect();
        chunks
            .into_iter()
            .map(|h| h.join().map_err(|_| BoxError::from("a signer panicked"))?)
            .collect::<Result<Vec<_>, _>>()
    })?;
    for chunk in signed {
        posts.extend(chunk);
    }
    let threads = posts
        .iter()
        .filter(|p| p.space() == space && matches!(p.content(), Content::Thread(_)))
        .count();
    // The long thread, an hour ago.
    let at = Timestamp::from_millis(now.as_millis() - 3_600_000);
    let root = Post::sign(
        &writers[0],
        space,
        at,
        Content::Thread(Thread {
            title: "The long one".into(),
            body: bodies[0].clone(),
            mentions: BoundedVec::new(),
        }),
        now,
    )?;
    let long_thread = root.id();
    let mut long = vec![root];
    for i in 1..LONG_THREAD {
        long.push(Post::sign(
            &writers[i % LONG_AUTHORS],
            space,
            at.saturating_add_millis(i as u64),
            Content::Reply(Reply {
                root: long_thread,
                parent: long_thread,
                body: bodies[i % bodies.len()].clone(),
                mentions: BoundedVec::new(),
            }),
            now,
        )?);
    }
    Ok(Space {
        posts,
        long,
        long_thread,
        threads,
    })
}

/// The name of a request, for errors.
fn kind(request: &Request) -> &'static str {
    match request {
        Request::Threads { .. } => "threads",
        Request::Thread { .. } => "thread",
        Request::Unread { .. } => "unread",
        Request::MarkRead { .. } => "mark read",
        Request::Publish { .. } => "publish",
        _ => "another request",
    }
}

/// A user's connection to the node.
struct User {
    connection: quinn::Connection,
    _endpoint: transport::ClientEndpoint,
}

impl User {
    async fn connect(
        key: &SecretKey,
        addr: std::net::SocketAddr,
        node: NodeId,
    ) -> Result<Self, BoxError> {
        let endpoint = transport::client_endpoint(key, addr)?;
        let connection = transport::connect(&endpoint, addr, node, CLIENT_ALPN).await?;
        Ok(Self {
            connection,
            _endpoint: endpoint,
        })
    }

    async fn ask(&self, request: &Request) -> Result<Response, BoxError> {
        let bytes = transport::request(&self.connection, &request.encode(), MAX_MESSAGE_BYTES)
            .await
            .map_err(|error| format!("{error} (asking {})", kind(request)))?;
        Ok(Response::decode(&bytes)?)
    }

    /// Asks `request` and times it; the answer must match `ok`.
    async fn timed(
        &self,
        request: &Request,
        ok: fn(&Response) -> bool,
    ) -> Result<Duration, BoxError> {
        let sent = Instant::now();
        let response = self.ask(request).await?;
        let took = sent.elapsed();
        if !ok(&response) {
            return Err(format!("unexpected answer: {response:?}").into());
        }
        Ok(took)
    }
}

async fn measure(
    parleyd: &std::path::Path,
    bodies: &[String],
    size: usize,
    spaces: usize,
) -> Result<Row, BoxError> {
    let bench_start = Instant::now();
    let dir = tempfile::tempdir()?;
    // PARLEY_BENCH_KEEP=DIR keeps each size's node in DIR/SIZE for later study.
    let kept = std::env::var_os("PARLEY_BENCH_KEEP")
        .map(|keep| std::path::PathBuf::from(keep).join(size.to_string()));
    let dir_path = kept.clone().unwrap_or_else(|| dir.path().to_path_buf());
    if let Some(kept) = &kept {
        std::fs::create_dir_all(kept)?;
    }
    let dir_path = dir_path.as_path();
    let addr = daemon::init(parleyd, dir_path)?;
    let node_key = keyfile::read(&dir_path.join("node.key"))?;
    let node = node_key.node_id();
    let founder = key(1);
    let writers: Vec<SecretKey> = (0..WRITERS).map(|i| key(100 + i)).collect();
    let reader = key(99);
    let space = sign_space(&founder, node, &writers, &reader, bodies, size, spaces)?;
    let space_id = space.posts[0].space();
    let baseline = {
        let storage = Storage::open(&dir_path.join("db"))?;
        for chunk in space.posts.chunks(2048) {
            storage.insert(chunk)?;
        }
        let now = clock::now();
        for user in writers.iter().chain([&reader, &founder]) {
            storage.register_user(&user.user_id(), now)?;
        }
        storage.flush()?;
        (size <= BASELINE_MAX)
            .then(|| -> Result<Duration, BoxError> {
                let started = Instant::now();
                let posts = storage.space_posts(&space_id)?;
                let view = SpaceView::fold(space_id, posts.iter());
                std::hint::black_box(view.threads().len());
                Ok(started.elapsed())
            })
            .transpose()?
    };
    let daemon = Daemon::start(parleyd, dir_path, Duration::from_secs(600))?;
    eprintln!("[{size}] started at {:?}", bench_start.elapsed());
    let reader_user = User::connect(&reader, addr, node).await?;
    // The node folds the threads stored behind its back; wait until it lists them all.
    let caught_up = {
        let started = Instant::now();
        loop {
            let response = reader_user.ask(&Request::threads(space_id, 1)).await?;
            if matches!(response, Response::Threads { total, .. } if total as usize >= space.threads)
            {
                break started.elapsed();
            }
            if started.elapsed() > Duration::from_secs(1800) {
                return Err("the read model did not catch up within 30 minutes".into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    // The reader has read everything so far (one request, as `parley mark-read SPACE`
    // sends); then the long thread arrives.
    eprintln!("[{size}] caught up at {:?}", bench_start.elapsed());
    let every_space: Vec<_> = space
        .posts
        .iter()
        .filter(|p| matches!(p.content(), Content::Genesis(_)))
        .map(Post::space)
        .collect();
    for each in every_space {
        let answer = reader_user
            .ask(&Request::MarkSpaceRead { space: each })
            .await?;
        if answer != Response::Done {
            return Err(format!("marking the space read failed: {answer:?}").into());
        }
    }
    let mut authors = Vec::new();
    for writer in writers.iter().take(LONG_AUTHORS) {
        authors.push(User::connect(writer, addr, node).await?);
    }
    for (i, post) in space.long.iter().enumerate() {
        let request = Request::Publish {
            envelope: ByteString(post.bytes().to_vec()),
        };
        let answer = authors[i % LONG_AUTHORS].ask(&request).await?;
        if !matches!(answer, Response::Published { .. }) {
            return Err(format!("publishing the long thread failed: {answer:?}").into());
        }
    }
    drop(authors);
    // Reads while 8 users publish replies, spread over the 400 newest short threads.
    let roots: Arc<Vec<PostId>> = Arc::new(
        space
            .posts
            .iter()
            .filter(|p| {
                p.space() == space_id
                    && matches!(p.content(), Content::Thread(_))
                    && p.id() != space.long_thread
            })
            .map(Post::id)
            .rev()
            .take(400)
            .collect(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let published = Arc::new(AtomicU64::new(0));
    let mut busy = Vec::new();
    for (w, writer) in writers.iter().take(BUSY_WRITERS as usize).enumerate() {
        let writer = SecretKey::from_seed(&writer.to_seed());
        let (stop, published, roots) = (stop.clone(), published.clone(), roots.clone());
        let body = bodies[w % bodies.len()].clone();
        busy.push(tokio::spawn(async move {
            let user = User::connect(&writer, addr, node).await?;
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let at = clock::now().saturating_add_millis(n);
                let root = roots[(n as usize * 7 + w) % roots.len()];
                n += 1;
                let post = Post::sign(
                    &writer,
                    space_id,
                    at,
                    Content::Reply(Reply {
                        root,
                        parent: root,
                        body: body.clone(),
                        mentions: BoundedVec::new(),
                    }),
                    at,
                )?;
                let request = Request::Publish {
                    envelope: ByteString(post.bytes().to_vec()),
                };
                if matches!(user.ask(&request).await?, Response::Published { .. }) {
                    published.fetch_add(1, Ordering::Relaxed);
                }
                // A busy team, not a flood: 50 posts a second each.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok::<(), BoxError>(())
        }));
    }
    let mut threads = Vec::new();
    let mut show = Vec::new();
    eprintln!("[{size}] marked read at {:?}", bench_start.elapsed());
    let mut unread = Vec::new();
    for i in 0..READS {
        threads.push(
            reader_user
                .timed(
                    &Request::threads(space_id, 20),
                    |r| matches!(r, Response::Threads { threads, total, .. } if threads.len() as u64 == (*total).min(20)),
                )
                .await?,
        );
        show.push(
            reader_user
                .timed(
                    &Request::Thread {
                        from: 0,
                        id: space.long_thread,
                    },
                    |r| matches!(r, Response::Thread { .. }),
                )
                .await?,
        );
        if i % 10 == 0 {
            unread.push(
                reader_user
                    .timed(&Request::Unread { mark_read: true }, |r| {
                        matches!(r, Response::Unread { .. })
                    })
                    .await?,
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    for task in busy {
        task.await??;
    }
    let rss_reads = rss_kib(daemon.pid);
    eprintln!("[{size}] reads done at {:?}", bench_start.elapsed());
    // Publish throughput: 64 users, 100 new threads each.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (w, writer) in writers.iter().enumerate() {
        let writer = SecretKey::from_seed(&writer.to_seed());
        let body = bodies[w % bodies.len()].clone();
        tasks.push(tokio::spawn(async move {
            let user = User::connect(&writer, addr, node).await?;
            for i in 0..100u64 {
                let at = clock::now().saturating_add_millis(i);
                let post = Post::sign(
                    &writer,
                    space_id,
                    at,
                    Content::Thread(Thread {
                        title: format!("New {w}/{i}"),
                        body: body.clone(),
                        mentions: BoundedVec::new(),
                    }),
                    at,
                )?;
                let request = Request::Publish {
                    envelope: ByteString(post.bytes().to_vec()),
                };
                if !matches!(user.ask(&request).await?, Response::Published { .. }) {
                    return Err(BoxError::from("a publish was refused"));
                }
            }
            Ok::<(), BoxError>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let publish = (WRITERS * 100) as f64 / started.elapsed().as_secs_f64();
    eprintln!("[{size}] published at {:?}", bench_start.elapsed());
    let rss_writes = rss_kib(daemon.pid);
    drop(reader_user);
    drop(daemon);
    // Started again on the full store: start-up time and memory after start.
    let again = Daemon::start(parleyd, dir_path, Duration::from_secs(600))?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (startup, rss_start) = (again.startup, rss_kib(again.pid));
    drop(again);
    let disk = du(dir_path);
    Ok(Row {
        posts: space.posts.len() + space.long.len(),
        disk_mib: disk as f64 / (1024.0 * 1024.0),
        startup,
        caught_up,
        rss_start,
        rss_reads,
        rss_writes,
        threads: percentiles(threads),
        show: percentiles(show),
        unread: percentiles(unread),
        publish,
        baseline,
    })
}

/// Bytes the files under `path` take.
fn du(path: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            match entry.metadata() {
                Ok(meta) if meta.is_dir() => stack.push(entry.path()),
                Ok(meta) => total += meta.len(),
                Err(_) => {}
            }
        }
    }
    total
}
