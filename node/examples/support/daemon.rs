//! A real `parleyd` process for the benchmarks: the release binary (built if missing),
//! started on a data directory and killed when dropped, and its memory read from
//! `/proc`. Included by the examples that measure a node from outside.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The error type of the benchmarks.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The release `parleyd` beside this example (`target/release/parleyd`), built first
/// if missing.
pub(crate) fn parleyd() -> Result<PathBuf, BoxError> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("cannot place the target directory")?;
    let path = dir.join("parleyd");
    if !path.exists() {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let built = Command::new(cargo)
            .args([
                "build",
                "--release",
                "--locked",
                "-p",
                "parley-node",
                "--bin",
                "parleyd",
            ])
            .status()?;
        if !built.success() {
            return Err("building parleyd failed".into());
        }
    }
    Ok(path)
}

/// Runs `parleyd init` for a node in `dir` listening on a free port of 127.0.0.1;
/// returns the address it listens on.
pub(crate) fn init(parleyd: &Path, dir: &Path) -> Result<std::net::SocketAddr, BoxError> {
    let port = std::net::UdpSocket::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let listen = format!("127.0.0.1:{port}");
    let init = Command::new(parleyd)
        .args(["init", "--listen", &listen, "--json", "--data-dir"])
        .arg(dir)
        .output()?;
    if !init.status.success() {
        return Err(format!(
            "parleyd init failed: {}",
            String::from_utf8_lossy(&init.stderr)
        )
        .into());
    }
    Ok(listen.parse()?)
}

/// A running `parleyd`, killed when dropped.
pub(crate) struct Daemon {
    /// Its process id.
    pub(crate) pid: u32,
    /// How long it took from being started to printing "serving at".
    pub(crate) startup: Duration,
    child: Child,
}

impl Daemon {
    /// Runs `parleyd run` on `dir` and waits (up to `patience`) until it serves.
    pub(crate) fn start(parleyd: &Path, dir: &Path, patience: Duration) -> Result<Self, BoxError> {
        let started = Instant::now();
        let mut child = Command::new(parleyd)
            .args(["run", "--data-dir"])
            .arg(dir)
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut daemon = Self {
            pid: child.id(),
            startup: Duration::ZERO,
            child,
        };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = started + patience;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.contains("serving at") => {
                    daemon.startup = started.elapsed();
                    return Ok(daemon);
                }
                Ok(_) => {}
                Err(_) => {
                    return Err(format!("parleyd did not start serving within {patience:?}").into());
                }
            }
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The resident memory of process `pid`, KiB.
pub(crate) fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                line.strip_prefix("VmRSS:")
                    .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            })
        })
        .unwrap_or(0)
}
