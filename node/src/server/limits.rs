//! What a connection may make the node hold, whoever opens it (spec 8.3): connections
//! per source address and in all, streams and request bytes per connection, a deadline
//! for each request to arrive whole, a node-wide budget for request bodies being
//! received, and budgets (per user and node-wide) for answers not yet read. Keys the
//! node does not serve may only `Join`, in a small frame.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use parley_protocol::UserId;
use parley_protocol::api::Request;
use parley_protocol::limits::MAX_MESSAGE_BYTES;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Connections (of every kind: clients, admin, peers) one source address may hold.
pub const MAX_CONNECTIONS_PER_ADDRESS: usize = 256;
/// Connections the node holds at most.
pub const MAX_CONNECTIONS: usize = 4_096;
/// Connections from keys the node does not serve one source address may hold.
pub const MAX_UNREGISTERED_PER_ADDRESS: usize = 8;
/// Connections from keys the node does not serve the node holds at most.
pub const MAX_UNREGISTERED: usize = 256;
/// The largest request a key the node does not serve may send (a `Join` is ~50 bytes).
pub const MAX_UNREGISTERED_REQUEST_BYTES: usize = 1_024;
/// Request streams a connection from a key the node does not serve may have open.
pub const UNREGISTERED_STREAMS: u32 = 2;
/// Request streams a user's connection may have open (QUIC's stream credit).
pub const REGISTERED_STREAMS: u32 = 128;
/// Bytes of request bodies one connection may have in flight (being received).
pub const CONNECTION_REQUEST_BYTES: usize = 16 * 1024 * 1024;
/// Bytes of request bodies all connections together may have in flight.
pub const NODE_REQUEST_BYTES: usize = 64 * 1024 * 1024;
/// A request must arrive whole within this long of its stream opening.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
/// Bytes of answers one user's connections may hold: being computed, or sent and not
/// yet acknowledged by the client. A client that does not read its answers holds at
/// most this; its further requests wait.
pub const USER_ANSWER_BYTES: usize = 16 * 1024 * 1024;
/// Bytes of answers all users together may hold.
pub const NODE_ANSWER_BYTES: usize = 128 * 1024 * 1024;
/// Room held for the answer to a request that cannot list much (a publish, a join).
const SMALL_ANSWER_BYTES: usize = 64 * 1024;

/// Live connections by source address: all of them, and those of keys the node does
/// not serve.
#[derive(Debug, Default)]
pub(crate) struct Connections {
    all: Counts,
    unregistered: Counts,
}

/// Connections by source address, under a per-address and a total bound.
#[derive(Debug, Default)]
struct Counts(Mutex<BTreeMap<IpAddr, usize>>);

impl Counts {
    fn take(&self, address: IpAddr, per_address: usize, total: usize) -> bool {
        let mut counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let sum: usize = counts.values().sum();
        let here = counts.entry(address).or_default();
        if *here >= per_address || sum >= total {
            return false;
        }
        *here += 1;
        true
    }

    fn give_back(&self, address: IpAddr) {
        let mut counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&address) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&address);
            }
        }
    }
}

impl Connections {
    /// A slot for a new connection from `address`, or `None` when the address or the
    /// node holds as many as it may. The slot is given back when dropped.
    pub(crate) fn admit(self: &Arc<Self>, address: IpAddr) -> Option<Slot> {
        self.all
            .take(address, MAX_CONNECTIONS_PER_ADDRESS, MAX_CONNECTIONS)
            .then(|| Slot {
                connections: self.clone(),
                address,
                unregistered: false,
            })
    }

    /// A slot for a connection from `address` of a key the node does not serve (held
    /// until the key joins or the connection ends), under tighter bounds.
    pub(crate) fn admit_unregistered(self: &Arc<Self>, address: IpAddr) -> Option<Slot> {
        self.unregistered
            .take(address, MAX_UNREGISTERED_PER_ADDRESS, MAX_UNREGISTERED)
            .then(|| Slot {
                connections: self.clone(),
                address,
                unregistered: true,
            })
    }
}

/// One admitted connection's place; freed on drop.
#[derive(Debug)]
pub(crate) struct Slot {
    connections: Arc<Connections>,
    address: IpAddr,
    unregistered: bool,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let counts = if self.unregistered {
            &self.connections.unregistered
        } else {
            &self.connections.all
        };
        counts.give_back(self.address);
    }
}

/// Byte budgets: one of a connection or user, drawing on one of the node.
#[derive(Clone, Debug)]
pub(crate) struct Budget {
    own: Arc<Semaphore>,
    node: Arc<Semaphore>,
}

/// Room in a [`Budget`], given back when dropped.
#[derive(Debug)]
pub(crate) struct Room {
    own: OwnedSemaphorePermit,
    node: OwnedSemaphorePermit,
}

impl Budget {
    /// A connection's budget for request bodies, drawing on the node's `node` budget.
    pub(crate) fn for_connection(node: &Arc<Semaphore>) -> Self {
        Self {
            own: Arc::new(Semaphore::new(CONNECTION_REQUEST_BYTES)),
            node: node.clone(),
        }
    }

    /// Waits for room for `len` bytes (at most the frame bound, so always within both
    /// budgets).
    pub(crate) async fn room(&self, len: usize) -> Option<Room> {
        let permits = u32::try_from(len.max(1)).ok()?;
        let own = self.own.clone().acquire_many_owned(permits).await.ok()?;
        let node = self.node.clone().acquire_many_owned(permits).await.ok()?;
        Some(Room { own, node })
    }

