//! Federation: replicating shared spaces with peer nodes over QUIC (`parley/1`).
//!
//! A node keeps one connection per peer (dialed to configured peers, with backoff and
//! jitter; accepted from configured peers and from nodes in the replica set of a space
//! it holds). On each connection:
//!
//! - the **control stream** (the dialer's first bidirectional stream) carries the
//!   `Hello`s, then pushed posts (`Posts`), announcements (`Have`) and their `Want`s;
//! - every **reconciliation** runs on a stream of its own (`reconcile`), on connect and
//!   every [`FederationConfig::sync_interval`], for each space both may share;
//! - everything sent about a space passes the privacy rule of `wire::privacy` at the
//!   moment it is sent, against this node's current view of the space;
//! - every envelope received is validated in full before it is stored (`ingest`);
//!   invalid ones are counted per peer, and a peer that keeps sending them is throttled,
//!   then disconnected and refused for a while (`gossip::Conduct`).
//!
//! Posts a peer lacks leave in `gossip::Priority` order (membership and retraction state
//! first, then newest first), so a new replica shows the current discussion first and
//! backfills history after.

mod config;
mod connection;
mod dial;
mod gate;
mod ingest;
mod link;
mod outbox;
mod reconcile;
mod relay;
mod table;

use std::sync::Arc;

use parley_protocol::api::NodeAddress;
use parley_protocol::{NodeId, Post, SpaceId};

use crate::transport::ClientEndpoint;

use crate::server::Node;

pub use config::FederationConfig;
pub use table::PeerStatus;

pub(crate) use connection::accept;
pub(crate) use table::Table;

/// The federation side of a running node: its peers and connections.
pub(crate) struct Federation {
    pub(crate) config: FederationConfig,
    endpoint: ClientEndpoint,
    pub(crate) table: std::sync::Mutex<Table>,
}

impl std::fmt::Debug for Federation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Federation")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Federation {
    /// A federation with no peers yet; [`start`] dials the configured ones.
    pub(crate) fn new(config: FederationConfig, endpoint: ClientEndpoint) -> Self {
        Self {
            config,
            endpoint,
            table: std::sync::Mutex::new(Table::default()),
        }
    }

    /// The peer table. Held briefly, never across an await.
    pub(crate) fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The endpoint peers are dialed from (the node's own, so they see its port).
    pub(crate) fn endpoint(&self) -> &ClientEndpoint {
        &self.endpoint
    }

    /// Every peer's state, for `parleyd status`.
    pub(crate) fn status(&self) -> Vec<PeerStatus> {
        self.table().status()
    }
}

/// Dials every configured peer; call once when the node starts serving.
pub(crate) fn start(node: &Arc<Node>, peers: Vec<NodeAddress>) {
    for address in peers {
        add_peer(node, address);
    }
}

/// Adds (or re-addresses) a configured peer and starts dialing it.
pub(crate) fn add_peer(node: &Arc<Node>, address: NodeAddress) {
    let peer = address.node;
    if peer == node.id() {
        return;
    }
    // Configured before the dialer runs, so its connection is known as a peer's.
    let old = node.federation.table().configure(address.clone());
    if let Some(old) = old {
        old.abort();
    }
    let handle = tokio::spawn(dial::dial_loop(node.clone(), address));
    node.federation.table().set_dialer(&peer, handle);
}

/// Forgets a configured peer: stops dialing it and closes its connection.
pub(crate) fn remove_peer(node: &Arc<Node>, peer: &NodeId) {
    let (dialer, link) = node.federation.table().unconfigure(peer);
    if let Some(dialer) = dialer {
        dialer.abort();
    }
    if let Some(link) = link {
        link.connection.close(
            crate::transport::CloseCode::Done.code(),
            b"no longer a peer",
        );
    }
}

/// Stops every dialer and closes every peer connection (the node is stopping).
pub(crate) fn stop(node: &Node) {
    let (dialers, links) = node.federation.table().drain();
    for dialer in dialers {
        dialer.abort();
    }
    for link in links {
        link.connection.close(
            crate::transport::CloseCode::Done.code(),
            b"node shutting down",
        );
    }
}

/// Tells connected peers about posts just stored: pushed in full when written here
/// (`source` is `None`), announced by id when received from the peer `source`.
pub(crate) fn announce(node: &Arc<Node>, space: SpaceId, posts: &[Post], source: Option<NodeId>) {
    relay::announce(node, space, posts, source);
}

/// Wakes every connection's sync loop (a space's replica set changed).
pub(crate) fn replicas_changed(node: &Node) {
    for link in node.federation.table().links() {
        link.wake.notify_one();
    }
}

#[cfg(test)]
mod tests;
