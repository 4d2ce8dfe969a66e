//! Posts per second accepted through the client API, durably acknowledged, with 1, 8
//! and 64 concurrent clients over real QUIC on loopback; latency p50/p99. Prints a table.
//!
//! `cargo run --release -p parley-node --example api_bench [POSTS_PER_CLIENT_ROUND]`

use std::time::{Duration, Instant};

use parley_node::{clock, server, storage::Storage, transport};
use parley_protocol::api::{CLIENT_ALPN, Request, Response};
use parley_protocol::content::{Content, Genesis, Member, Thread};
use parley_protocol::encoding::{BoundedVec, ByteString};
use parley_protocol::limits::MAX_MESSAGE_BYTES;
use parley_protocol::{Post, SecretKey, SpaceId};

fn key(n: u64) -> SecretKey {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&n.to_le_bytes());
    seed[8] = 0xbe;
    SecretKey::from_seed(&seed)
}

/// `count` 2 KiB thread posts by `author`, signed ahead of time.
fn posts(author: &SecretKey, space: SpaceId, count: usize, offset: u64) -> Vec<Vec<u8>> {
    let body: String = "An asynchronous thought, written carefully. ".repeat(47)[..2048].to_owned();
    (0..count)
        .map(|i| {
            let content = Content::Thread(Thread {
                title: format!("Post {i}"),
                body: body.clone(),
                mentions: BoundedVec::new(),
            });
            let at = clock::now().saturating_add_millis(offset + i as u64);
            Post::sign(author, space, at, content, at)
                .expect("valid post")
                .bytes()
                .to_vec()
        })
        .collect()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let per_round: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(6_400);
    let dir = tempfile::tempdir()?;
    let storage = Storage::open(&dir.path().join("db"))?;
    let node_key = key(0);
    let founder = key(1);
    let now = clock::now();
    let genesis = Genesis {
        name: "bench".into(),
        description: String::new(),
        home_node: node_key.node_id(),
        nonce: [9; 16],
    };
    let genesis = Post::sign_genesis(&founder, now, genesis, now)?;
    let space = genesis.space();
    let clients: Vec<SecretKey> = (0..64).map(|i| key(100 + i)).collect();
    let mut setup = vec![genesis];
    for (i, client) in clients.iter().enumerate() {
        let add = Content::AddMember(Member {
            user: client.user_id(),
        });
        setup.push(Post::sign(
            &founder,
            space,
            now.saturating_add_millis(1 + i as u64),
            add,
            now,
        )?);
        storage.register_user(&client.user_id(), now)?;
    }
    storage.insert(&setup)?;
    storage.flush()?;

    let endpoint = transport::server_endpoint(&node_key, "127.0.0.1:0".parse()?, &[CLIENT_ALPN])?;
    let addr = endpoint.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(server::serve(
        SecretKey::from_seed(&node_key.to_seed()),
        storage.clone(),
        endpoint,
        addr.to_string(),
        parley_node::federation::FederationConfig::default(),
        Vec::new(),
        async move {
            let _ = stop_rx.await;
        },
    ));

    println!(
        "posts accepted through the client API (2 KiB posts, acknowledged after fsync), {per_round} posts per run"
    );
    println!();
    println!("| clients | posts | seconds | posts/s | p50 ms | p99 ms | max ms |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    let mut offset = 10_000u64;
    for &n in &[1usize, 8, 64] {
        let each = per_round / n;
        let mut tasks = Vec::new();
        let mut prepared = Vec::new();
        for client in clients.iter().take(n) {
            prepared.push((
                SecretKey::from_seed(&client.to_seed()),
                posts(client, space, each, offset),
            ));
            offset += each as u64 + 1;
        }
        let start = Instant::now();
        for (client, envelopes) in prepared {
            tasks.push(tokio::spawn(async move {
                let endpoint = transport::client_endpoint(&client, addr).expect("client endpoint");
                let connection = transport::connect(&endpoint, addr, key(0).node_id(), CLIENT_ALPN)
                    .await
                    .expect("connect");
                let mut latencies = Vec::with_capacity(envelopes.len());
                for envelope in envelopes {
                    let request = Request::Publish {
                        envelope: ByteString(envelope),
                    }
                    .encode();
                    let sent = Instant::now();
                    let reply = transport::request(&connection, &request, MAX_MESSAGE_BYTES)
                        .await
                        .expect("reply");
                    match Response::decode(&reply) {
                        Ok(Response::Published { .. }) => latencies.push(sent.elapsed()),
                        other => panic!("publish refused: {other:?}"),
                    }
                }
                connection.close(0u32.into(), b"done");
                latencies
            }));
        }
        let mut latencies: Vec<Duration> = Vec::new();
        for task in tasks {
            latencies.extend(task.await?);
        }
        let seconds = start.elapsed().as_secs_f64();
        latencies.sort();
        let pct = |p: f64| {
            latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)]
                .as_secs_f64()
                * 1e3
        };
        println!(
            "| {n} | {} | {seconds:.2} | {:.0} | {:.1} | {:.1} | {:.1} |",
            latencies.len(),
            latencies.len() as f64 / seconds,
            pct(0.50),
            pct(0.99),
            pct(1.0)
        );
    }
    let _ = stop_tx.send(());
    server.await??;
    println!();
    println!(
        "disk: {} bytes after {} posts",
        storage.size_on_disk()?,
        storage.count(&space)?
    );
    Ok(())
}
