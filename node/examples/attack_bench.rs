//! A node under attack from clients and peers that misbehave, each attack for a fixed
//! time, while a legitimate user reads and publishes: the node's peak RSS in each phase
//! (a real `parleyd` process, sampled from `/proc`) and the user's latency p50/p99,
//! beside an unattacked baseline measured in the same run. Over real QUIC on
//! 127.0.0.1. Prints a markdown table; asserts nothing.
//!
//! ```text
//! cargo run --release --locked -p parley-node --example attack_bench [-- --quick] [--only N]
//! ```
//!
//! The attacks (issue 11):
//! 1. keys the node does not serve, 4 connections from one address opening 128
//!    streams each, every stream claiming a 4 MiB request and sending 1 MiB of it;
//! 2. 2,000 connections from fresh keys, held open;
//! 3. a peer replicating a space of 20,000 posts that opens 32 reconciliations and
//!    sends 200 frames on each, reading no answer;
//! 4. a registered user opening 128 streams, each claiming a 4 MiB request and
//!    sending 2 MiB of it, then stalling;
//! 5. another registered user, a member of the big space, asking for its first 500
//!    threads on 16 connections x 128 streams and reading none of the answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parley_node::{clock, keyfile, storage::Storage, transport};
use parley_protocol::NodeId;
use parley_protocol::api::{CLIENT_ALPN, Request, Response};
use parley_protocol::content::{Content, Genesis, Member, Replica, Thread};
use parley_protocol::encoding::{BoundedVec, ByteString};
use parley_protocol::sync::{Item, Output, SyncConfig, SyncSession};
use parley_protocol::wire::{Message, WIRE_VERSION};
use parley_protocol::{Post, PostId, SecretKey, SpaceId, Timestamp};

#[path = "support/daemon.rs"]
mod daemon;

use daemon::{BoxError, Daemon, parleyd, rss_kib};

fn key(n: u64) -> SecretKey {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&n.to_le_bytes());
    seed[8] = 0xa7;
    SecretKey::from_seed(&seed)
}

