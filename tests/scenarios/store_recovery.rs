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
