//! One established connection to a peer, after both `Hello`s: what the two sides
//! offered, which ids were asked of the peer, and how its input is judged.

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use parley_protocol::gossip::{Conduct, RateLimit, Verdict};
use parley_protocol::wire::PeerHello;
use parley_protocol::{NodeId, PostId, SpaceId, Timestamp};
use tokio::sync::Notify;

use super::outbox::Outbox;
use super::table::Counters;

/// The most ids asked of a peer and not yet received, per connection.
pub(crate) const MAX_OUTSTANDING: usize = 512 * 1024;

/// A live, authenticated connection to a peer node.
pub(crate) struct Link {
    /// This connection's id in the peer table.
    pub(crate) id: u64,
    /// The peer.
    pub(crate) peer: NodeId,
    /// The node that dialed the connection (this node or the peer).
    pub(crate) dialer: NodeId,
    /// The QUIC connection.
    pub(crate) connection: quinn::Connection,
    /// The writer of the control stream.
    pub(crate) control: Outbox,
    /// The peer's counters (shared with the peer table).
    pub(crate) counters: Arc<Counters>,
    /// Wakes the connection's sync loop early.
    pub(crate) wake: Notify,
    /// Reconciliation steps of this connection run one at a time, so that one peer's
    /// reconciliations take at most one core however many it opens.
    pub(crate) steps: tokio::sync::Semaphore,
    state: Mutex<State>,
}

/// What changes during the connection's life.
struct State {
    hello: PeerHello,
    /// Spaces the peer offered that this node may reconcile with it.
    offered: BTreeSet<SpaceId>,
    /// Offered spaces this node did not hold when they were offered.
    new_offered: usize,
    /// Spaces this node has offered the peer.
    our_offer: BTreeSet<SpaceId>,
    /// Ids asked of the peer on this connection (each is asked at most once, spec 7.5).
    asked: HashSet<PostId>,
    conduct: Conduct,
    rate: RateLimit,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("id", &self.id)
            .field("peer", &self.peer)
            .field("dialer", &self.dialer)
            .finish_non_exhaustive()
    }
}

/// What a link is built from.
pub(crate) struct LinkParts {
    pub(crate) id: u64,
    pub(crate) peer: NodeId,
    pub(crate) dialer: NodeId,
    pub(crate) connection: quinn::Connection,
    pub(crate) control: Outbox,
    pub(crate) counters: Arc<Counters>,
    pub(crate) hello: PeerHello,
    pub(crate) our_offer: BTreeSet<SpaceId>,
    pub(crate) conduct: Conduct,
    pub(crate) rate: RateLimit,
}

impl Link {
    /// A link from its parts.
    pub(crate) fn new(parts: LinkParts) -> Self {
        Self {
            id: parts.id,
            peer: parts.peer,
            dialer: parts.dialer,
            connection: parts.connection,
            control: parts.control,
            counters: parts.counters,
            wake: Notify::new(),
            steps: tokio::sync::Semaphore::new(1),
            state: Mutex::new(State {
                hello: parts.hello,
                offered: BTreeSet::new(),
                new_offered: 0,
                our_offer: parts.our_offer,
                asked: HashSet::new(),
                conduct: parts.conduct,
                rate: parts.rate,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The peer's first `Hello`, to check later ones against.
    pub(crate) fn hello(&self) -> PeerHello {
        self.state().hello.clone()
    }

    /// Records spaces the peer offered: those held (and shareable, as the caller
    /// decided) always, those not held yet up to `max_new` per connection.
    pub(crate) fn add_offered(&self, held: &[SpaceId], new: &[SpaceId], max_new: usize) {
        let mut state = self.state();
        state.offered.extend(held.iter().copied());
        for space in new {
            if state.new_offered >= max_new {
                break;
            }
            if state.offered.insert(*space) {
                state.new_offered += 1;
            }
        }
    }

    /// Whether the peer offered `space`.
    pub(crate) fn offered(&self, space: &SpaceId) -> bool {
        self.state().offered.contains(space)
    }

    /// Records spaces now offered to the peer; returns those not offered before.
    pub(crate) fn offer(&self, spaces: &BTreeSet<SpaceId>) -> Vec<SpaceId> {
        let mut state = self.state();
        spaces
            .iter()
            .filter(|space| state.our_offer.insert(**space))
            .copied()
            .collect()
    }

    /// Of `ids`, those not asked of the peer yet on this connection, now marked asked;
    /// at most [`MAX_OUTSTANDING`] asked ids await their post at once (the rest are
    /// asked after a later reconciliation).
    pub(crate) fn to_ask(&self, ids: impl IntoIterator<Item = PostId>) -> Vec<PostId> {
        let mut state = self.state();
        let mut asked = Vec::new();
        for id in ids {
            if state.asked.len() >= MAX_OUTSTANDING {
                break;
            }
            if state.asked.insert(id) {
                asked.push(id);
            }
        }
        asked
    }

    /// Posts received from the peer: no longer awaited. (An id the peer omitted stays
    /// asked, and is not asked again on this connection, spec 7.5.)
    pub(crate) fn received(&self, ids: &[PostId]) {
        let mut state = self.state();
        if state.asked.is_empty() {
            return;
        }
        for id in ids {
            state.asked.remove(id);
        }
    }

    /// Judges a batch of the peer's input; counts the invalid part.
    pub(crate) fn judge(&self, now: Timestamp, valid: u64, invalid: u64) -> Verdict {
        if invalid > 0 {
            self.counters.add_invalid(invalid);
        }
        self.state().conduct.record(now, valid, invalid)
    }

    /// How long to wait before reading more posts from the peer, after `posts` more.
    pub(crate) fn pace(&self, now: Timestamp, posts: u64) -> u64 {
        self.state().rate.take(posts, now)
    }

    /// Whether the connection has closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.connection.close_reason().is_some()
    }
}
