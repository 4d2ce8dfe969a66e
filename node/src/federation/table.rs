//! The peer table: configured peers, the one live connection to each, their counters
//! and bans.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parley_protocol::api::NodeAddress;
use parley_protocol::{NodeId, Timestamp};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use super::link::Link;

/// Two connections between the same nodes admitted within this long of each other were
/// dialed at once by both sides (a duel, settled by node id); a later one replaces the
/// old one.
pub(crate) const DUEL_WINDOW: std::time::Duration = std::time::Duration::from_secs(2);

/// What `parleyd status` shows of one peer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PeerStatus {
    /// The peer's node id.
    pub node: NodeId,
    /// Its configured address, if it is a configured peer (others reached us).
    pub address: Option<String>,
    /// Whether a connection is up.
    pub connected: bool,
    /// When the connection came up, or the last one went down.
    pub since: Option<Timestamp>,
    /// When a reconciliation with it last finished.
    pub last_sync: Option<Timestamp>,
    /// Posts sent to it (pushed, or answering its `Want`s and reconciliations).
    pub posts_sent: u64,
    /// New posts received from it and stored.
    pub posts_received: u64,
    /// Envelopes and messages from it refused as invalid.
    pub invalid: u64,
    /// The last reason a connection to it failed or closed, if any.
    pub last_error: Option<String>,
    /// UDP payload bytes sent to it on the current connection (QUIC's count).
    pub bytes_sent: u64,
    /// UDP payload bytes received from it on the current connection.
    pub bytes_received: u64,
    /// Bytes of messages queued for it that it has not read yet.
    #[serde(default)]
    pub queued_bytes: u64,
}

/// Counters shared by a peer's tasks; they survive reconnections.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) posts_sent: AtomicU64,
    pub(crate) posts_received: AtomicU64,
    pub(crate) invalid: AtomicU64,
    pub(crate) last_sync: AtomicU64,
    /// Bytes of messages queued on its streams, not yet written.
    pub(crate) queued: AtomicU64,
}

