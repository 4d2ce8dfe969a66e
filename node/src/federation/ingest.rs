//! Posts from a peer: deduplicated by id, validated in full (on blocking threads, in
//! parallel), admitted by space, stored by group commit, then shown to local watchers
//! and announced onward.

use std::sync::Arc;
use std::time::Duration;

use parley_protocol::encoding::ByteString;
use parley_protocol::gossip::Verdict;
use parley_protocol::view::SpaceView;
use parley_protocol::{NodeId, Post, PostId, SpaceId, Timestamp};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::clock;
use crate::server::Node;
use crate::server::spaces::is_governance;
use crate::storage::Inserted;
use crate::transport::CloseCode;

use super::link::Link;

/// What the checks of one batch refused (what they stored is counted when stored).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Refused {
    /// Invalid (signature, encoding, limits, wrong space): held against the peer.
    invalid: u64,
    /// Valid but not admitted now (dated ahead of this clock, or of a space this node
    /// does not replicate yet); a later reconciliation brings them again.
    deferred: u64,
}

/// Why the peer's connection must end.
#[derive(Debug)]
pub(crate) struct Misbehaved;

/// Batches of one stream being stored at once. While they wait for the group commit,
/// the next batch is verified; several waiting at once share one flush.
const STORES_IN_FLIGHT: usize = 4;

/// Ingests the `Posts` of one stream from a peer, keeping up to [`STORES_IN_FLIGHT`]
/// batches in the group commit while the next one is verified, so checking signatures
/// and flushing to disk overlap. Posts are shown and announced in the order their
/// batches arrived.
pub(crate) struct Ingestor {
    node: Arc<Node>,
    link: Arc<Link>,
    /// The store of the latest batch; each store awaits the one before it before it
    /// shows and announces its posts, so awaiting this one awaits them all.
    pending: Option<JoinHandle<()>>,
    in_flight: Arc<Semaphore>,
}

impl Ingestor {
    /// An ingestor for posts from the peer of `link`.
    pub(crate) fn new(node: Arc<Node>, link: Arc<Link>) -> Self {
        Self {
            node,
            link,
            pending: None,
            in_flight: Arc::new(Semaphore::new(STORES_IN_FLIGHT)),
        }
    }

