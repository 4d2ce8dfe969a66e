//! `parleyd inspect` as a person runs it: the real binary, envelopes on standard input.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

use parley_protocol::content::{Genesis, Thread};
use parley_protocol::{Content, NodeId, Post, SecretKey, Timestamp};

const NOW: u64 = 1_700_000_000_000;

fn parleyd(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_parleyd"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("parleyd starts");
    let mut input = child.stdin.take().expect("stdin is piped");
    input.write_all(stdin).expect("parleyd reads its input");
    drop(input);
    child.wait_with_output().expect("parleyd exits")
}

fn thread_post() -> Post {
    let key = SecretKey::from_seed(&[1; 32]);
    let genesis = Genesis {
        name: "ops".to_owned(),
        description: String::new(),
        home_node: NodeId([2; 32]),
        nonce: [3; 16],
    };
    let space = Post::sign_genesis(&key, Timestamp(NOW), genesis, Timestamp(NOW))
        .expect("fixture genesis is valid")
        .space();
    let thread = Thread {
        title: "Release plan".to_owned(),
        body: "line one\nline two".to_owned(),
        mentions: Default::default(),
    };
    Post::sign(
        &key,
        space,
        Timestamp(NOW + 1),
        Content::Thread(thread),
        Timestamp(NOW),
    )
    .expect("fixture thread is valid")
}

#[test]
fn valid_hex_envelope_is_described() {
    let post = thread_post();
    let output = parleyd(&["inspect", "-"], hex::encode(post.bytes()).as_bytes());
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.starts_with("valid post\n"), "{stdout}");
    assert!(
        stdout.contains(&format!("id:            {}\n", post.id())),
        "{stdout}"
    );
    assert!(stdout.contains("kind:          thread\n"), "{stdout}");
    assert!(stdout.contains(&post.author().to_string()));
    assert!(stdout.contains(&post.space().to_string()));
    assert!(
        stdout.contains("created_at:    1700000000001 (2023-11-14T22:13:20.001Z)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("body:          line one\n               line two\n"),
        "{stdout}"
    );
}

#[test]
fn raw_envelope_as_json() {
    let post = thread_post();
    let output = parleyd(&["inspect", "--json", "-"], post.bytes());
    assert!(output.status.success());
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["valid"], true);
    assert_eq!(value["id"], post.id().to_string());
    assert_eq!(value["kind"], "thread");
    assert_eq!(value["fields"]["title"], "Release plan");
    assert_eq!(value["fields"]["mentions"], serde_json::json!([]));
}

#[test]
fn truncated_envelope_fails_with_the_typed_error() {
    let post = thread_post();
    let bytes = &post.bytes()[..post.bytes().len() - 10];
    let output = parleyd(&["inspect", "-"], bytes);
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.starts_with("invalid envelope: envelope is malformed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("error:         Malformed(Truncated)"),
        "{stdout}"
    );
}

#[test]
fn future_envelope_is_transient_against_an_early_clock() {
    let post = thread_post();
    let early = (NOW - 3_600_000).to_string();
    let output = parleyd(
        &["inspect", "--json", "--now-ms", &early, "-"],
        post.bytes(),
    );
    assert_eq!(output.status.code(), Some(1));
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["valid"], false);
    assert_eq!(value["error"]["transient"], true);
}

#[test]
fn missing_file_is_one_clear_line() {
    let output = parleyd(&["inspect", "/nonexistent/envelope.hex"], b"");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.starts_with("error: reading /nonexistent/envelope.hex: "),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn help_and_version_work() {
    let help = parleyd(&["--help"], b"");
    assert!(help.status.success());
    assert!(String::from_utf8(help.stdout).unwrap().contains("inspect"));
    let version = parleyd(&["--version"], b"");
    assert_eq!(
        String::from_utf8(version.stdout).unwrap().trim(),
        format!("parleyd {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn spec_vector_files_are_inspected_at_their_now() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../spec/vectors/");
    let envelopes = format!("{root}envelopes.json");
    let output = parleyd(&["inspect", &envelopes], b"");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("== genesis ==\nvalid post\n"), "{stdout}");
    assert!(stdout.ends_with(" valid, 0 invalid\n"), "{stdout}");

    let invalid = format!("{root}invalid.json");
    let output = parleyd(&["inspect", "--json", &invalid], b"");
    assert_eq!(output.status.code(), Some(1));
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let reports = value.as_array().unwrap();
    assert!(!reports.is_empty());
    assert!(
        reports
            .iter()
            .all(|r| r["valid"] == false && r["label"].is_string())
    );
}