/// Posts in the space the peer reconciles.
const BIG_SPACE: u64 = 20_000;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), BoxError> {
    let quick = std::env::args().any(|a| a == "--quick");
    let phase = Duration::from_secs(if quick { 3 } else { 8 });
    let parleyd = parleyd()?;
    let dir = tempfile::tempdir()?;
    let addr = daemon::init(&parleyd, dir.path())?;
    let node_key = keyfile::read(&dir.path().join("node.key"))?;
    let (user, peer, reader) = (key(1), key(2), key(3));
    let now = clock::now();
    let start = Timestamp::from_millis(now.as_millis() - 86_400_000);
    let genesis = |name: &str, nonce: u8| Genesis {
        name: name.to_owned(),
        description: String::new(),
        home_node: node_key.node_id(),
        nonce: [nonce; 16],
    };
    let small = Post::sign_genesis(&user, start, genesis("team", 1), now)?;
    let big = Post::sign_genesis(&user, start, genesis("archive", 2), now)?;
    let share = Content::ShareReplica(Replica {
        node: peer.node_id(),
    });
    let member = Content::AddMember(Member {
        user: reader.user_id(),
    });
    let mut posts = vec![
        small.clone(),
        big.clone(),
        Post::sign(
            &user,
            big.space(),
            start.saturating_add_millis(1),
            share,
            now,
        )?,
        Post::sign(
            &user,
            big.space(),
            start.saturating_add_millis(1),
            member,
            now,
        )?,
    ];
    for i in 0..BIG_SPACE {
        let thread = Content::Thread(Thread {
            title: format!("archived {i}"),
            body: String::new(),
            mentions: BoundedVec::new(),
        });
        posts.push(Post::sign(
            &user,
            big.space(),
            start.saturating_add_millis(2 + i),
            thread,
            now,
        )?);
    }
    let items = {
        let storage = Storage::open(&dir.path().join("db"))?;
        for chunk in posts.chunks(4096) {
            storage.insert(chunk)?;
        }
        storage.register_user(&user.user_id(), now)?;
        storage.register_user(&reader.user_id(), now)?;
        storage.flush()?;
        storage.items(&big.space())?
    };
    let node = Daemon::start(&parleyd, dir.path(), Duration::from_secs(30))?;

    println!("# attack bench\n");
    println!(
        "{} s per phase; the node is a `parleyd` process on 127.0.0.1 (peak RSS sampled from /proc every 20 ms), the attackers and the user run in this process\n",
        phase.as_secs()
    );
    println!("| phase | node peak RSS | user p50 | user p99 | user requests | note |");
    println!("|---|---:|---:|---:|---:|---|");
    let attacks: [(&str, Attack); 6] = [
        ("baseline (no attack)", Attack::None),
        (
            "1. strangers: 4 conns x 128 streams claiming 4 MiB",
            Attack::StrangerFrames,
        ),
        (
            "3. peer: 32 reconciliations x 200 frames, answers unread",
            Attack::UnreadReconciliation,
        ),
        (
            "4. user: 128 streams x 2 MiB of a 4 MiB request, stalled",
            Attack::StalledUser,
        ),
        (
            "5. member: 16 conns x 128 streams of 500 threads, answers unread",
            Attack::UnreadAnswers,
        ),
        (
            "2. strangers: 2,000 connections",
            Attack::StrangerConnections,
        ),
    ];
    let context = Context {
        node_id: node_key.node_id(),
        pid: node.pid,
        addr,
        user: &user,
        peer: &peer,
        reader: &reader,
        small: small.space(),
        big: big.space(),
        items,
    };
    // `-- --only N` runs the baseline and attack N alone.
    let only: Option<String> = std::env::args().skip_while(|a| a != "--only").nth(1);
    for (name, attack) in attacks {
        if let Some(only) = &only
            && !matches!(attack, Attack::None)
            && !name.starts_with(&format!("{only}."))
        {
            continue;
        }
        let row = run_phase(&context, attack, phase).await?;
        println!(
            "| {name} | {} MiB | {:.1} ms | {:.1} ms | {} | {} |",
            row.peak_rss_kib / 1024,
            row.p50.as_secs_f64() * 1e3,
            row.p99.as_secs_f64() * 1e3,
            row.requests,
            row.note
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    drop(node);
    Ok(())
}

#[derive(Clone, Copy, Debug)]
enum Attack {
    None,
    StrangerFrames,
    StrangerConnections,
    UnreadReconciliation,
    StalledUser,
    UnreadAnswers,
}

struct Context<'a> {
    node_id: NodeId,
    pid: u32,
    addr: std::net::SocketAddr,
    user: &'a SecretKey,
    peer: &'a SecretKey,
    reader: &'a SecretKey,
    small: SpaceId,
    big: SpaceId,
    items: Vec<Item>,
}

struct Row {
    peak_rss_kib: u64,
    p50: Duration,
    p99: Duration,
    requests: usize,
    note: String,
}

async fn run_phase(cx: &Context<'_>, attack: Attack, phase: Duration) -> Result<Row, BoxError> {
    let stop = Arc::new(AtomicBool::new(false));
    let pid = cx.pid;
    let peak = Arc::new(AtomicU64::new(rss_kib(pid)));
    let sampler = {
        let (stop, peak) = (stop.clone(), peak.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let attacker = launch(cx, attack, stop.clone()).await?;
    // The user: a thread list of its space, then a post, again and again.
    let client = transport::client_endpoint(cx.user, cx.addr)?;
    let connection = transport::connect(&client, cx.addr, cx.node_id, CLIENT_ALPN).await?;
    let mut latencies = Vec::new();
    let until = Instant::now() + phase;
    let mut n = 0u64;
    while Instant::now() < until {
        let began = Instant::now();
        let threads = Request::threads(cx.small, 50).encode();
        let answer = tokio::time::timeout(
            Duration::from_secs(10),
            transport::request(&connection, &threads, 1 << 24),
        )
        .await;
        if !matches!(answer, Ok(Ok(ref bytes)) if matches!(Response::decode(bytes), Ok(Response::Threads { .. })))
        {
            latencies.push(Duration::from_secs(10));
            continue;
        }
        latencies.push(began.elapsed());
        n += 1;
        let content = Content::Thread(Thread {
            title: format!("post {n}"),
            body: "a thought".repeat(20),
            mentions: BoundedVec::new(),
        });
        let now = clock::now();
        let post = Post::sign(cx.user, cx.small, now, content, now)?;
        let publish = Request::Publish {
            envelope: ByteString(post.bytes().to_vec()),
        }
        .encode();
        let began = Instant::now();
        let answer = tokio::time::timeout(
            Duration::from_secs(10),
            transport::request(&connection, &publish, 1 << 20),
        )
        .await;
        latencies.push(match answer {
            Ok(Ok(_)) => began.elapsed(),
            _ => Duration::from_secs(10),
        });
    }
    connection.close(0u32.into(), b"done");
    stop.store(true, Ordering::Relaxed);
    let note = attacker
        .await
        .unwrap_or_else(|e| format!("attacker failed: {e}"));
    let _ = sampler.await;
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q) as usize];
    Ok(Row {
        peak_rss_kib: peak.load(Ordering::Relaxed),
        p50: at(0.5),
        p99: at(0.99),
        requests: latencies.len(),
        note,
    })
}

/// Starts `attack`; the handle gives a note once `stop` is set.
async fn launch(
    cx: &Context<'_>,
    attack: Attack,
    stop: Arc<AtomicBool>,
) -> Result<tokio::task::JoinHandle<String>, BoxError> {
    let (addr, node_id) = (cx.addr, cx.node_id);
    Ok(match attack {
        Attack::None => tokio::spawn(async { String::new() }),
        Attack::StrangerFrames => tokio::spawn(async move {
            let mut refused = 0u64;
            let mut held = Vec::new();
            let mut connections = Vec::new();
            for c in 0..4u64 {
                let Ok(endpoint) = transport::client_endpoint(&key(10_000 + c), addr) else {
                    continue;
                };
                let Ok(connection) =
                    transport::connect(&endpoint, addr, node_id, CLIENT_ALPN).await
                else {
                    refused += 1;
                    continue;
                };
                for _ in 0..128 {
                    let Ok((mut send, recv)) = connection.open_bi().await else {
                        break;
                    };
                    let _ = send.write_all(&(4_194_304u32).to_le_bytes()).await;
                    let chunk = vec![0u8; 64 * 1024];
                    for _ in 0..16 {
                        if tokio::time::timeout(Duration::from_millis(50), send.write_all(&chunk))
                            .await
                            .is_err()
                        {
                            break;
                        }
                    }
                    held.push((send, recv));
                }
                connections.push((endpoint, connection));
            }
            wait(&stop).await;
            let answered = connections
                .iter()
                .filter(|(_, c)| c.close_reason().is_none())
                .count();
            format!(
                "{} streams opened, {refused} connections refused, {answered} still open",
                held.len()
            )
        }),
        Attack::StrangerConnections => tokio::spawn(async move {
            let (mut open, mut refused) = (Vec::new(), 0u64);
            for c in 0..2_000u64 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(endpoint) = transport::client_endpoint(&key(20_000 + c), addr) else {
                    continue;
                };
                match tokio::time::timeout(
                    Duration::from_secs(2),
                    transport::connect(&endpoint, addr, node_id, CLIENT_ALPN),
                )
                .await
                {
                    Ok(Ok(connection)) => open.push((endpoint, connection)),
                    _ => refused += 1,
                }
            }
            wait(&stop).await;
            let alive = open
                .iter()
                .filter(|(_, c)| c.close_reason().is_none())
                .count();
            format!("{alive} held open at the end, {refused} refused")
        }),
        Attack::UnreadReconciliation => {
            let (peer, big, items) = (
                SecretKey::from_seed(&cx.peer.to_seed()),
                cx.big,
                cx.items.clone(),
            );
            tokio::spawn(async move {
                let Ok(endpoint) = transport::client_endpoint(&peer, addr) else {
                    return "no endpoint".to_owned();
                };
                let Ok(connection) =
                    transport::connect(&endpoint, addr, node_id, transport::NODE_ALPN).await
                else {
                    return "refused".to_owned();
                };
                let Ok((mut control, _control_recv)) = connection.open_bi().await else {
                    return "no control stream".to_owned();
                };
                let hello = Message::Hello {
                    versions: BoundedVec::try_from_vec(vec![WIRE_VERSION]).unwrap_or_default(),
                    node: peer.node_id(),
                    spaces: BoundedVec::try_from_vec(vec![big]).unwrap_or_default(),
                };
                let _ = transport::write_frame(&mut control, &hello.encode()).await;
                let (open, again) = frames(big, &items);
                let mut streams = Vec::new();
                let mut sent = 0u64;
                for _ in 0..32 {
                    let Ok((mut send, recv)) = connection.open_bi().await else {
                        break;
                    };
                    let _ = transport::write_frame(&mut send, &open.encode()).await;
                    for _ in 0..200 {
                        match tokio::time::timeout(
                            Duration::from_millis(20),
                            transport::write_frame(&mut send, &again.encode()),
                        )
                        .await
                        {
                            Ok(Ok(())) => sent += 1,
                            _ => break,
                        }
                    }
                    streams.push((send, recv));
                }
                wait(&stop).await;
                drop(connection);
                format!("{} streams, {sent} frames sent", streams.len())
            })
        }
        Attack::StalledUser => {
            let user = SecretKey::from_seed(&cx.user.to_seed());
            tokio::spawn(async move {
                let Ok(endpoint) = transport::client_endpoint(&user, addr) else {
                    return "no endpoint".to_owned();
                };
                let Ok(connection) =
                    transport::connect(&endpoint, addr, node_id, CLIENT_ALPN).await
                else {
                    return "refused".to_owned();
                };
                let mut streams = Vec::new();
                let mut bytes = 0u64;
                let chunk = vec![0u8; 64 * 1024];
                for _ in 0..128 {
                    let Ok((mut send, recv)) = connection.open_bi().await else {
                        break;
                    };
                    let _ = send.write_all(&(4_194_304u32).to_le_bytes()).await;
                    for _ in 0..32 {
                        match tokio::time::timeout(
                            Duration::from_millis(20),
                            send.write_all(&chunk),
                        )
                        .await
                        {
                            Ok(Ok(())) => bytes += chunk.len() as u64,
                            _ => break,
                        }
                    }
                    streams.push((send, recv));
                }
                wait(&stop).await;
                format!("{} streams, {} MiB sent", streams.len(), bytes >> 20)
            })
        }
        Attack::UnreadAnswers => {
            let reader = SecretKey::from_seed(&cx.reader.to_seed());
            let request = Request::threads(cx.big, 500).encode();
            tokio::spawn(async move {
                let (mut held, mut connections) = (Vec::new(), Vec::new());
                let mut asked = 0;
                for _ in 0..16 {
                    let Ok(endpoint) = transport::client_endpoint(&reader, addr) else {
                        break;
                    };
                    let Ok(connection) =
                        transport::connect(&endpoint, addr, node_id, CLIENT_ALPN).await
                    else {
                        break;
                    };
                    for _ in 0..128 {
                        let Ok(Ok((mut send, recv))) =
                            tokio::time::timeout(Duration::from_millis(200), connection.open_bi())
                                .await
                        else {
                            break;
                        };
                        if transport::write_frame(&mut send, &request).await.is_ok() {
                            asked += 1;
                        }
                        held.push((send, recv));
                    }
                    connections.push((endpoint, connection));
                }
                wait(&stop).await;
                for (_, connection) in &connections {
                    connection.close(0u32.into(), b"done");
                }
                drop(held);
                format!("{asked} requests, no answer read")
            })
        }
    })
}

/// A reconciliation opening of `space` by a peer holding other posts of the same hours,
/// and the frame that asks the same ranges again (answered with finer ranges each time).
fn frames(space: SpaceId, items: &[Item]) -> (Message, Message) {
    let theirs: Vec<Item> = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let mut id = [0u8; 32];
            id[..8].copy_from_slice(&(i as u64 * 7919 + 13).to_le_bytes());
            Item::new(item.created_at, PostId::from_bytes(id))
        })
        .collect();
    let open = SyncSession::initiate(space, theirs, SyncConfig::default())
        .ok()
        .and_then(|mut session| match session.poll_output() {
            Some(Output::Send(open)) => Some(open),
            _ => None,
        })
        .unwrap_or_else(|| Message::ReconcileOpen {
            space,
            frame: ByteString(vec![0x61]),
        });
    let frame = match &open {
        Message::ReconcileOpen { frame, .. } => frame.clone(),
        _ => ByteString(vec![0x61]),
    };
    (open, Message::ReconcileFrame { space, frame })
}

async fn wait(stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