    /// Checks one `Posts` message about `space` and starts storing what it admits,
    /// then paces the peer (rate limit, conduct). `Err` when the peer is cut off.
    pub(crate) async fn ingest(
        &mut self,
        space: SpaceId,
        envelopes: Vec<ByteString>,
    ) -> Result<(), Misbehaved> {
        let (node, link) = (self.node.clone(), self.link.clone());
        let received = envelopes.len() as u64;
        if node.spaces().membership(&space).is_none() {
            // Whether posts of a space not held yet are admitted depends on the state
            // posts before them: let those be stored first.
            self.flush().await;
        }
        let (outcome, admitted) = check(&node, Some(&link), space, envelopes).await;
        if outcome.deferred > 0 {
            tracing::debug!(peer = %link.peer, %space, deferred = outcome.deferred, "posts not admitted yet");
        }
        if !admitted.is_empty() {
            let Ok(permit) = self.in_flight.clone().acquire_owned().await else {
                return Ok(()); // never closed
            };
            let (node, link) = (node.clone(), link.clone());
            let before = self.pending.take();
            self.pending = Some(tokio::spawn(async move {
                let new = store(&node, space, admitted, Some(link.peer), before).await;
                link.counters.add_received(new);
                drop(permit);
            }));
        }
        let now = clock::now();
        let mut wait = link.pace(now, received);
        match link.judge(now, received - outcome.invalid, outcome.invalid) {
            Verdict::Disconnect { ban_ms } => {
                tracing::warn!(peer = %link.peer, invalid = outcome.invalid, "peer keeps sending invalid posts: disconnecting");
                node.federation
                    .table()
                    .ban(&link.peer, now.saturating_add_millis(ban_ms));
                link.connection
                    .close(CloseCode::Misbehaving.code(), b"too many invalid posts");
                return Err(Misbehaved);
            }
            Verdict::Throttle { delay_ms } => {
                tracing::debug!(peer = %link.peer, delay_ms, "throttling a peer that sends invalid posts");
                wait = wait.max(delay_ms);
            }
            _ => {}
        }
        if wait > 0 {
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
        Ok(())
    }

    /// Waits until everything ingested so far is stored.
    pub(crate) async fn flush(&mut self) {
        if let Some(pending) = self.pending.take() {
            let _ = pending.await;
        }
    }
}

/// Stores admitted posts durably, then, once the store `before` it is done, lets the
/// node show and announce them; returns how many were new.
async fn store(
    node: &Arc<Node>,
    space: SpaceId,
    posts: Vec<Post>,
    source: Option<NodeId>,
    before: Option<JoinHandle<()>>,
) -> u64 {
    let committed = node.commit.commit(posts.clone()).await;
    if let Some(before) = before {
        let _ = before.await;
    }
    let results = match committed {
        Ok(results) => results,
        Err(error) => {
            tracing::error!(%error, "storing posts from a peer failed");
            return 0;
        }
    };
    let new: Vec<Post> = posts
        .into_iter()
        .zip(results)
        .filter(|(_, result)| *result == Inserted::New)
        .map(|(post, _)| post)
        .collect();
    if !new.is_empty() {
        node.stored(space, &new, source).await;
    }
    new.len() as u64
}

/// Deduplicates, validates and admits envelopes of `space` from the peer of `link`;
/// returns the outcome so far and the posts to store.
async fn check(
    node: &Arc<Node>,
    link: Option<&Link>,
    space: SpaceId,
    envelopes: Vec<ByteString>,
) -> (Refused, Vec<Post>) {
    let mut outcome = Refused::default();
    // Skip what is held already before paying for a signature check.
    let mut fresh = Vec::with_capacity(envelopes.len());
    let ids: Vec<PostId> = envelopes.iter().map(|e| PostId::of_bytes(&e.0)).collect();
    if let Some(link) = link {
        link.received(&ids);
    }
    for (envelope, id) in envelopes.into_iter().zip(ids) {
        match node.storage.knows(&id) {
            Ok(true) => {}
            Ok(false) => fresh.push(envelope.0),
            Err(error) => {
                tracing::error!(%error, "storage failed while ingesting");
                return (outcome, Vec::new());
            }
        }
    }
    if fresh.is_empty() {
        return (outcome, Vec::new());
    }
    let now = clock::now();
    let checked = tokio::task::spawn_blocking(move || verify_all(fresh, now))
        .await
        .unwrap_or_default();
    let mut admitted = Vec::with_capacity(checked.len());
    for result in checked {
        match result {
            Ok(post) if post.space() != space => outcome.invalid += 1,
            Ok(post) => admitted.push(post),
            Err(error) if error.is_transient() => outcome.deferred += 1,
            Err(error) => {
                tracing::debug!(code = error.code(), %error, "refused an invalid post from a peer");
                outcome.invalid += 1;
            }
        }
    }
    let configured = link.is_none_or(|l| node.federation.table().is_configured(&l.peer));
    let admitted = admit(
        node,
        space,
        link.map(|l| l.peer),
        admitted,
        configured,
        &mut outcome,
    );
    (outcome, admitted)
}

/// Of valid posts of `space`, those this node takes now. A space it holds takes posts
/// from the nodes of its replica set, and from any other peer only the posts deciding
/// membership and replicas (a node that is no longer a replica relays nothing else,
/// and learns of its removal that way). A space it does not hold
/// yet takes, from a configured peer only, the posts that decide membership and
/// replicas, in the order given, and the rest once those name this node a replica (the
/// sender sends state first).
fn admit(
    node: &Node,
    space: SpaceId,
    source: Option<NodeId>,
    posts: Vec<Post>,
    configured: bool,
    outcome: &mut Refused,
) -> Vec<Post> {
    let mut spaces = node.spaces();
    if let Some(view) = spaces.membership(&space) {
        if source.is_none_or(|peer| view.replicas().contains(&peer)) {
            return posts;
        }
        let (state, rest): (Vec<Post>, Vec<Post>) = posts.into_iter().partition(is_governance);
        outcome.deferred += rest.len() as u64;
        return state;
    }
    if !configured {
        outcome.deferred += posts.len() as u64;
        return Vec::new();
    }
    let (state, rest): (Vec<Post>, Vec<Post>) = posts.into_iter().partition(is_governance);
    // Governance posts decide whether the rest may follow: fold them with those held.
    let mut governance = spaces.spine_posts(&space);
    governance.extend(state.iter().cloned());
    drop(spaces);
    let view = SpaceView::fold(space, governance.iter());
    let mut taken = state;
    if view.genesis().is_some() && view.replicas().contains(&node.id()) {
        taken.extend(rest);
    } else {
        outcome.deferred += rest.len() as u64;
    }
    taken
}

/// `Post::decode_many` of the envelopes, split over the machine's cores.
fn verify_all(
    envelopes: Vec<Vec<u8>>,
    now: Timestamp,
) -> Vec<Result<Post, parley_protocol::validate::InvalidPost>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads < 2 || envelopes.len() < 16 {
        return Post::decode_many(&envelopes, now);
    }
    let chunk = envelopes.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = envelopes
            .chunks(chunk)
            .map(|part| scope.spawn(move || Post::decode_many(part, now)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}