    /// Makes `room` hold exactly `len` bytes: gives back what it holds beyond, or waits
    /// for what it lacks.
    pub(crate) async fn fit(&self, room: &mut Room, len: usize) -> Option<()> {
        let held = room.own.num_permits();
        let len = len.max(1);
        if len < held {
            drop(room.own.split(held - len));
            drop(room.node.split(held - len));
        } else if len > held {
            let more = self.room(len - held).await?;
            room.own.merge(more.own);
            room.node.merge(more.node);
        }
        Some(())
    }
}

/// Room to hold before computing the answer to `request`: the most its answer can be.
/// Answers that list (threads, a thread's posts, decisions, members, unread, spaces,
/// search hits) are bounded by the frame; the others are small.
pub(crate) fn answer_reserve(request: &Request) -> usize {
    match request {
        Request::Threads { .. }
        | Request::Thread { .. }
        | Request::Decisions { .. }
        | Request::Members { .. }
        | Request::Unread { .. }
        | Request::Search { .. }
        | Request::Spaces => MAX_MESSAGE_BYTES,
        _ => SMALL_ANSWER_BYTES,
    }
}

/// Answer budgets: one per user (shared by the user's connections), drawing on the
/// node's.
#[derive(Debug)]
pub(crate) struct Answers {
    users: Mutex<HashMap<UserId, Weak<Semaphore>>>,
    node: Arc<Semaphore>,
}

impl Default for Answers {
    fn default() -> Self {
        Self {
            users: Mutex::default(),
            node: Arc::new(Semaphore::new(NODE_ANSWER_BYTES)),
        }
    }
}

impl Answers {
    /// Bytes of answers held now, all users together.
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        NODE_ANSWER_BYTES.saturating_sub(self.node.available_permits())
    }

    /// The answer budget of `user`, shared with the user's other live connections.
    pub(crate) fn of(&self, user: &UserId) -> Budget {
        let mut users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(own) = users.get(user).and_then(Weak::upgrade) {
            return Budget {
                own,
                node: self.node.clone(),
            };
        }
        // Users whose connections all ended are forgotten as the map grows.
        if users.len() >= 1_024 {
            users.retain(|_, own| own.strong_count() > 0);
        }
        let own = Arc::new(Semaphore::new(USER_ANSWER_BYTES));
        users.insert(*user, Arc::downgrade(&own));
        Budget {
            own,
            node: self.node.clone(),
        }
    }
}

/// The node-wide budget of request bytes.
pub(crate) fn node_budget() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(NODE_REQUEST_BYTES))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_user_holds_only_so_many_answer_bytes_across_connections() {
        let answers = Answers::default();
        let ada = UserId::from_bytes([1; 32]);
        let (first, second) = (answers.of(&ada), answers.of(&ada));
        let mut big = first.room(MAX_MESSAGE_BYTES).await.expect("room");
        let _rest = second
            .room(USER_ANSWER_BYTES - MAX_MESSAGE_BYTES)
            .await
            .expect("room");
        let waiting = tokio::time::timeout(Duration::from_millis(50), second.room(1)).await;
        assert!(waiting.is_err(), "the user's connections share one budget");
        let bob = answers.of(&UserId::from_bytes([2; 32]));
        assert!(bob.room(MAX_MESSAGE_BYTES).await.is_some(), "others go on");
        // An answer smaller than its reserve gives the rest back.
        first.fit(&mut big, 1_000).await.expect("fits");
        assert!(second.room(MAX_MESSAGE_BYTES - 1_000).await.is_some());
    }

    #[test]
    fn an_address_holds_only_so_many_connections_and_gets_them_back() {
        let connections = Arc::new(Connections::default());
        let here: IpAddr = [127, 0, 0, 1].into();
        let there: IpAddr = [127, 0, 0, 2].into();
        let slots: Vec<Slot> = (0..MAX_CONNECTIONS_PER_ADDRESS)
            .map(|_| connections.admit(here).expect("within the bound"))
            .collect();
        assert!(connections.admit(here).is_none());
        assert!(
            connections.admit(there).is_some(),
            "other addresses are not held up"
        );
        drop(slots);
        assert!(connections.admit(here).is_some());

        let strangers: Vec<Slot> = (0..MAX_UNREGISTERED_PER_ADDRESS)
            .map(|_| {
                connections
                    .admit_unregistered(here)
                    .expect("within the bound")
            })
            .collect();
        assert!(connections.admit_unregistered(here).is_none());
        assert!(
            connections.admit(here).is_some(),
            "users are not held up by strangers"
        );
        drop(strangers);
        assert!(connections.admit_unregistered(here).is_some());
    }

    #[tokio::test]
    async fn a_connection_waits_for_room_beyond_its_budget() {
        let node = node_budget();
        let budget = Budget::for_connection(&node);
        let big = budget.room(CONNECTION_REQUEST_BYTES).await.expect("room");
        let waiting = tokio::time::timeout(Duration::from_millis(50), budget.room(1)).await;
        assert!(waiting.is_err(), "no room while the budget is taken");
        drop(big);
        assert!(budget.room(1).await.is_some());
    }
}
