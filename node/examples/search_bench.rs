//! Full-text search measured (issue 13), with nodes in this process speaking QUIC on
//! 127.0.0.1. For each size, node A holds one space of that many posts (the shared
//! corpus's messages in order, cycled when the size is larger: threads of a root, titled
//! with the message's subject, and 7 replies; one thread in 10 resolved with a decision),
//! and a fresh node B takes them from A, as a peer:
//!
//! - ingest from a peer, without and with the search index, in the same run: B's rate
//!   to hold every post, and with the index, the rate until every post is searchable;
//! - the index's size on disk beside the posts' bytes;
//! - time to the first answered search after B restarts with its index, and the rate of
//!   a rebuild when the index is deleted;
//! - p50/p99 of searches through the client API: a rare word, a common word, a phrase,
//!   a prefix, a word by one author, the decisions, a word after a date, newest first.
//!
//! ```text
//! cargo run --release --locked -p parley-node --example search_bench [-- SIZE...]
//! ```
//! Sizes default to the corpus's size and 100000. Prints markdown; asserts nothing.

use std::time::{Duration, Instant};

use parley_node::federation::FederationConfig;
use parley_node::search::SearchSettings;
use parley_node::server::{self, NodeHandle};
use parley_node::{clock, storage::Storage, transport};
use parley_protocol::api::search::{SearchQuery, SearchSort};
use parley_protocol::api::{CLIENT_ALPN, NodeAddress, Request, Response};
use parley_protocol::content::{
    Content, Genesis, Member, Profile, Replica, Reply, Resolve, Thread,
};
use parley_protocol::encoding::BoundedVec;
use parley_protocol::limits::MAX_MESSAGE_BYTES;
use parley_protocol::{NodeId, Post, PostId, SecretKey, SpaceId, Timestamp};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Posts per thread: a root and its replies.
const THREAD_LEN: usize = 8;
/// Authors of the space.
const AUTHORS: u64 = 16;
/// Searches per measured kind.
const SEARCHES: usize = 200;
/// The longest body kept from the corpus (its longest are 126 KB).
const MAX_BODY: usize = 16 * 1024;
/// Posts published at A whose time until B finds them is measured.
const PROBES: usize = 30;
/// How long any wait may take.
const LIMIT: Duration = Duration::from_secs(1800);

fn key(tag: u8, n: u64) -> SecretKey {
    let mut seed = [tag; 32];
    seed[..8].copy_from_slice(&n.to_le_bytes());
    SecretKey::from_seed(&seed)
}

fn author(n: u64) -> SecretKey {
    key(0xb0, n)
}

/// A corpus message: its subject and body.
struct Message {
    subject: String,
    body: String,
}

fn corpus() -> Vec<Message> {
    let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpus"));
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    let mut messages = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for line in text.lines() {
            let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let Some(body) = message["body"].as_str().filter(|b| !b.trim().is_empty()) else {
                continue;
            };
            let mut body = body.to_owned();
            if body.len() > MAX_BODY {
                let cut = (0..=MAX_BODY)
                    .rev()
                    .find(|i| body.is_char_boundary(*i))
                    .unwrap_or(0);
                body.truncate(cut);
            }
            let subject = message["subject"]
                .as_str()
                .filter(|s| !s.trim().is_empty())
                .unwrap_or("(no subject)");
            messages.push(Message {
                subject: subject
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .chars()
                    .take(200)
                    .collect(),
                body,
            });
        }
    }
    if messages.is_empty() {
        eprintln!("../shared/corpus is missing: synthetic messages stand in");
        for i in 0..1000 {
            messages.push(Message {
                subject: format!("Question {i} about the storage engine"),
                body: format!(
                    "How does the group commit batch fsyncs in case {i}? The replication \
                     timeout in the QUIC layer seems too short for slow peers."
                ),
            });
        }
    }
    messages
}

