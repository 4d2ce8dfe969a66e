//! `parleyd`'s log lines as they land in a file or a pipe: plain text, no terminal
//! colour codes (which a terminal shows as colours and a file as `ESC[2m…` noise).

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn logs_written_to_a_pipe_carry_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let init = Command::new(env!("CARGO_BIN_EXE_parleyd"))
        .args([
            "init",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(init.status.success());
    let mut node = Command::new(env!("CARGO_BIN_EXE_parleyd"))
        .args(["run", "--data-dir"])
        .arg(dir.path())
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = node.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut lines = Vec::new();
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                let serving = line.contains("serving");
                lines.push(line);
                if serving {
                    break;
                }
            }
            Err(_) => continue,
        }
    }
    let _ = node.kill();
    let _ = node.wait();
    assert!(
        lines.iter().any(|l| l.contains("serving")),
        "no log line said it serves: {lines:?}"
    );
    for line in &lines {
        assert!(!line.contains('\u{1b}'), "a colour code in {line:?}");
    }
}
