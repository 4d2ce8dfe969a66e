//! Imports the shared mailing-list corpus (`../shared/corpus/*.jsonl`, where present)
//! into a `parleyd` child process through its client API over QUIC, one space per
//! list, then prints the node process's resident memory and the store's disk use next to the posts' own bytes.
//!
//! `cargo run --release -p parley-node --example corpus_import [CORPUS_DIR]`

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

use parley_node::{clock, transport};
use parley_protocol::NodeId;
use parley_protocol::api::Invite;
use parley_protocol::api::{CLIENT_ALPN, Request, Response};
use parley_protocol::content::{Content, Genesis, Member, Reply, Thread};
use parley_protocol::encoding::{BoundedVec, ByteString};
use parley_protocol::limits::{MAX_BODY_BYTES, MAX_MESSAGE_BYTES, MAX_TITLE_BYTES};
use parley_protocol::{Post, PostId, SecretKey, Timestamp};

fn seed_key(tag: u8, n: u64) -> SecretKey {
    let mut seed = [tag; 32];
    seed[..8].copy_from_slice(&n.to_le_bytes());
    SecretKey::from_seed(&seed)
}

fn clip(text: &str, limit: usize) -> String {
    let mut end = text.len().min(limit);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// Milliseconds since the epoch of `YYYY-MM-DDTHH:MM:SSZ`.
fn date_ms(date: &str) -> Option<u64> {
    let num = |r: std::ops::Range<usize>| date.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(((days * 24 + hh) * 60 + mm) * 60 + ss)
        .ok()
        .map(|s| s * 1000)
}

/// Bytes of the files under `dir`.
fn dir_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let corpus = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpus"))
        });
    let Ok(entries) = std::fs::read_dir(&corpus) else {
        println!("no corpus at {}: nothing to import", corpus.display());
        return Ok(());
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();

    let dir = tempfile::tempdir()?;
    let data_dir = dir.path().join("node");
    let parleyd = std::env::var("PARLEYD").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/parleyd").to_owned()
    });
    let port = std::net::UdpSocket::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let init = Command::new(&parleyd)
        .args([
            "init",
            "--json",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(&data_dir)
        .output()
        .map_err(|e| {
            format!("running {parleyd} (build it with `cargo build --release -p parley-node`): {e}")
        })?;
    let init: serde_json::Value = serde_json::from_slice(&init.stdout)?;
    let node_id: NodeId = init["node_id"]
        .as_str()
        .ok_or("init printed no node id")?
        .parse()?;
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let mut child = Command::new(&parleyd)
        .args(["run", "--data-dir"])
        .arg(&data_dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    loop {
        match lines.next() {
            Some(Ok(line)) if line.contains("serving at") => break,
            Some(Ok(_)) => {}
            _ => return Err("parleyd did not start".into()),
        }
    }
    let invite = Command::new(&parleyd)
        .args(["invite", "--json", "--uses", "1000000", "--data-dir"])
        .arg(&data_dir)
        .output()?;
    let invite: serde_json::Value = serde_json::from_slice(&invite.stdout)?;
    let invite: Invite = invite["invite"].as_str().ok_or("no invite")?.parse()?;
    let admin = seed_key(1, 0);
    let now = clock::now();

    // Sign everything first (the people's clients would), then publish through the API.
    let mut envelopes: Vec<Vec<u8>> = Vec::new();
    let mut authors: BTreeMap<String, SecretKey> = BTreeMap::new();
    let mut post_bytes = 0usize;
    let mut messages = 0usize;
    for (n, file) in files.iter().enumerate() {
        let text = std::fs::read_to_string(file)?;
        let name = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("list")
            .to_owned();
        let genesis = Genesis {
            name: clip(&name, 100),
            description: String::new(),
            home_node: node_id,
            nonce: [n as u8; 16],
        };
        let genesis = Post::sign_genesis(&admin, Timestamp(0), genesis, now)?;
        let space = genesis.space();
        envelopes.push(genesis.bytes().to_vec());
        let mut members = std::collections::BTreeSet::new();
        let mut ids: BTreeMap<String, (PostId, PostId)> = BTreeMap::new();
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let (Some(mid), Some(from), Some(body), Some(date)) = (
                v["message_id"].as_str(),
                v["from_hash"].as_str(),
                v["body"].as_str(),
                v["date"].as_str().and_then(date_ms),
            ) else {
                continue;
            };
            let next = authors.len() as u64 + 1;
            let author = authors
                .entry(from.to_owned())
                .or_insert_with(|| seed_key(2, next));
            let author = SecretKey::from_seed(&author.to_seed());
            if members.insert(author.user_id()) {
                let add = Content::AddMember(Member {
                    user: author.user_id(),
                });
                envelopes.push(
                    Post::sign(&admin, space, Timestamp(members.len() as u64), add, now)?
                        .bytes()
                        .to_vec(),
                );
            }
            let body = if body.trim().is_empty() {
                "(no text)".to_owned()
            } else {
                clip(body, MAX_BODY_BYTES)
            };
            let parent = v["in_reply_to"].as_str().and_then(|p| ids.get(p)).copied();
            let content = match parent {
                Some((root, parent)) => Content::Reply(Reply {
                    root,
                    parent,
                    body,
                    mentions: BoundedVec::new(),
                }),
                None => {
                    let title = clip(v["subject"].as_str().unwrap_or("").trim(), MAX_TITLE_BYTES)
                        .replace(char::is_control, " ");
                    let title = if title.trim().is_empty() {
                        "(no subject)".to_owned()
                    } else {
                        title
                    };
                    Content::Thread(Thread {
                        title,
                        body,
                        mentions: BoundedVec::new(),
                    })
                }
            };
            let post = Post::sign(&author, space, Timestamp(date), content, now)?;
            let root = match post.content() {
                Content::Reply(r) => r.root,
                _ => post.id(),
            };
            ids.insert(mid.to_owned(), (root, post.id()));
            post_bytes += post.bytes().len();
            messages += 1;
            envelopes.push(post.bytes().to_vec());
        }
    }

    // Publish: each post by its author's connection would be realistic; the node checks
    // the author is the connected key, so connect as each author lazily.
    let start = Instant::now();
    let mut connections: BTreeMap<[u8; 32], (transport::ClientEndpoint, quinn::Connection)> =
        BTreeMap::new();
    for envelope in &envelopes {
        let author: [u8; 32] = envelope[33..65].try_into()?;
        if !connections.contains_key(&author) {
            // Keep a few connections, as a handful of people writing at once would.
            if connections.len() >= 16
                && let Some(old) = connections.keys().next().copied()
                && let Some((endpoint, connection)) = connections.remove(&old)
            {
                connection.close(0u32.into(), b"done");
                drop(endpoint);
            }
            let key = if author == *admin.user_id().as_bytes() {
                SecretKey::from_seed(&admin.to_seed())
            } else {
                authors
                    .values()
                    .find(|k| *k.user_id().as_bytes() == author)
                    .map(|k| SecretKey::from_seed(&k.to_seed()))
                    .ok_or("unknown author")?
            };
            let endpoint = transport::client_endpoint(&key, addr)?;
            let connection = transport::connect(&endpoint, addr, node_id, CLIENT_ALPN).await?;
            let join = Request::Join {
                token: invite.token,
            }
            .encode();
            transport::request(&connection, &join, MAX_MESSAGE_BYTES).await?;
            connections.insert(author, (endpoint, connection));
        }
        let (_, connection) = &connections[&author];
        let request = Request::Publish {
            envelope: ByteString(envelope.clone()),
        }
        .encode();
        let reply = transport::request(connection, &request, MAX_MESSAGE_BYTES).await?;
        if !matches!(Response::decode(&reply), Ok(Response::Published { .. })) {
            return Err(format!("publish refused: {:?}", Response::decode(&reply)).into());
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    for (_, (_, connection)) in connections {
        connection.close(0u32.into(), b"done");
    }
    drop(envelopes);
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    let rss = |field: &str| -> f64 {
        status
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    let (rss_now, rss_peak) = (rss("VmRSS:"), rss("VmHWM:"));
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
    let disk = dir_size(&data_dir.join("db"));
    println!(
        "| messages | posts' bytes | import s | posts/s | node RSS now MiB | peak RSS MiB | disk MiB | disk / posts' bytes |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {messages} | {post_bytes} | {seconds:.1} | {:.0} | {:.0} | {:.0} | {:.1} | {:.2}x |",
        messages as f64 / seconds,
        rss_now,
        rss_peak,
        disk as f64 / 1048576.0,
        disk as f64 / post_bytes as f64
    );
    println!("(RSS of the parleyd process alone, read from /proc before it is stopped)");
    Ok(())
}
