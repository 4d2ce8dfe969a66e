//! Nodes in this process, federating over real QUIC on loopback: start, stop, restart,
//! publish posts written by their users, read what each holds, and wait for conditions
//! with a deadline.

use std::collections::BTreeSet;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parley_node::federation::{FederationConfig, PeerStatus};
use parley_node::server::{self, NodeHandle};
use parley_node::storage::Storage;
use parley_node::transport::Timeouts;
use parley_protocol::api::NodeAddress;
use parley_protocol::gossip::BackoffConfig;
use parley_protocol::view::SpaceView;
use parley_protocol::{NodeId, Post, PostId, SecretKey, SpaceId};

/// Federation settings for tests: a lost peer is noticed within a second and redialed
/// within a second, and every space is reconciled every `sync_interval`.
pub fn test_config(sync_interval: Duration) -> FederationConfig {
    FederationConfig::default()
        .with_sync_interval(sync_interval)
        .with_timeouts(Timeouts {
            idle: Duration::from_millis(1_500),
            keep_alive: Duration::from_millis(300),
        })
        .with_backoff(BackoffConfig {
            initial_ms: 50,
            max_ms: 500,
        })
}

/// A node of the test cluster: its key, data directory and, while it runs, its handle.
pub struct TestPeer {
    /// The node's key.
    pub key: SecretKey,
    dir: PathBuf,
    /// The address it listens on (kept across restarts).
    pub addr: SocketAddr,
    config: FederationConfig,
    handle: Option<NodeHandle>,
}

impl std::fmt::Debug for TestPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestPeer")
            .field("node", &self.id())
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl TestPeer {
    /// Starts a node with key `key` and an empty store in `dir`, on a free loopback port.
    pub async fn start(key: SecretKey, dir: &Path, config: FederationConfig) -> Self {
        let mut peer = Self {
            key,
            dir: dir.to_path_buf(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            config,
            handle: None,
        };
        peer.restart().await;
        peer
    }

    /// Starts the node again on its store and port (after [`TestPeer::stop`] or
    /// [`TestPeer::crash`]); waits until the store is free to open.
    pub async fn restart(&mut self) {
        assert!(self.handle.is_none(), "the node is running");
        let storage = eventually("the store to be released", Duration::from_secs(10), || {
            Storage::open(&self.dir).ok()
        })
        .await;
        let endpoint = eventually("the port to be free", Duration::from_secs(10), || {
            server::endpoint(&self.key, self.addr, &self.config).ok()
        })
        .await;
        self.addr = endpoint.local_addr().expect("bound");
        let handle = server::start(
            SecretKey::from_seed(&self.key.to_seed()),
            storage,
            endpoint,
            self.addr.to_string(),
            self.config.clone(),
            Vec::new(),
        )
        .expect("node starts");
        self.handle = Some(handle);
    }

    /// Stops the node cleanly.
    pub async fn stop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.shutdown().await.expect("clean shutdown");
        }
    }

    /// Stops the node at once, without a flush, as a crash would.
    pub fn crash(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.abort();
        }
    }

    /// The node's store directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The running node.
    pub fn node(&self) -> &NodeHandle {
        self.handle.as_ref().expect("the node is running")
    }

    /// Whether the node runs.
    pub fn is_running(&self) -> bool {
        self.handle.is_some()
    }

    /// The node's id.
    pub fn id(&self) -> NodeId {
        self.key.node_id()
    }

    /// The node's address, `NODE_ID@127.0.0.1:PORT`.
    pub fn address(&self) -> NodeAddress {
        NodeAddress {
            node: self.id(),
            host_port: self.addr.to_string(),
        }
    }

    /// Makes `other` a configured peer of this node, reached at `via` (its own address,
    /// or a [`crate::link::Link`] in front of it).
    pub fn peer_with(&self, other: &Self, via: SocketAddr) {
        self.node()
            .add_peer(NodeAddress {
                node: other.id(),
                host_port: via.to_string(),
            })
            .expect("peer added");
    }

    /// Stores posts written by this node's users (pushed to peers at once).
    pub async fn publish(&self, posts: Vec<Post>) {
        self.node().publish(posts).await.expect("posts stored");
    }

    /// The ids of `space` held, posts and tombstones.
    pub fn ids(&self, space: &SpaceId) -> BTreeSet<PostId> {
        self.node()
            .items(space)
            .expect("items")
            .into_iter()
            .map(|item| item.id)
            .collect()
    }

    /// The spaces held.
    pub fn spaces(&self) -> BTreeSet<SpaceId> {
        self.node().spaces().expect("spaces").into_iter().collect()
    }

    /// The view of `space` as users read it here.
    pub fn view(&self, space: &SpaceId) -> Arc<SpaceView> {
        Arc::new(self.node().view(space).expect("view"))
    }

    /// What users see of `space` here, as comparable text: threads (with edits,
    /// reactions, resolutions), members, moderators, replicas and decisions. Equal on two
    /// nodes exactly when their readers see the same space.
    pub fn shown(&self, space: &SpaceId) -> String {
        let view = self.view(space);
        serde_json::json!({
            "threads": view.threads(),
            "members": view.members().iter().map(ToString::to_string).collect::<Vec<_>>(),
            "moderators": view.moderators().iter().map(ToString::to_string).collect::<Vec<_>>(),
            "replicas": view.replicas().iter().map(ToString::to_string).collect::<Vec<_>>(),
            "decisions": view.decisions(),
        })
        .to_string()
    }

    /// The state of the peer `other`, as `parleyd status` shows it.
    pub fn peer_status(&self, other: &NodeId) -> Option<PeerStatus> {
        self.node().peers().into_iter().find(|p| p.node == *other)
    }
}

/// Polls `check` every 10 ms until it gives a value, failing the test after `limit`.
pub async fn eventually<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Like [`eventually`] for a condition that is `true` or `false`.
pub async fn until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    eventually(what, limit, || check().then_some(())).await;
}

/// Runs an async test body on a multi-threaded runtime with a hard time limit.
/// Logs go to the test's output when `PARLEY_TEST_LOG` holds a filter (e.g. `debug`).
pub fn run<F: Future<Output = ()>>(limit: Duration, body: F) {
    if let Ok(filter) = std::env::var("PARLEY_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        tokio::time::timeout(limit, body)
            .await
            .expect("the scenario finished in time");
    });
}
