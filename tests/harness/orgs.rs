//! Organisations' nodes federating through the real binaries: waits with deadlines,
//! `parleyd status --json` read as a program reads it, settings changed as an admin
//! changes them (`parleyd.toml` edited before `parleyd run`), a store filled before its
//! node starts, and nodes and people inside network namespaces.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use parley_node::storage::Storage;
use parley_protocol::Post;
use serde_json::Value;

use crate::binary;
use crate::process::{TestNode, spawn_serving};

/// How often [`wait_for`] checks again.
const POLL: Duration = Duration::from_millis(150);

/// Calls `check` until it returns `Some`, for at most `limit`; panics naming `what`
/// when the deadline passes.
pub fn wait_for<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(POLL);
    }
}

/// The node id of an address `NODE_ID@HOST:PORT`.
pub fn node_id(address: &str) -> String {
    address
        .split_once('@')
        .map(|(node, _)| node.to_owned())
        .unwrap_or_else(|| panic!("{address} is not NODE_ID@HOST:PORT"))
}

/// Sets `[federation]` `sync_interval_secs` and, if given, `posts_per_second` in the
/// `parleyd.toml` of the node in `dir`, as its admin would before `parleyd run`.
pub fn set_federation(dir: &Path, sync_interval_secs: u64, posts_per_second: Option<u64>) {
    let path = dir.join("parleyd.toml");
    let text = std::fs::read_to_string(&path).expect("parleyd init wrote parleyd.toml");
    let mut changed = 0;
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            if line.starts_with("sync_interval_secs =") {
                changed += 1;
                format!("sync_interval_secs = {sync_interval_secs}")
            } else if let (true, Some(rate)) =
                (line.starts_with("posts_per_second ="), posts_per_second)
            {
                changed += 1;
                format!("posts_per_second = {rate}")
            } else {
                line.to_owned()
            }
        })
        .collect();
    assert_eq!(
        changed,
        1 + usize::from(posts_per_second.is_some()),
        "parleyd.toml lacks the federation settings:\n{text}"
    );
    std::fs::write(&path, lines.join("\n") + "\n").expect("parleyd.toml is writable");
}

/// Asserts that a `parleyd` or `parley` run succeeded and returns its JSON document.
pub fn json_of(what: &str, out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{what} printed no JSON ({e}): {:?}", out.stdout))
}

/// `parleyd status --json` of `node`.
pub fn status(node: &TestNode) -> Value {
    json_of("parleyd status", &node.admin(&["status", "--json"]))
}

/// `parleyd peer add ADDRESS` at `node`.
pub fn peer_add(node: &TestNode, address: &str) {
    json_of(
        "parleyd peer add",
        &node.admin(&["peer", "add", address, "--json"]),
    );
}

/// The peer `node_id` in a status document.
pub fn peer<'a>(status: &'a Value, node_id: &str) -> Option<&'a Value> {
    status["peers"]
        .as_array()?
        .iter()
        .find(|p| p["node_id"] == node_id)
}

/// The posts a status document counts for `space` (`None`: the node holds no such space).
pub fn space_posts(status: &Value, space: &str) -> Option<u64> {
    status["spaces"]
        .as_array()?
        .iter()
        .find(|s| s["space"] == space)
        .and_then(|s| s["posts"].as_u64())
}

/// Stores `posts` in the store at `db` (a stopped node's database) in batches of
/// 1,000, then flushes it.
pub fn preload(db: &Path, posts: &[Post]) {
    let storage = Storage::open(db).expect("the node's store opens");
    for batch in posts.chunks(1_000) {
        storage.insert(batch).expect("posts are stored");
    }
    storage.flush().expect("the store flushes");
}

/// A `parleyd` whose data directory is on this host and whose process runs inside a
/// network namespace, listening on the namespace's address. Killed on drop: declare it
/// after the namespace, so it drops first.
#[derive(Debug)]
pub struct NsNode {
    /// The data directory (removed on drop).
    pub dir: tempfile::TempDir,
    /// `NODE_ID@IP:PORT`.
    pub address: String,
    namespace: String,
    child: Option<Child>,
}

impl NsNode {
    /// `parleyd init --listen IP:PORT` for a node that will run in `namespace`.
    pub fn init(namespace: &str, ip: Ipv4Addr, port: u16) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let listen = format!("{ip}:{port}");
        let out = Command::new(binary("parleyd"))
            .args(["init", "--data-dir"])
            .arg(dir.path())
            .args(["--listen", &listen, "--json"])
            .output()
            .expect("parleyd runs");
        let address = json_of("parleyd init", &out)["address"]
            .as_str()
            .expect("init prints the address")
            .to_owned();
        Self {
            dir,
            address,
            namespace: namespace.to_owned(),
            child: None,
        }
    }

    /// `program` run inside this node's namespace.
    fn command(&self, program: &Path) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.namespace])
            .arg(program);
        command
    }

    /// Starts `parleyd run` in the namespace and waits (up to 20 s) until it serves.
    pub fn start(&mut self) {
        let mut command = self.command(&binary("parleyd"));
        command.args(["run", "--data-dir"]).arg(self.dir.path());
        self.child = Some(spawn_serving(command));
    }

    /// Kills the node with SIGKILL.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `parleyd ARGS --data-dir DIR` in the namespace (`peer` subcommands keep their
    /// verb first), asserting success; the JSON document it printed.
    pub fn admin_json(&self, args: &[&str]) -> Value {
        let (verb, rest) = args.split_first().expect("a command");
        let mut command = self.command(&binary("parleyd"));
        command.arg(verb);
        let rest = if *verb == "peer" {
            command.args(&rest[..1]);
            &rest[1..]
        } else {
            rest
        };
        command.arg("--data-dir").arg(self.dir.path()).args(rest);
        command.arg("--json");
        let out = command.output().expect("parleyd runs");
        json_of(&format!("parleyd {}", args.join(" ")), &out)
    }

    /// `parley --home HOME ARGS --json` in the namespace, asserting success.
    pub fn parley_json(&self, home: &Path, args: &[&str]) -> Value {
        let out = self.parley(home, args);
        json_of(&format!("parley {}", args.join(" ")), &out)
    }

    /// `parley --home HOME ARGS --json` in the namespace.
    pub fn parley(&self, home: &Path, args: &[&str]) -> Output {
        self.command(&binary("parley"))
            .arg("--home")
            .arg(home)
            .args(args)
            .arg("--json")
            .env_remove("EDITOR")
            .env_remove("VISUAL")
            .stdin(Stdio::null())
            .output()
            .expect("parley runs")
    }

    /// A fresh single-use invite.
    pub fn invite(&self) -> String {
        self.admin_json(&["invite"])["invite"]
            .as_str()
            .expect("an invite")
            .to_owned()
    }

    /// The data directory's path.
    pub fn path(&self) -> PathBuf {
        self.dir.path().to_owned()
    }
}

impl Drop for NsNode {
    fn drop(&mut self) {
        self.kill9();
    }
}
