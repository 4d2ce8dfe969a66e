//! `parley` as a person runs it, without a node: the real binary, its output, its
//! errors and exit codes (0 done, 1 failed, 2 usage). Commands against a running node
//! are exercised by the workspace's end-to-end tests.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use parley_protocol::{NodeId, PostId};

fn parley(home: &Path, args: &[&str]) -> Output {
    parley_with_stdin(home, args, &[])
}

fn parley_with_stdin(home: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_parley"))
        .args(args)
        .env("PARLEY_HOME", home)
        .env_remove("EDITOR")
        .env_remove("VISUAL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("parley runs");
    let mut input = child.stdin.take().expect("stdin is piped");
    // The child may exit before reading everything; that is fine.
    let _ = input.write_all(stdin);
    drop(input);
    child.wait_with_output().expect("parley ends")
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "not one JSON document ({error}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// A home with a key and a node address that nothing answers at.
fn joined_home() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let key = dir.path().join("user.key");
    std::fs::write(&key, format!("{}\n", "2a".repeat(32))).expect("key written");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("key private");
    let node = format!("{}@127.0.0.1:9\n", NodeId([3; 32]));
    std::fs::write(dir.path().join("node"), node).expect("node written");
    dir
}

#[test]
fn help_lists_the_commands_and_version_prints() {
    let home = tempfile::tempdir().unwrap();
    let help = parley(home.path(), &["--help"]);
    assert!(help.status.success());
    let text = String::from_utf8(help.stdout).unwrap();
    for command in [
        "join", "whoami", "space", "post", "reply", "show", "unread", "watch",
    ] {
        assert!(text.contains(command), "{command} missing from\n{text}");
    }
    let version = parley(home.path(), &["--version"]);
    assert_eq!(
        String::from_utf8(version.stdout).unwrap().trim(),
        format!("parley {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn id_parse_names_the_kind_or_explains() {
    let home = tempfile::tempdir().unwrap();
    let id = PostId([5; 32]).to_string();
    let output = parley(home.path(), &["id-parse", &id]);
    assert!(output.status.success());
    assert!(
        String::from_utf8(output.stdout)
            .unwrap()
            .starts_with("post id\n")
    );
    let output = parley(home.path(), &["id-parse", &id, "--json"]);
    assert_eq!(json(&output)["kind"], "post");
    let output = parley(home.path(), &["--json", "id-parse", "hello"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        json(&output)["message"]
            .as_str()
            .unwrap()
            .contains("unknown prefix")
    );
}

#[test]
fn usage_errors_exit_2_and_are_json_when_asked() {
    let home = tempfile::tempdir().unwrap();
    let output = parley(home.path(), &["reply", "user1nope"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8(output.stderr)
            .unwrap()
            .contains("expected a post id")
    );
    let output = parley(home.path(), &["--json", "join", "not-an-invite"]);
    assert_eq!(output.status.code(), Some(2));
    let value = json(&output);
    assert_eq!(value["error"], "usage");
    assert!(
        value["message"].as_str().unwrap().contains("/TOKEN"),
        "{value}"
    );
}

#[test]
fn commands_before_joining_say_to_join() {
    let home = tempfile::tempdir().unwrap();
    let output = parley(home.path(), &["whoami"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.starts_with("error: no user key at "), "{stderr}");
    assert!(stderr.contains("parley join INVITE"), "{stderr}");
    let output = parley(home.path(), &["threads", "team", "--json"]);
    assert_eq!(output.status.code(), Some(1));
    let value = json(&output);
    assert_eq!(value["error"], "no_key");
    assert!(output.stderr.is_empty());
}

#[test]
fn a_corrupt_key_is_reported_without_its_content() {
    let home = joined_home();
    std::fs::write(home.path().join("user.key"), "secretsecret").unwrap();
    let output = parley(home.path(), &["--json", "whoami"]);
    assert_eq!(output.status.code(), Some(1));
    let value = json(&output);
    assert_eq!(value["error"], "corrupt_key");
    assert!(!value["message"].as_str().unwrap().contains("secretsecret"));
}

#[test]
fn a_body_over_the_limit_fails_before_the_network() {
    let home = joined_home();
    let body = vec![b'a'; 300 * 1024];
    let output = parley_with_stdin(
        home.path(),
        &["post", "team", "--title", "Big", "--body-file", "-"],
        &body,
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(
        stderr,
        "error: the body is 307200 bytes; the limit is 262144 bytes (256 KiB)\n"
    );
    let output = parley_with_stdin(
        home.path(),
        &["--json", "post", "team", "-t", "Big", "-F", "-"],
        &body,
    );
    assert_eq!(json(&output)["error"], "too_large");
}

#[test]
fn an_unreachable_node_is_named_with_its_address() {
    let home = joined_home();
    let reply = [
        "reply",
        &PostId([1; 32]).to_string(),
        "--connect-timeout",
        "0.3",
    ];
    let output = parley(home.path(), &reply);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.starts_with(&format!(
            "error: node unreachable at {}@127.0.0.1:9 (",
            NodeId([3; 32])
        )),
        "{stderr}"
    );
    assert!(stderr.contains("no answer within 0.3 s"), "{stderr}");
    // Without the option, a node on this machine is given up on after 2 s.
    let output = parley(home.path(), &reply[..2]);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("no answer within 2 s"), "{stderr}");
}

#[test]
fn an_argument_that_is_not_utf8_is_a_usage_error_not_a_panic() {
    use std::os::unix::ffi::OsStrExt as _;
    let home = tempfile::tempdir().unwrap();
    let body = std::ffi::OsStr::from_bytes(b"caf\xe9");
    let post = PostId::from_bytes([1; 32]).to_string();
    for json in [false, true] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_parley"));
        command
            .args(["reply", post.as_str(), "--body"])
            .arg(body)
            .env("PARLEY_HOME", home.path());
        if json {
            command.arg("--json");
        }
        let output = command.output().expect("parley runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(2), "{stderr}{stdout}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        let said = if json { &stdout } else { &stderr };
        assert!(said.contains("UTF-8"), "{said}");
    }
}

/// Runs `parley ARGS` on a pseudo-terminal of 10 rows (through util-linux `script`),
/// with `PAGER` marking each line it shows; `None` where `script` is missing.
fn on_a_terminal(args: &str) -> Option<String> {
    let bin = env!("CARGO_BIN_EXE_parley");
    let output = Command::new("script")
        .args([
            "-qec",
            &format!("stty rows 10 cols 80; {bin} {args}"),
            "/dev/null",
        ])
        .env("PAGER", "sed s/^/paged:/")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn long_output_on_a_terminal_goes_through_the_pager_and_never_into_a_pipe() {
    let Some(paged) = on_a_terminal("completions bash") else {
        eprintln!("skipped: util-linux `script` is not installed");
        return;
    };
    assert!(
        paged.lines().take(3).all(|line| line.starts_with("paged:")),
        "{}",
        &paged[..200.min(paged.len())]
    );
    let direct = on_a_terminal("completions bash --no-pager").unwrap_or_default();
    assert!(!direct.contains("paged:"), "--no-pager prints directly");
    let short = on_a_terminal(&format!("id-parse {}", PostId([1; 32]))).unwrap_or_default();
    assert!(short.contains("post id"), "{short}");
    assert!(!short.contains("paged:"), "what fits the screen is printed");
    let home = tempfile::tempdir().unwrap();
    let piped = Command::new(env!("CARGO_BIN_EXE_parley"))
        .args(["completions", "bash"])
        .env("PARLEY_HOME", home.path())
        .env("PAGER", "sed s/^/paged:/")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&piped.stdout).contains("paged:"));
}
