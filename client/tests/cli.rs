//! `parley` as a person runs it: the real binary, its output and exit codes.

use std::process::{Command, Output};

use parley_protocol::{PostId, SecretKey};

fn parley(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_parley"))
        .args(args)
        .output()
        .expect("parley runs")
}

#[test]
fn keygen_with_a_seed_prints_its_user_id() {
    let output = parley(&["keygen", "--seed-hex", &"2a".repeat(32)]);
    assert!(output.status.success());
    let expected = SecretKey::from_seed(&[0x2a; 32]).user_id().to_string();
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        format!("{expected}\n")
    );
}

#[test]
fn keygen_json_without_a_seed_is_a_fresh_user_id() {
    let output = parley(&["keygen", "--json"]);
    assert!(output.status.success());
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(value["user_id"].as_str().unwrap().starts_with("user1"));
    assert!(value.get("seed_hex").is_none());
}

#[test]
fn bad_seed_is_a_usage_error() {
    let output = parley(&["keygen", "--seed-hex", "123"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8(output.stderr)
            .unwrap()
            .contains("64 hex digits")
    );
}

#[test]
fn id_parse_names_the_kind() {
    let id = PostId([5; 32]).to_string();
    let output = parley(&["id-parse", &id]);
    assert!(output.status.success());
    assert!(
        String::from_utf8(output.stdout)
            .unwrap()
            .starts_with("post id\n")
    );
    let output = parley(&["id-parse", "--json", &id]);
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["kind"], "post");
    assert_eq!(value["bytes_hex"], "05".repeat(32));
}

#[test]
fn id_parse_explains_a_non_id() {
    let output = parley(&["id-parse", "space1notanid"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.starts_with("not a Parley id: not a valid space id"),
        "{stderr}"
    );
    let output = parley(&["id-parse", "--json", "hello"]);
    assert_eq!(output.status.code(), Some(1));
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(value["error"].as_str().unwrap().contains("unknown prefix"));
}

#[test]
fn help_and_version_work() {
    let help = parley(&["--help"]);
    assert!(help.status.success());
    let text = String::from_utf8(help.stdout).unwrap();
    assert!(text.contains("keygen") && text.contains("id-parse"));
    let version = parley(&["--version"]);
    assert_eq!(
        String::from_utf8(version.stdout).unwrap().trim(),
        format!("parley {}", env!("CARGO_PKG_VERSION"))
    );
}
