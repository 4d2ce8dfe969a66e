//! A connection to a peer from its handshake to its end: the `Hello` exchange on the
//! control stream (spec 7.8), then three loops: the control stream's messages, the
//! peer's reconciliation streams, and this node's own reconciliations on connect and
//! every sync interval.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use parley_protocol::encoding::BoundedVec;
use parley_protocol::gossip::{Backoff, BackoffConfig, Conduct, RateLimit, Verdict};
use parley_protocol::limits::{MAX_MESSAGE_BYTES, MAX_SPACES_PER_HELLO};
use parley_protocol::wire::{
    Access, ErrorCode, Message, PeerHello, WIRE_VERSION, spaces_to_offer, want_batches,
};
use parley_protocol::{NodeId, SpaceId};
use tokio::task::JoinSet;

use crate::clock;
use crate::server::Node;
use crate::transport::{self, CloseCode, TransportError};

use super::gate::Gate;
use super::ingest::Ingestor;
use super::link::{Link, LinkParts};
use super::outbox::{self, Outbox};
use super::reconcile::SyncFailure;
use super::reconcile::{self, Answer, answer_for};
use super::table::Admission;

/// How a connection to a peer ended.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum LinkError {
    /// The transport failed or closed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The connection failed or closed.
    #[error(transparent)]
    Connection(#[from] quinn::ConnectionError),
    /// The peer did not complete the handshake in time.
    #[error("the peer did not say hello in time")]
    Timeout,
    /// The peer's `Hello` was refused.
    #[error("refused the peer's hello: {0}")]
    Hello(String),
    /// The peer may not connect to this node.
    #[error("not a peer of this node")]
    NotAllowed,
    /// Another connection to the peer is kept instead.
    #[error("a connection to this peer exists already")]
    Duplicate,
}

/// Serves a `parley/1` connection another node opened.
pub(crate) async fn accept(
    node: Arc<Node>,
    connection: quinn::Connection,
) -> Result<(), LinkError> {
    let peer = NodeId::from_bytes(transport::peer_key(&connection)?);
    if !allowed(&node, &peer) {
        tracing::info!(%peer, "refused a connection from a node that is not a peer");
        connection.close(CloseCode::Unauthorized.code(), b"not a peer of this node");
        return Err(LinkError::NotAllowed);
    }
    let timeout = node.federation.config.stream_timeout;
    let (send, recv) = tokio::time::timeout(timeout, connection.accept_bi())
        .await
        .map_err(|_| LinkError::Timeout)??;
    run(node, connection, peer, send, recv, false).await
}

/// Runs a connection this node dialed to `peer`; `Ok(true)` once the handshake
/// completed (the connection worked, whatever ended it).
pub(crate) async fn dialed(
    node: Arc<Node>,
    connection: quinn::Connection,
    peer: NodeId,
) -> Result<bool, LinkError> {
    let (send, recv) = connection.open_bi().await?;
    run(node, connection, peer, send, recv, true)
        .await
        .map(|()| true)
}

/// Whether `peer` may connect: not banned, and a configured peer or a replica of a
/// space this node holds.
fn allowed(node: &Node, peer: &NodeId) -> bool {
    {
        let table = node.federation.table();
        if table.banned(peer, clock::now()).is_some() {
            return false;
        }
        if table.is_configured(peer) {
            return true;
        }
    }
    node.spaces()
        .replica_sets()
        .values()
        .any(|replicas| replicas.contains(peer))
}

/// The spaces this node offers `peer` now: those whose replica set holds both (a node
/// removed from a space's replica set stops replicating it).
fn offer_for(node: &Node, peer: &NodeId) -> BTreeSet<SpaceId> {
    let mut sets = node.spaces().replica_sets();
    sets.retain(|_, replicas| replicas.contains(&node.id()));
    spaces_to_offer(peer, &sets)
}

/// `Hello` messages offering `spaces`, at most `MAX_SPACES_PER_HELLO` each; always at
/// least one.
fn hellos(node: NodeId, spaces: &[SpaceId]) -> Vec<Message> {
    let mut messages: Vec<Message> = spaces
        .chunks(MAX_SPACES_PER_HELLO)
        .map(|chunk| hello(node, chunk))
        .collect();
    if messages.is_empty() {
        messages.push(hello(node, &[]));
    }
    messages
}