/// The space: its setup, then `size` posts.
fn sign_space(
    messages: &[Message],
    size: usize,
    b: NodeId,
    a: NodeId,
) -> Result<(SpaceId, Vec<Post>), BoxError> {
    let now = clock::now();
    let founder = author(0);
    let start = Timestamp::from_millis(now.as_millis() - 400 * 86_400_000);
    let genesis = Post::sign_genesis(
        &founder,
        start,
        Genesis {
            name: "archive".into(),
            description: String::new(),
            home_node: a,
            nonce: [5; 16],
        },
        now,
    )?;
    let space = genesis.space();
    let mut posts = vec![genesis];
    let mut at = start;
    let mut tick = |by: u64| {
        at = at.saturating_add_millis(by);
        at
    };
    posts.push(Post::sign(
        &founder,
        space,
        tick(1),
        Content::ShareReplica(Replica { node: b }),
        now,
    )?);
    for n in 1..AUTHORS {
        let add = Content::AddMember(Member {
            user: author(n).user_id(),
        });
        posts.push(Post::sign(&founder, space, tick(1), add, now)?);
    }
    for n in 0..AUTHORS {
        let name = Content::Profile(Profile {
            display_name: format!("author{n}"),
        });
        posts.push(Post::sign(&author(n), space, tick(1), name, now)?);
    }
    let step = (365 * 86_400_000) / size.max(1) as u64;
    let plan: Vec<usize> = (0..size).collect();
    let signed = std::thread::scope(|scope| {
        let workers: Vec<_> = plan
            .chunks(
                size.div_ceil(2)
                    .max(THREAD_LEN)
                    .next_multiple_of(THREAD_LEN),
            )
            .map(|chunk| {
                scope.spawn(move || -> Result<Vec<Post>, BoxError> {
                    let mut out = Vec::with_capacity(chunk.len() + chunk.len() / 80);
                    let mut root: Option<PostId> = None;
                    for &i in chunk {
                        let message = &messages[i % messages.len()];
                        let writer = author(i as u64 % AUTHORS);
                        let when =
                            Timestamp::from_millis(start.as_millis() + 1_000 + i as u64 * step);
                        let content = match (i % THREAD_LEN, root) {
                            (0, _) | (_, None) => Content::Thread(Thread {
                                title: message.subject.clone(),
                                body: message.body.clone(),
                                mentions: BoundedVec::new(),
                            }),
                            (_, Some(root)) => Content::Reply(Reply {
                                root,
                                parent: root,
                                body: message.body.clone(),
                                mentions: BoundedVec::new(),
                            }),
                        };
                        let post = Post::sign(&writer, space, when, content, now)?;
                        if matches!(post.content(), Content::Thread(_)) {
                            root = Some(post.id());
                        }
                        out.push(post);
                        // One thread in ten is resolved by its last post's author.
                        if i % THREAD_LEN == THREAD_LEN - 1
                            && (i / THREAD_LEN).is_multiple_of(10)
                            && let Some(root) = root
                        {
                            let first = message.body.lines().find(|l| l.trim().len() > 20);
                            let decision = first.unwrap_or("Settled.").chars().take(300).collect();
                            let resolve = Content::Resolve(Resolve {
                                thread: root,
                                decision,
                            });
                            let by = author((i - (THREAD_LEN - 1)) as u64 % AUTHORS);
                            out.push(Post::sign(
                                &by,
                                space,
                                when.saturating_add_millis(1),
                                resolve,
                                now,
                            )?);
                        }
                    }
                    Ok(out)
                })
            })
            .collect();
        let mut all = Vec::new();
        for worker in workers {
            all.extend(worker.join().map_err(|_| "a signer panicked")??);
        }
        Ok::<_, BoxError>(all)
    })?;
    posts.extend(signed);
    Ok((space, posts))
}

/// Opens the store in `dir`, waiting (up to a minute) while a node that just stopped
/// still holds it: sled lets go of its lock from background threads.
fn open_store(dir: &std::path::Path) -> Result<Storage, BoxError> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match Storage::open(dir) {
            Ok(storage) => return Ok(storage),
            Err(parley_node::storage::StorageError::Locked { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(error) => return Err(error.into()),
        }
    }
}

struct Running {
    handle: NodeHandle,
    addr: std::net::SocketAddr,
}

fn start(key: &SecretKey, storage: Storage, search: bool) -> Result<Running, BoxError> {
    let config = FederationConfig::default();
    let endpoint = server::endpoint(key, "127.0.0.1:0".parse()?, &config)?;
    let addr = endpoint.local_addr()?;
    let handle = server::start_with_search(
        SecretKey::from_seed(&key.to_seed()),
        storage,
        endpoint,
        addr.to_string(),
        config,
        Vec::new(),
        SearchSettings {
            enabled: search,
            ..SearchSettings::default()
        },
    )?;
    Ok(Running { handle, addr })
}

fn peer(a: &Running, b: &Running) -> Result<(), BoxError> {
    a.handle.add_peer(NodeAddress {
        node: b.handle.id(),
        host_port: b.addr.to_string(),
    })?;
    b.handle.add_peer(NodeAddress {
        node: a.handle.id(),
        host_port: a.addr.to_string(),
    })?;
    Ok(())
}

