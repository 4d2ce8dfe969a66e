//! `kill -9` during a burst of posts: every post the committer acknowledged is there
//! after reopening.
//!
//! The parent test re-runs this test binary as a child (selecting only
//! [`storage_crash_child`], with the store's directory in [`CHILD_DIR`]), as sled's own
//! crash tests do. The child stores posts through the [`Committer`] from many tasks at once
//! and prints `acked ID` for each acknowledged post; the parent kills it with SIGKILL
//! mid-burst, reopens the store and looks for every printed id. Five rounds run on
//! the same directory, so recovery from a crash is itself crashed into.

// Test helpers panic on failure, like the tests that call them.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use parley_node::storage::{Committer, Inserted, Storage};
use parley_protocol::content::Thread;
use parley_protocol::encoding::BoundedVec;
use parley_protocol::{Content, Post, PostId, SecretKey, SpaceId, Timestamp};

/// Set in the child's environment: the store to write into, and the round.
const CHILD_DIR: &str = "PARLEY_CRASH_CHILD_DIR";
const CHILD_ROUND: &str = "PARLEY_CRASH_CHILD_ROUND";
const NOW: u64 = 1_800_000_000_000;
/// Concurrent submitters in the child.
const SUBMITTERS: u64 = 16;
/// Rounds of run-and-kill on one directory.
const ROUNDS: u64 = 5;
/// A child that acknowledges nothing for this long has failed.
const PATIENCE: Duration = Duration::from_secs(60);

#[test]
fn storage_keeps_every_acknowledged_post_through_kill_9() {
    let tmp = tempfile::tempdir().unwrap();
    let mut acked: BTreeSet<PostId> = BTreeSet::new();
    for round in 0..ROUNDS {
        // Kill after a varying number of acknowledgements, so the kill lands at
        // different points of a group's store-flush-acknowledge cycle.
        let kill_after = 150 + 170 * round as usize;
        let mut child = KillOnDrop(
            Command::new(std::env::current_exe().unwrap())
                .args([
                    "storage_crash_child",
                    "--exact",
                    "--nocapture",
                    "--test-threads",
                    "1",
                ])
                .env(CHILD_DIR, tmp.path())
                .env(CHILD_ROUND, round.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap(),
        );
        let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
        let started = Instant::now();
        let mut this_round = 0;
        while this_round < kill_after {
            assert!(
                started.elapsed() < PATIENCE,
                "round {round}: only {this_round} posts acknowledged"
            );
            let Some(line) = lines.next() else {
                panic!("round {round}: the child exited after {this_round} acknowledgements");
            };
            if let Some(id) = line.unwrap().strip_prefix("acked ") {
                acked.insert(id.parse().unwrap());
                this_round += 1;
            }
        }
        child.0.kill().unwrap(); // SIGKILL
        child.0.wait().unwrap();
        // Acknowledgements printed before the kill are still in the pipe.
        for line in lines {
            if let Some(id) = line.unwrap().strip_prefix("acked ") {
                acked.insert(id.parse().unwrap());
            }
        }
        let storage = Storage::open(tmp.path()).unwrap();
        let missing: Vec<_> = acked
            .iter()
            .filter(|id| !storage.contains(id).unwrap())
            .collect();
        assert!(
            missing.is_empty(),
            "round {round}: {} of {} acknowledged posts lost, e.g. {}",
            missing.len(),
            acked.len(),
            missing[0]
        );
        // Everything there still reads and validates.
        let space = SpaceId::from_bytes([7; 32]);
        let stored = storage.space_posts(&space).unwrap();
        assert!(stored.len() >= acked.len());
        assert_eq!(storage.items(&space).unwrap().len(), stored.len());
    }
}

/// Kills the child if the parent test fails early, so no child outlives the test.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The child's work; does nothing unless run by [`storage_keeps_every_acknowledged_post_through_kill_9`].
#[test]
fn storage_crash_child() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let round: u64 = std::env::var(CHILD_ROUND).unwrap().parse().unwrap();
    let storage = Storage::open(std::path::Path::new(&dir)).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let commit = Committer::spawn(storage);
        let tasks: Vec<_> = (0..SUBMITTERS)
            .map(|task| {
                let commit = commit.clone();
                tokio::spawn(async move {
                    let key = SecretKey::from_seed(&[(round * SUBMITTERS + task) as u8 + 1; 32]);
                    let started = Instant::now();
                    // A child left running (its parent died) stops on its own.
                    for n in (0u64..).take_while(|_| started.elapsed() < 2 * PATIENCE) {
                        // Some requests carry two posts, to crash multi-post requests too.
                        let count = if n % 5 == 0 { 2 } else { 1 };
                        let posts: Vec<Post> = (0..count).map(|k| post(&key, n * 2 + k)).collect();
                        let outcomes = commit.commit(posts.clone()).await.unwrap();
                        assert!(outcomes.iter().all(|o| *o == Inserted::New));
                        for post in posts {
                            println!("acked {}", post.id());
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
}

/// A post of about 1 KiB.
fn post(key: &SecretKey, n: u64) -> Post {
    let now = Timestamp::from_millis(NOW);
    let content = Content::Thread(Thread {
        title: format!("post {n}"),
        body: "x".repeat(1024),
        mentions: BoundedVec::new(),
    });
    let created_at = Timestamp::from_millis(NOW - 1_000_000 + n);
    Post::sign(key, SpaceId::from_bytes([7; 32]), created_at, content, now).unwrap()
}