fn hello(node: NodeId, spaces: &[SpaceId]) -> Message {
    Message::Hello {
        versions: BoundedVec::try_from_vec(vec![WIRE_VERSION]).unwrap_or_default(),
        node,
        // Callers pass at most MAX_SPACES_PER_HELLO spaces.
        spaces: BoundedVec::try_from_vec(spaces.to_vec()).unwrap_or_default(),
    }
}

async fn run(
    node: Arc<Node>,
    connection: quinn::Connection,
    peer: NodeId,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    dialer: bool,
) -> Result<(), LinkError> {
    let offer = offer_for(&node, &peer);
    let offer_list: Vec<SpaceId> = offer.iter().copied().collect();
    let mut our_hellos = hellos(node.id(), &offer_list).into_iter();
    let first_hello = our_hellos.next().unwrap_or_else(|| hello(node.id(), &[]));
    if dialer {
        transport::write_frame(&mut send, &first_hello.encode()).await?;
    }
    let timeout = node.federation.config.stream_timeout;
    let bytes = tokio::time::timeout(timeout, transport::read_frame(&mut recv, MAX_MESSAGE_BYTES))
        .await
        .map_err(|_| LinkError::Timeout)??
        .ok_or(LinkError::Timeout)?;
    let checked = Message::decode(&bytes)
        .map_err(|e| (e.code(), e.to_string()))
        .and_then(|message| {
            PeerHello::first(&message, &peer, &[WIRE_VERSION])
                .map(|(hello, spaces)| (hello, spaces.to_vec()))
                .map_err(|e| (e.code(), e.to_string()))
        });
    let (peer_hello, offered) = match checked {
        Ok(checked) => checked,
        Err((code, reason)) => {
            let _ =
                transport::write_frame(&mut send, &Message::error(code, None, &reason).encode())
                    .await;
            let _ = send.finish();
            // Closing at once would discard the explanation: wait (briefly) until the
            // peer has read it.
            let _ = tokio::time::timeout(timeout, send.stopped()).await;
            connection.close(CloseCode::Done.code(), b"hello refused");
            return Err(LinkError::Hello(reason));
        }
    };
    if !dialer {
        transport::write_frame(&mut send, &first_hello.encode()).await?;
    }
    let (id, counters) = {
        let mut table = node.federation.table();
        (table.next_link_id(), table.counters(&peer))
    };
    let (control, writer) = Outbox::spawn(
        node.storage.clone(),
        Gate::new(node.clone(), peer),
        send,
        counters.clone(),
        node.federation.config.max_queued_posts,
    );
    for later in our_hellos {
        control.push_always(later);
    }
    let config = &node.federation.config;
    let now = clock::now();
    let link = Arc::new(Link::new(LinkParts {
        id,
        peer,
        dialer: if dialer { node.id() } else { peer },
        connection: connection.clone(),
        control,
        counters,
        hello: peer_hello,
        our_offer: offer,
        conduct: Conduct::new(config.conduct),
        rate: RateLimit::new(config.posts_per_second, config.posts_per_second, now),
    }));
    record_offer(&node, &link, &offered);
    match node.federation.table().admit(link.clone(), now) {
        Admission::Duplicate => {
            connection.close(CloseCode::Duplicate.code(), b"duplicate connection");
            drop(writer);
            return Err(LinkError::Duplicate);
        }
        Admission::Kept(Some(old)) => {
            old.connection
                .close(CloseCode::Duplicate.code(), b"duplicate connection");
        }
        Admission::Kept(None) => {}
    }
    tracing::info!(%peer, dialer, "connected to peer");
    let mut tasks = JoinSet::new();
    tasks.spawn(sync_loop(node.clone(), link.clone()));
    tasks.spawn(accept_streams(node.clone(), link.clone()));
    let ended = control_loop(&node, &link, &mut recv).await;
    tasks.abort_all();
    if ended.is_err() {
        // The peer is told why before the connection closes (an `Error` queued last).
        link.control.finish_acknowledged();
        let grace = outbox::ACKNOWLEDGE_GRACE + Duration::from_secs(1);
        let _ = tokio::time::timeout(grace, writer.finish()).await;
    } else {
        drop(writer);
    }
    let reason = match &ended {
        Ok(()) => connection
            .close_reason()
            .map_or_else(|| "closed".to_owned(), |r| r.to_string()),
        Err(error) => error.to_string(),
    };
    connection.close(CloseCode::Done.code(), b"connection ended");
    node.federation
        .table()
        .closed(&peer, link.id, clock::now(), reason.clone());
    tracing::info!(%peer, %reason, "disconnected from peer");
    ended
}