async fn wait_for(mut check: impl FnMut() -> bool) -> Option<Duration> {
    let begun = Instant::now();
    while begun.elapsed() < LIMIT {
        if check() {
            return Some(begun.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

fn indexed(node: &NodeHandle) -> bool {
    node.search_status()
        .is_some_and(|status| !status.building && status.waiting == 0)
}

/// What B's ingest from A took: to hold every post, and (with the index) until every
/// post is searchable.
struct Ingest {
    held: Duration,
    searchable: Option<Duration>,
}

/// A fresh B takes the space from A (whose store `a_dir` holds it); B's store stays in
/// `b_dir`, stopped.
async fn ingest(
    a_dir: &std::path::Path,
    b_dir: &std::path::Path,
    a_key: &SecretKey,
    b_key: &SecretKey,
    space: SpaceId,
    total: u64,
    search: bool,
) -> Result<Ingest, BoxError> {
    let a = start(a_key, open_store(a_dir)?, false)?;
    let b = start(b_key, open_store(b_dir)?, search)?;
    peer(&a, &b)?;
    let begun = Instant::now();
    let held = wait_for(|| b.handle.count(&space).is_ok_and(|n| n >= total))
        .await
        .ok_or("B did not get every post")?;
    let searchable = if search {
        wait_for(|| indexed(&b.handle))
            .await
            .ok_or("B did not index")?;
        Some(begun.elapsed())
    } else {
        None
    };
    a.handle.shutdown().await?;
    b.handle.shutdown().await?;
    Ok(Ingest { held, searchable })
}

struct User {
    connection: quinn::Connection,
    _endpoint: transport::ClientEndpoint,
}

impl User {
    async fn connect(key: &SecretKey, node: &Running) -> Result<Self, BoxError> {
        let endpoint = transport::client_endpoint(key, node.addr)?;
        let connection =
            transport::connect(&endpoint, node.addr, node.handle.id(), CLIENT_ALPN).await?;
        Ok(Self {
            connection,
            _endpoint: endpoint,
        })
    }

    async fn search(&self, text: &str, sort: SearchSort) -> Result<(Duration, u64), BoxError> {
        let request = Request::Search {
            query: SearchQuery::parse(text, clock::now())?,
            sort,
            limit: 10,
            offset: 0,
        };
        let sent = Instant::now();
        let bytes =
            transport::request(&self.connection, &request.encode(), MAX_MESSAGE_BYTES).await?;
        let took = sent.elapsed();
        match Response::decode(&bytes)? {
            Response::Hits { total, .. } => Ok((took, total)),
            other => Err(format!("`{text}` was answered {other:?}").into()),
        }
    }
}

fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let at = |p: f64| {
        let i = ((samples.len() as f64 - 1.0) * p).round() as usize;
        samples.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    (at(0.5), at(0.99))
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn rate(n: u64, d: Duration) -> String {
    format!("{:.0}", n as f64 / d.as_secs_f64().max(1e-9))
}

async fn measure(messages: &[Message], size: usize) -> Result<(), BoxError> {
    let (a_key, b_key) = (key(0xa1, size as u64), key(0xa2, size as u64));
    let (space, posts) = sign_space(messages, size, b_key.node_id(), a_key.node_id())?;
    let total = posts.len() as u64;
    let post_bytes: u64 = posts.iter().map(|p| p.bytes().len() as u64).sum();
    let a_dir = tempfile::tempdir()?;
    {
        let store = open_store(a_dir.path())?;
        for batch in posts.chunks(4096) {
            store.insert(batch)?;
        }
        store.flush()?;
    }
    drop(posts);
    eprintln!("{size}: A holds {total} posts; B ingests without the index");
    let plain_dir = tempfile::tempdir()?;
    let plain = ingest(
        a_dir.path(),
        plain_dir.path(),
        &a_key,
        &b_key,
        space,
        total,
        false,
    )
    .await?;
    drop(plain_dir);
    eprintln!("{size}: B ingests with the index");
    let b_dir = tempfile::tempdir()?;
    let indexed_run = ingest(
        a_dir.path(),
        b_dir.path(),
        &a_key,
        &b_key,
        space,
        total,
        true,
    )
    .await?;
    let index_bytes = dir_bytes(&b_dir.path().join(parley_node::storage::SEARCH_DIR));

    eprintln!("{size}: restart, first result");
    let store = open_store(b_dir.path())?;
    store.register_user(&author(0).user_id(), clock::now())?;
    let begun = Instant::now();
    let b = start(&b_key, store, true)?;
    let reader = User::connect(&author(0), &b).await?;
    reader.search("commit", SearchSort::Relevance).await?;
    let first_result = begun.elapsed();

    eprintln!("{size}: a peer's post, until searchable");
    let a = start(&a_key, open_store(a_dir.path())?, false)?;
    peer(&a, &b)?;
    let mut probes = Vec::new();
    for i in 0..=PROBES {
        let word = format!("zqprobe{i}");
        let post = Post::sign(
            &author(1),
            space,
            clock::now(),
            Content::Thread(Thread {
                title: format!("probe {i}"),
                body: format!("a new post with the word {word}"),
                mentions: BoundedVec::new(),
            }),
            clock::now(),
        )?;
        let sent = Instant::now();
        a.handle.publish(vec![post]).await?;
        loop {
            let (_, hits) = reader.search(&word, SearchSort::Relevance).await?;
            if hits > 0 {
                break;
            }
            if sent.elapsed() > Duration::from_secs(60) {
                return Err(format!("{word} was not found at B within a minute").into());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        // The first waits for the peers to connect.
        if i > 0 {
            probes.push(sent.elapsed());
        }
    }
    a.handle.shutdown().await?;
    let (probe_p50, probe_p99) = percentiles(probes);

    eprintln!("{size}: searches");
    let kinds: [(&str, &str, SearchSort); 8] = [
        ("rare word", "heteroskedasticity", SearchSort::Relevance),
        ("common word", "package", SearchSort::Relevance),
        ("phrase", "\"data frame\"", SearchSort::Relevance),
        ("prefix", "regress*", SearchSort::Relevance),
        (
            "word by one author",
            "error author:author3",
            SearchSort::Relevance,
        ),
        ("decisions", "is:decision", SearchSort::Relevance),
        (
            "word after a date",
            "install after:90d",
            SearchSort::Relevance,
        ),
        ("common word, newest first", "package", SearchSort::Newest),
    ];
    let mut rows = Vec::new();
    for (what, text, sort) in kinds {
        let mut samples = Vec::with_capacity(SEARCHES);
        let mut hits = 0;
        for _ in 0..SEARCHES {
            let (took, total) = reader.search(text, sort).await?;
            samples.push(took);
            hits = total;
        }
        let (p50, p99) = percentiles(samples);
        rows.push(format!(
            "| {size} | {what} | `{text}` | {hits} | {p50:.2} | {p99:.2} |"
        ));
    }
    b.handle.shutdown().await?;

    eprintln!("{size}: rebuild");
    std::fs::remove_dir_all(b_dir.path().join(parley_node::storage::SEARCH_DIR))?;
    let b = start(&b_key, open_store(b_dir.path())?, true)?;
    let rebuilt = wait_for(|| indexed(&b.handle)).await;
    b.handle.shutdown().await?;

    let searchable = indexed_run.searchable.unwrap_or_default();
    println!(
        "### {size} posts ({total} with the space's setup and decisions), {post_bytes} bytes of posts\n"
    );
    println!("| measure | without the index | with the index | ratio | goal |");
    println!("|---|---:|---:|---:|---|");
    println!(
        "| ingest from a peer, posts/s to hold all | {} | {} | {:.2} | >= 0.8 |",
        rate(total, plain.held),
        rate(total, indexed_run.held),
        plain.held.as_secs_f64() / indexed_run.held.as_secs_f64().max(1e-9)
    );
    println!(
        "| ingest from a peer, posts/s until all are searchable | {} | {} | {:.2} | |",
        rate(total, plain.held),
        rate(total, searchable),
        plain.held.as_secs_f64() / searchable.as_secs_f64().max(1e-9)
    );
    println!(
        "| index on disk | | {index_bytes} bytes | {:.2}x the posts' bytes | <= 0.5x |",
        index_bytes as f64 / post_bytes as f64
    );
    println!(
        "| start-up to first answered search | | {:.0} ms | | |",
        first_result.as_secs_f64() * 1000.0
    );
    println!(
        "| a post published at A, until B's search finds it: p50 / p99 of {PROBES} | | {probe_p50:.0} / {probe_p99:.0} ms | | < 1 s |"
    );
    match rebuilt {
        Some(took) => println!(
            "| rebuild of a deleted index (start to built) | | {:.1} s, {} posts/s | | |",
            took.as_secs_f64(),
            rate(total, took)
        ),
        None => println!("| rebuild of a deleted index | | not done within {LIMIT:?} | | |"),
    }
    println!();
    println!("| posts | search | query | hits | p50 ms | p99 ms |");
    println!("|---:|---|---|---:|---:|---:|");
    for row in rows {
        println!("{row}");
    }
    println!();
    drop(a_dir);
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let messages = corpus();
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.replace('_', "").parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![messages.len(), 100_000]
    } else {
        sizes
    };
    println!("# search bench\n");
    println!(
        "{} corpus messages, cycled; threads of {THREAD_LEN} posts, one in ten resolved; nodes in one process on 127.0.0.1; {SEARCHES} searches of each kind through the client API, 10 hits a page.\n",
        messages.len()
    );
    for size in sizes {
        measure(&messages, size).await?;
    }
    Ok(())
}