impl Counters {
    pub(crate) fn add_sent(&self, n: u64) {
        self.posts_sent.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn add_received(&self, n: u64) {
        self.posts_received.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn add_invalid(&self, n: u64) {
        self.invalid.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn synced(&self, at: Timestamp) {
        self.last_sync.fetch_max(at.as_millis(), Ordering::Relaxed);
    }

    pub(crate) fn queue(&self, bytes: usize) {
        self.queued.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub(crate) fn unqueue(&self, bytes: usize) {
        let _ = self
            .queued
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |q| {
                Some(q.saturating_sub(bytes as u64))
            });
    }
}

/// One peer's entry.
#[derive(Debug, Default)]
struct Entry {
    address: Option<NodeAddress>,
    dialer: Option<JoinHandle<()>>,
    link: Option<Arc<Link>>,
    counters: Arc<Counters>,
    since: Option<Timestamp>,
    banned_until: Option<Timestamp>,
    last_error: Option<String>,
}

/// Every peer this node knows of: configured, connected, or both.
#[derive(Debug, Default)]
pub(crate) struct Table {
    peers: BTreeMap<NodeId, Entry>,
    next_link: u64,
}

/// Whether a newly established connection is kept.
#[derive(Debug)]
pub(crate) enum Admission {
    /// Kept; the connection it replaces (if any) should be closed.
    Kept(Option<Arc<Link>>),
    /// Another connection to the same peer is kept instead.
    Duplicate,
}

impl Table {
    /// Records a configured peer; returns the dialer of its previous address.
    pub(crate) fn configure(&mut self, address: NodeAddress) -> Option<JoinHandle<()>> {
        let entry = self.peers.entry(address.node).or_default();
        entry.address = Some(address);
        entry.dialer.take()
    }

    /// Records the task dialing `peer` (aborted when the peer is removed).
    pub(crate) fn set_dialer(&mut self, peer: &NodeId, dialer: JoinHandle<()>) {
        match self.peers.get_mut(peer) {
            Some(entry) if entry.address.is_some() => {
                if let Some(old) = entry.dialer.replace(dialer) {
                    old.abort();
                }
            }
            _ => dialer.abort(),
        }
    }

    /// Forgets a configured peer; returns its dialer and connection.
    pub(crate) fn unconfigure(
        &mut self,
        peer: &NodeId,
    ) -> (Option<JoinHandle<()>>, Option<Arc<Link>>) {
        match self.peers.get_mut(peer) {
            Some(entry) => {
                entry.address = None;
                (entry.dialer.take(), entry.link.take())
            }
            None => (None, None),
        }
    }

    /// Takes every dialer and live connection (the node is stopping).
    pub(crate) fn drain(&mut self) -> (Vec<JoinHandle<()>>, Vec<Arc<Link>>) {
        let mut dialers = Vec::new();
        let mut links = Vec::new();
        for entry in self.peers.values_mut() {
            dialers.extend(entry.dialer.take());
            links.extend(entry.link.take());
        }
        (dialers, links)
    }

    /// Whether `peer` is a configured peer.
    pub(crate) fn is_configured(&self, peer: &NodeId) -> bool {
        self.peers.get(peer).is_some_and(|e| e.address.is_some())
    }

    /// The counters of `peer`, created on first use.
    pub(crate) fn counters(&mut self, peer: &NodeId) -> Arc<Counters> {
        self.peers.entry(*peer).or_default().counters.clone()
    }

    /// A fresh id for a new connection.
    pub(crate) fn next_link_id(&mut self) -> u64 {
        self.next_link += 1;
        self.next_link
    }

    /// Until when `peer` is refused, if it is banned now.
    pub(crate) fn banned(&self, peer: &NodeId, now: Timestamp) -> Option<Timestamp> {
        self.peers
            .get(peer)
            .and_then(|e| e.banned_until)
            .filter(|until| *until > now)
    }

    /// Refuses `peer` until `until`.
    pub(crate) fn ban(&mut self, peer: &NodeId, until: Timestamp) {
        self.peers.entry(*peer).or_default().banned_until = Some(until);
    }

    /// Decides whether a new connection to `link.peer` is kept. When both nodes dialed
    /// at once (the old connection is younger than [`DUEL_WINDOW`]), both sides keep the
    /// one dialed by the lower node id. Otherwise the new connection replaces the old
    /// one: a node dials only when it holds no connection to the peer, so the old one is
    /// stale on its side (it restarted, or lost the old one) even while this side has
    /// not yet noticed, and refusing the new one would hold the two apart until the old
    /// one timed out.
    pub(crate) fn admit(&mut self, link: Arc<Link>, now: Timestamp) -> Admission {
        let entry = self.peers.entry(link.peer).or_default();
        let duel = entry.since.is_some_and(|since| {
            now.as_millis().saturating_sub(since.as_millis()) < DUEL_WINDOW.as_millis() as u64
        });
        if let Some(old) = &entry.link
            && old.connection.close_reason().is_none()
            && duel
            && old.dialer < link.dialer
        {
            return Admission::Duplicate;
        }
        entry.since = Some(now);
        entry.last_error = None;
        Admission::Kept(entry.link.replace(link))
    }

    /// Removes the connection `link_id` of `peer` when it ends.
    pub(crate) fn closed(&mut self, peer: &NodeId, link_id: u64, now: Timestamp, reason: String) {
        if let Some(entry) = self.peers.get_mut(peer)
            && entry.link.as_ref().is_some_and(|l| l.id == link_id)
        {
            entry.link = None;
            entry.since = Some(now);
            entry.last_error = Some(reason);
        }
    }

    /// Notes why dialing `peer` failed.
    pub(crate) fn dial_failed(&mut self, peer: &NodeId, reason: String) {
        if let Some(entry) = self.peers.get_mut(peer) {
            entry.last_error = Some(reason);
        }
    }

    /// The live connection to `peer`, if any.
    pub(crate) fn link(&self, peer: &NodeId) -> Option<Arc<Link>> {
        self.peers
            .get(peer)
            .and_then(|e| e.link.clone())
            .filter(|l| l.connection.close_reason().is_none())
    }

    /// Every live connection.
    pub(crate) fn links(&self) -> Vec<Arc<Link>> {
        self.peers
            .values()
            .filter_map(|e| e.link.clone())
            .filter(|l| l.connection.close_reason().is_none())
            .collect()
    }

    /// Every peer's state.
    pub(crate) fn status(&self) -> Vec<PeerStatus> {
        self.peers
            .iter()
            .filter(|(_, e)| e.address.is_some() || e.link.is_some())
            .map(|(node, e)| {
                let last_sync = e.counters.last_sync.load(Ordering::Relaxed);
                let stats = e.link.as_ref().map(|l| l.connection.stats());
                PeerStatus {
                    node: *node,
                    address: e.address.as_ref().map(ToString::to_string),
                    connected: e
                        .link
                        .as_ref()
                        .is_some_and(|l| l.connection.close_reason().is_none()),
                    since: e.since,
                    last_sync: (last_sync > 0).then(|| Timestamp::from_millis(last_sync)),
                    posts_sent: e.counters.posts_sent.load(Ordering::Relaxed),
                    posts_received: e.counters.posts_received.load(Ordering::Relaxed),
                    invalid: e.counters.invalid.load(Ordering::Relaxed),
                    last_error: e.last_error.clone(),
                    bytes_sent: stats.as_ref().map_or(0, |s| s.udp_tx.bytes),
                    bytes_received: stats.as_ref().map_or(0, |s| s.udp_rx.bytes),
                    queued_bytes: e.counters.queued.load(Ordering::Relaxed),
                }
            })
            .collect()
    }
}