/// Records the spaces the peer offered that this node may reconcile with it: held
/// spaces whose replica set holds the peer and, from a configured peer, any other space
/// up to a bound (reconciled as empty, see `reconcile::Answer::Empty`, so a new replica
/// receives it and a space held but not shared looks like one not held). Other offers
/// are ignored without an answer (spec 7.9).
fn record_offer(node: &Arc<Node>, link: &Link, offered: &[SpaceId]) {
    let gate = Gate::new(node.clone(), link.peer);
    let (held, new): (Vec<SpaceId>, Vec<SpaceId>) = offered
        .iter()
        .partition(|space| gate.access(space) == Access::Replica);
    let configured = node.federation.table().is_configured(&link.peer);
    let new = if configured { new } else { Vec::new() };
    link.add_offered(&held, &new, node.federation.config.max_new_spaces);
}

/// The control stream: later `Hello`s, pushed posts, announcements and their `Want`s.
async fn control_loop(
    node: &Arc<Node>,
    link: &Arc<Link>,
    recv: &mut quinn::RecvStream,
) -> Result<(), LinkError> {
    let mut ingestor = Ingestor::new(node.clone(), link.clone());
    let gate = Gate::new(node.clone(), link.peer);
    loop {
        let bytes = match transport::read_frame(recv, MAX_MESSAGE_BYTES).await {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Ok(()),
            Err(error @ TransportError::FrameTooLarge { .. }) => {
                // The rest of the frame cannot be skipped on the one control stream: the
                // peer is told, and the connection ends.
                link.control.push_always(Message::error(
                    ErrorCode::TooLarge,
                    None,
                    &error.to_string(),
                ));
                return Err(error.into());
            }
            Err(error) => return Err(error.into()),
        };
        let message = match Message::decode(&bytes) {
            Ok(message) => message,
            Err(error) => {
                tracing::debug!(peer = %link.peer, %error, "undecodable message from a peer");
                link.control
                    .push(Message::error(error.code(), None, error.detail()));
                if let Verdict::Disconnect { ban_ms } = link.judge(clock::now(), 0, 1) {
                    ban(node, link, ban_ms);
                    return Ok(());
                }
                continue;
            }
        };
        match message {
            message @ Message::Hello { .. } => match link.hello().later(&message) {
                Ok(spaces) => {
                    record_offer(node, link, spaces);
                    link.wake.notify_one();
                }
                Err(error) => {
                    link.control.push_always(Message::error(
                        error.code(),
                        None,
                        &error.to_string(),
                    ));
                    return Err(LinkError::Hello(error.to_string()));
                }
            },
            Message::Have { space, ids } => {
                if answer_for(node, link, &space) == Answer::Refuse {
                    not_shared(link, space);
                    continue;
                }
                // Of a space reconciled as empty (`Answer::Empty`), every id is asked for.
                let lacking = gate.ids_to_want(&space, ids.into_vec());
                // Dropped when the peer does not read: reconciliation asks again.
                for want in want_batches(space, &link.to_ask(lacking)) {
                    link.control.push(want);
                }
            }
            Message::Want { space, ids } => {
                // Each post is checked again as it leaves (`Gate::posts`): only posts of
                // this very space go, and ids of other spaces are skipped as unknown ones.
                if gate.access(&space) == Access::Replica {
                    if !link.control.push_posts(space, ids.into_vec()) {
                        link.control.push(Message::error(
                            ErrorCode::RateLimited,
                            Some(space),
                            "too many posts asked for at once: ask again later",
                        ));
                    }
                } else {
                    not_shared(link, space);
                }
            }
            Message::Posts { space, envelopes } => {
                if ingestor.ingest(space, envelopes.into_vec()).await.is_err() {
                    return Ok(());
                }
            }
            Message::Error {
                code,
                space: None,
                text,
            } => {
                tracing::info!(peer = %link.peer, %code, %text, "the peer ends the connection");
                return Ok(());
            }
            Message::Error { code, space, text } => {
                tracing::debug!(peer = %link.peer, %code, ?space, %text, "the peer refused an exchange");
            }
            other => {
                link.control.push(Message::error(
                    ErrorCode::UnexpectedMessage,
                    other.space(),
                    &format!(
                        "a {} message does not belong on the control stream",
                        other.kind()
                    ),
                ));
            }
        }
    }
}

fn not_shared(link: &Link, space: SpaceId) {
    link.control.push(Message::error(
        ErrorCode::SpaceNotShared,
        Some(space),
        "space not shared",
    ));
}

