//! The real binaries, driven as a user would: a `parleyd` in a temporary data directory
//! on a loopback port, and `parley` homes for its users.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::binary;

/// A free UDP port on 127.0.0.1 (bound, read, released).
pub fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A `parleyd` data directory, and the node process when it runs.
#[derive(Debug)]
pub struct TestNode {
    /// The data directory (removed on drop).
    pub dir: tempfile::TempDir,
    /// `NODE_ID@127.0.0.1:PORT`.
    pub address: String,
    child: Option<Child>,
}

impl TestNode {
    /// `parleyd init` on a free loopback port.
    pub fn init() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let listen = format!("127.0.0.1:{}", free_port());
        let out = parleyd(dir.path(), &["init", "--listen", &listen, "--json"]);
        assert!(
            out.status.success(),
            "parleyd init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: Value = serde_json::from_slice(&out.stdout).expect("init prints JSON");
        let address = json["address"]
            .as_str()
            .expect("init prints the address")
            .to_owned();
        Self {
            dir,
            address,
            child: None,
        }
    }

    /// Starts `parleyd run` and waits (up to 20 s) until it serves.
    pub fn start(&mut self) {
        let mut command = Command::new(binary("parleyd"));
        command.args(["run", "--data-dir"]).arg(self.dir.path());
        self.child = Some(spawn_serving(command));
    }

    /// Stops the node with SIGTERM and waits for it (up to 20 s).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
            panic!("parleyd did not stop within 20 s of SIGTERM");
        }
    }

    /// Kills the node with SIGKILL, as a crash would.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Runs a `parleyd` admin command on this node's data directory.
    pub fn admin(&self, args: &[&str]) -> Output {
        parleyd(self.dir.path(), args)
    }

    /// A fresh invite (single use).
    pub fn invite(&self) -> String {
        let out = self.admin(&["invite", "--json"]);
        assert!(
            out.status.success(),
            "parleyd invite failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: Value = serde_json::from_slice(&out.stdout).expect("invite prints JSON");
        json["invite"].as_str().expect("an invite").to_owned()
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn parleyd(dir: &Path, args: &[&str]) -> Output {
    let (command, rest) = args.split_first().expect("a command");
    let mut cmd = Command::new(binary("parleyd"));
    cmd.arg(command);
    if *command == "peer" {
        cmd.args(&rest[..1]);
        cmd.arg("--data-dir").arg(dir).args(&rest[1..]);
    } else {
        cmd.arg("--data-dir").arg(dir).args(rest);
    }
    cmd.output().expect("parleyd runs")
}

/// A person with a `parley` home directory.
#[derive(Debug)]
pub struct TestUser {
    /// The home (removed on drop).
    pub home: tempfile::TempDir,
}

impl TestUser {
    /// A user with an empty home.
    pub fn new() -> Self {
        Self {
            home: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    /// Runs `parley ARGS` in this home.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with_stdin(args, None)
    }

    /// Runs `parley ARGS` with `stdin` piped in.
    pub fn run_with_stdin(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut cmd = Command::new(binary("parley"));
        cmd.arg("--home")
            .arg(self.home.path())
            .args(args)
            .env_remove("EDITOR")
            .env_remove("VISUAL");
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("parley runs");
        if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
            use std::io::Write as _;
            let _ = pipe.write_all(bytes);
        }
        child.wait_with_output().expect("parley finishes")
    }

    /// Runs `parley ARGS --json`, asserts success and returns the document.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.run(&all);
        assert!(
            out.status.success(),
            "parley {} failed: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("parley {} printed no JSON ({e})", args.join(" ")))
    }

    /// The home path.
    pub fn path(&self) -> PathBuf {
        self.home.path().to_owned()
    }
}

impl Default for TestUser {
    fn default() -> Self {
        Self::new()
    }
}

/// Spawns `command`, a `parleyd run` (perhaps wrapped, as in a network namespace), and
/// waits (up to 20 s) until it prints that it serves; the node is killed and the test
/// fails otherwise.
pub fn spawn_serving(mut command: Command) -> Child {
    let mut child = command
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("parleyd starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains("serving at") => return child,
            Ok(_) => {}
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("parleyd did not start serving within 20 s");
            }
        }
    }
}
