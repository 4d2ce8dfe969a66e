//! `parleyd run` in a directory that holds no node: a mistyped `--data-dir` is an
//! error that says how to create a node there, and creates nothing.

use std::process::Command;

#[test]
fn run_in_a_directory_without_a_node_creates_nothing() {
    let parent = tempfile::tempdir().unwrap();
    let typo = parent.path().join("nodee");
    let output = Command::new(env!("CARGO_BIN_EXE_parleyd"))
        .args(["run", "--data-dir"])
        .arg(&typo)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("holds no node"), "{stderr}");
    assert!(stderr.contains("parleyd init --data-dir"), "{stderr}");
    assert!(!typo.exists(), "nothing was created");
}