fn ban(node: &Node, link: &Link, ban_ms: u64) {
    node.federation
        .table()
        .ban(&link.peer, clock::now().saturating_add_millis(ban_ms));
    link.connection
        .close(CloseCode::Misbehaving.code(), b"too much invalid input");
}

/// Reconciliations of one peer answered at once; its further streams wait (unread, so
/// QUIC's flow control holds them) until one ends.
const MAX_ANSWERING: usize = 8;

/// Answers the reconciliations the peer opens, each on its own stream, at most
/// [`MAX_ANSWERING`] at a time.
async fn accept_streams(node: Arc<Node>, link: Arc<Link>) {
    let mut running = JoinSet::new();
    while let Ok((send, recv)) = link.connection.accept_bi().await {
        while running.len() >= MAX_ANSWERING {
            running.join_next().await;
        }
        let (node, link) = (node.clone(), link.clone());
        running.spawn(async move {
            if let Err(error) = reconcile::respond(node, link.clone(), send, recv).await {
                tracing::debug!(peer = %link.peer, %error, "answering a reconciliation failed");
            }
        });
        while running.try_join_next().is_some() {}
    }
}

/// This node's reconciliations with the peer: on connect, every sync interval
/// (jittered), and when woken (a replica set changed, the peer offered more spaces).
async fn sync_loop(node: Arc<Node>, link: Arc<Link>) {
    let interval = node.federation.config.sync_interval;
    let mut retry = Backoff::new(BackoffConfig {
        initial_ms: 1_000,
        max_ms: 30_000,
    });
    loop {
        let offer = offer_for(&node, &link.peer);
        let added = link.offer(&offer);
        if !added.is_empty() {
            for message in hellos(node.id(), &added) {
                link.control.push_always(message);
            }
        }
        // Each space is reconciled by one side: the one that offered it alone, or the
        // lower node id when both did.
        let spaces: Vec<SpaceId> = offer
            .iter()
            .filter(|space| !link.offered(space) || node.id() < link.peer)
            .copied()
            .collect();
        let round = run_syncs(&node, &link, spaces).await;
        // A failed reconciliation is tried again soon (the peer may have been busy, or
        // not yet have taken this node as a peer), with backoff; one that sent all the
        // queue holds goes on at once; others wait the interval.
        let wait = if round.failed {
            Duration::from_millis(retry.next_delay_ms(random_u64())).min(interval)
        } else if round.incomplete {
            retry.reset();
            Duration::ZERO
        } else {
            retry.reset();
            let jitter_ms = random_u64() % (interval.as_millis() as u64 / 4 + 1);
            interval + Duration::from_millis(jitter_ms)
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = link.wake.notified() => {}
        }
        if link.is_closed() {
            return;
        }
    }
}

/// How a round of reconciliations went.
#[derive(Clone, Copy, Debug, Default)]
struct Round {
    /// At least one failed.
    failed: bool,
    /// At least one sent all its queue could hold and left posts for the next round.
    incomplete: bool,
}

/// Reconciles `spaces`, a few at a time.
async fn run_syncs(node: &Arc<Node>, link: &Arc<Link>, spaces: Vec<SpaceId>) -> Round {
    let parallel = node.federation.config.parallel_syncs.max(1);
    let mut running = JoinSet::new();
    let mut round = Round::default();
    let mut tally = |result: Result<Result<(), SyncFailure>, tokio::task::JoinError>| match result {
        Ok(Ok(())) => {}
        Ok(Err(SyncFailure::Incomplete { .. })) => round.incomplete = true,
        _ => round.failed = true,
    };
    for space in spaces {
        while running.len() >= parallel {
            if let Some(result) = running.join_next().await {
                tally(result);
            }
        }
        let (node, link) = (node.clone(), link.clone());
        running.spawn(async move {
            match reconcile::initiate(&node, &link, space).await {
                Ok(outcome) => {
                    tracing::debug!(peer = %link.peer, %space, rounds = outcome.rounds, have = outcome.have, need = outcome.need, "reconciled");
                    Ok(())
                }
                Err(error) => {
                    tracing::debug!(peer = %link.peer, %space, %error, "reconciliation failed");
                    Err(error)
                }
            }
        });
    }
    while let Some(result) = running.join_next().await {
        tally(result);
    }
    round
}

/// A random number from the operating system (for jitter); 0 if it has none.
pub(crate) fn random_u64() -> u64 {
    getrandom::u64().unwrap_or(0)
}
