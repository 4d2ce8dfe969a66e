//! A node's store after losing parts of it, through the real binaries: an index deleted
//! is rebuilt from the envelope log, saying what it could not recover; a database folder
//! that disappeared is refused instead of replaced by an empty node.

use parley_tests::process::{TestNode, TestUser};

#[test]
fn a_deleted_index_is_rebuilt_from_the_log_and_a_missing_database_is_refused() {
    let mut node = TestNode::init();
    node.start();
    let ada = TestUser::new();
    ada.json(&["join", &node.invite()]);
    let space = ada.json(&["space", "create", "design"])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for title in ["one", "two", "three"] {
        ada.json(&[
            "post",
            &space,
            "--title",
            title,
            "--body",
            "kept in the log",
        ]);
    }
    node.stop();

    // The index goes; every envelope is still in the log.
    let db = node.dir.path().join("db");
    std::fs::remove_dir_all(db.join("index")).unwrap();
    let out = node.admin(&["status", "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("rebuilt it from the envelope log (4 posts)"),
        "{stderr}"
    );
    assert!(stderr.contains("registered users"), "{stderr}");
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["users"], 0, "{status}");
    assert_eq!(status["spaces"][0]["posts"], 4, "{status}");
    assert_eq!(status["spaces"][0]["name"], "design", "{status}");

    // Ada joins again with a new invite, and finds her threads.
    node.start();
    ada.json(&["join", &node.invite()]);
    let threads = ada.json(&["threads", &space]);
    let list = threads
        .as_array()
        .or_else(|| threads["threads"].as_array())
        .expect("a thread list");
    assert_eq!(list.len(), 3, "{threads}");
    node.stop();

    // The whole database folder goes (a disk that did not mount): nothing starts empty.
    std::fs::remove_dir_all(&db).unwrap();
    for args in [vec!["run"], vec!["status"]] {
        let out = node.admin(&args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("database") && stderr.contains("is missing"),
            "{stderr}"
        );
        assert!(!db.exists(), "{args:?} created a new store");
    }
}

/// A tmpfs of `size` mounted on a fresh folder for the test's life, if this machine
/// lets the test mount one (root, and mounts allowed).
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().ok()?;
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        mounted.then_some(Self { dir })
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

/// A disk that fills up: posts are refused with a clear error before the store runs
/// out of space, what is stored stays readable, and posts are taken again once space
/// is freed, without a restart. Needs a small filesystem of its own (a tmpfs); skipped
/// with a message where it cannot mount one.
#[test]
fn a_full_disk_refuses_posts_keeps_reads_and_recovers_when_space_is_freed() {
    use parley_node::storage::{Storage, StorageError};
    use parley_protocol::{NodeId, Timestamp};
    use parley_tests::history::{Rng, SpaceBuilder};

    let Some(disk) = SmallDisk::mount("48m") else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root and mount rights)");
        return;
    };
    let storage = Storage::open(&disk.dir.path().join("db")).unwrap();
    storage.set_min_free_bytes(8 * 1024 * 1024);
    // Ballast leaving about 12 MiB free.
    let free = storage.free_bytes().unwrap();
    let ballast = disk.dir.path().join("ballast");
    std::fs::write(&ballast, vec![7u8; (free - 12 * 1024 * 1024) as usize]).unwrap();

    let mut space = SpaceBuilder::new("full", 1, NodeId::from_bytes([5; 32]));
    let mut rng = Rng::new(5);
    storage.insert(&[space.genesis.clone()]).unwrap();
    let mut stored = 1;
    let refused = loop {
        let batch: Vec<_> = (0..200).map(|_| space.random_post(&mut rng)).collect();
        match storage.insert(&batch) {
            Ok(_) => {
                storage.flush().unwrap();
                stored += batch.len();
            }
            Err(StorageError::DiskFull { free, min_free }) => {
                assert!(free < min_free + 1024 * 1024, "refused at the reserve");
                break batch;
            }
            Err(other) => panic!("the store failed instead of refusing: {other}"),
        }
        assert!(stored < 100_000, "the disk never filled");
    };
    // What is stored stays readable.
    let _now = Timestamp::from_millis(u64::MAX / 2);
    let read = storage.space_posts(&space.space).unwrap().len();
    assert!(read > 0 && read <= stored, "{read} of {stored}");
    // Space freed: taken again, no restart.
    std::fs::remove_file(&ballast).unwrap();
    storage.insert(&refused).unwrap();
    storage.flush().unwrap();
    drop(storage);
}
