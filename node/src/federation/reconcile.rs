//! One reconciliation of one space on a stream of its own (spec 7.4 and 7.8): the
//! initiator opens the stream, both run the protocol's `SyncSession`, and the
//! differences move on the same stream, `Want`s answered with `Posts` and the
//! initiator's surplus pushed with `Posts`, in catch-up order.

use std::sync::Arc;

use parley_protocol::sync::{Input, Outcome, Output, SyncConfig, SyncError, SyncSession};
use parley_protocol::wire::{Access, ErrorCode, Message, MessageKind, WireError, want_batches};
use parley_protocol::{PostId, SpaceId};

use crate::clock;
use crate::server::Node;
use crate::storage::StorageError;
use crate::transport::{self, CloseCode, TransportError};

use super::gate::Gate;
use super::ingest::{Ingestor, Misbehaved};
use super::link::Link;
use super::outbox::Outbox;
use super::relay::removal;

/// Why a reconciliation ended early.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum SyncFailure {
    /// The stream or connection failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// A stream could not be opened.
    #[error("opening a stream: {0}")]
    Connection(#[from] quinn::ConnectionError),
    /// The peer made no progress for too long.
    #[error("the peer stopped answering")]
    Timeout,
    /// The reconciliation itself failed.
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// The peer sent bytes that are not a message.
    #[error("undecodable message: {0}")]
    Decode(#[from] WireError),
    /// The peer refused or ended the exchange.
    #[error("the peer answered {0}")]
    Peer(ErrorCode),
    /// The peer sent a message that does not belong here.
    #[error("unexpected {0} message")]
    Unexpected(MessageKind),
    /// The peer ended the stream before the reconciliation finished.
    #[error("the peer ended the stream early")]
    Ended,
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The peer was cut off for invalid input.
    #[error("the peer was disconnected for invalid input")]
    Misbehaved,
    /// The peer lacks more posts than one round queues: those queued were sent, the
    /// rest wait for the next round, which comes as soon as after a failure.
    #[error("{left} posts the peer lacks are left for the next round (the send queue is bounded)")]
    Incomplete {
        /// Posts not sent this round.
        left: u64,
    },
}

impl From<Misbehaved> for SyncFailure {
    fn from(_: Misbehaved) -> Self {
        Self::Misbehaved
    }
}

/// Reconciles `space` with the peer of `link`, this node initiating, on a new stream.
pub(crate) async fn initiate(
    node: &Arc<Node>,
    link: &Arc<Link>,
    space: SpaceId,
) -> Result<Outcome, SyncFailure> {
    let (send, mut recv) = link.connection.open_bi().await?;
    let (outbox, writer) = Outbox::spawn(
        node.storage.clone(),
        Gate::new(node.clone(), link.peer),
        send,
        link.counters.clone(),
        node.federation.config.max_queued_posts,
    );
    let mut session = start(node, link, space, true).await?;
    let mut ingestor = Ingestor::new(node.clone(), link.clone());
    let mut left = 0;
    let mut finished = drain(node, link, &outbox, &mut session, space, &mut left);
    while finished.is_none() {
        match read(node, &mut recv, &outbox).await? {
            Some(message @ Message::ReconcileFrame { .. }) => {
                session = step(node, link, session, message).await?;
                finished = drain(node, link, &outbox, &mut session, space, &mut left);
            }
            Some(other) => take_posts(&mut ingestor, &outbox, space, other).await?,
            None => return Err(SyncFailure::Ended),
        }
    }
    // Every Want and pushed post is queued; the peer finishes once it answered them.
    outbox.finish();
    while let Some(message) = read(node, &mut recv, &outbox).await? {
        take_posts(&mut ingestor, &outbox, space, message).await?;
    }
    ingestor.flush().await;
    let _ = writer.finish().await;
    if left > 0 {
        return Err(SyncFailure::Incomplete { left });
    }
    link.counters.synced(clock::now());
    Ok(finished.unwrap_or_default())
}

/// The initiator's handling of a message other than a frame: the answers to its
/// `Want`s, or the peer's refusal.
async fn take_posts(
    ingestor: &mut Ingestor,
    outbox: &Outbox,
    space: SpaceId,
    message: Message,
) -> Result<(), SyncFailure> {
    match message {
        Message::Posts {
            space: of,
            envelopes,
        } if of == space => {
            ingestor.ingest(space, envelopes.into_vec()).await?;
            Ok(())
        }
        Message::Error { code, .. } => Err(SyncFailure::Peer(code)),
        other => Err(refuse(outbox, other)),
    }
}

/// Answers a reconciliation the peer opened on the stream `send`/`recv`.
pub(crate) async fn respond(
    node: Arc<Node>,
    link: Arc<Link>,
    send: quinn::SendStream,
    mut recv: quinn::RecvStream,
) -> Result<(), SyncFailure> {
    let (outbox, writer) = Outbox::spawn(
        node.storage.clone(),
        Gate::new(node.clone(), link.peer),
        send,
        link.counters.clone(),
        node.federation.config.max_queued_posts,
    );
    let result = answer(&node, &link, &outbox, &mut recv).await;
    if let Err(error) = &result {
        let (code, space) = match error {
            SyncFailure::Sync(error) => (error.code(), None),
            SyncFailure::Decode(error) => (error.code(), None),
            SyncFailure::Transport(TransportError::FrameTooLarge { .. }) => {
                (ErrorCode::TooLarge, None)
            }
            _ => (ErrorCode::Internal, None),
        };
        let too_large = matches!(
            error,
            SyncFailure::Transport(TransportError::FrameTooLarge { .. })
        );
        if too_large {
            // The rest of the frame is not read: this stream ends, with the reason,
            // and the connection goes on.
            let _ = recv.stop(quinn::VarInt::from_u32(0));
        }
        if too_large || !matches!(error, SyncFailure::Transport(_) | SyncFailure::Misbehaved) {
            outbox.push_always(Message::error(code, space, &error.to_string()));
        }
    }
    outbox.finish();
    let _ = writer.finish().await;
    result
}

async fn answer(
    node: &Arc<Node>,
    link: &Arc<Link>,
    outbox: &Outbox,
    recv: &mut quinn::RecvStream,
) -> Result<(), SyncFailure> {
    let Some(open) = read(node, recv, outbox).await? else {
        return Ok(());
    };
    let space = match &open {
        Message::ReconcileOpen { space, .. } => *space,
        Message::Hello { .. } => {
            // A Hello belongs on the control stream only (spec 7.5): the connection ends.
            link.connection
                .close(CloseCode::Done.code(), b"hello on a sync stream");
            return Err(SyncFailure::Unexpected(MessageKind::Hello));
        }
        other => return Err(refuse(outbox, other.clone())),
    };
    let answer = answer_for(node, link, &space);
    if answer != Answer::Items {
        // A removed replica still reconciling has not heard: tell it (spec 7.9). A
        // node that never was a replica is told nothing.
        let (view, governance) = {
            let mut spaces = node.spaces();
            (spaces.membership(&space), spaces.spine_posts(&space))
        };
        if let Some(view) = view {
            for message in removal(&view, &governance, &link.peer) {
                outbox.push_always(message);
            }
        }
    }
    let mut session = match answer {
        Answer::Items => start(node, link, space, false).await?,
        Answer::Empty => SyncSession::respond(space, [], SyncConfig::default())?,
        Answer::Refuse => {
            tracing::debug!(peer = %link.peer, %space, "not answering a reconciliation");
            // The same answer whether the space is unknown or not shared (spec 7.9).
            outbox.push_always(Message::error(
                ErrorCode::SpaceNotShared,
                Some(space),
                "space not shared",
            ));
            return Ok(());
        }
    };
    let empty = answer == Answer::Empty;
    let mut ingestor = Ingestor::new(node.clone(), link.clone());
    session = step(node, link, session, open).await?;
    // A responder learns nothing it has that the peer lacks: nothing is left over.
    let mut left = 0;
    drain(node, link, outbox, &mut session, space, &mut left);
    while let Some(message) = read(node, recv, outbox).await? {
        match message {
            message @ Message::ReconcileFrame { .. } => {
                // The next frame is read only once the peer has read the answers to the
                // earlier ones down to a bound: one that does not read is not answered.
                if !answers_read(node, outbox).await? {
                    return Err(SyncFailure::Ended);
                }
                session = step(node, link, session, message).await?;
                drain(node, link, outbox, &mut session, space, &mut left);
            }
            Message::Want { space: of, ids } if of == space => {
                // Nothing is sent of a space reconciled as empty. A full queue holds up
                // reading the peer's next message until the writer made room.
                if !empty && !outbox.push_posts_paced(space, ids.into_vec()).await {
                    return Err(SyncFailure::Ended);
                }
            }
            Message::Posts {
                space: of,
                envelopes,
            } if of == space => {
                ingestor.ingest(space, envelopes.into_vec()).await?;
            }
            Message::Error { code, .. } => return Err(SyncFailure::Peer(code)),
            other => return Err(refuse(outbox, other)),
        }
    }
    ingestor.flush().await;
    link.counters.synced(clock::now());
    Ok(())
}

/// Bytes of answers a responder lets wait for the peer to read before it reads the
/// peer's next frame.
pub(crate) const MAX_UNREAD_ANSWERS: usize = 1024 * 1024;

/// Waits (up to the stream timeout) until the peer has read this stream's answers down
/// to [`MAX_UNREAD_ANSWERS`]; `false` if the stream closed.
async fn answers_read(node: &Node, outbox: &Outbox) -> Result<bool, SyncFailure> {
    tokio::time::timeout(
        node.federation.config.stream_timeout,
        outbox.below(MAX_UNREAD_ANSWERS),
    )
    .await
    .map_err(|_| SyncFailure::Timeout)
}

/// How this node answers a peer about a space (a reconciliation it opens, a `Have`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    /// The peer is in the space's replica set: reconcile over the items held.
    Items,
    /// The space is not held, or held but not shared with the peer, and the peer is a
    /// configured peer that offered it: reconcile as if nothing were held, so a new
    /// replica receives the space, and the two cases look alike (nothing is sent of a
    /// space the peer may not read).
    Empty,
    /// Refuse with `space_not_shared`, whether or not the space is held.
    Refuse,
}

/// How this node answers the peer of `link` about `space` (spec 7.9): over the items
/// held only for a replica ([`Access::Replica`]).
pub(crate) fn answer_for(node: &Arc<Node>, link: &Link, space: &SpaceId) -> Answer {
    let shared = Gate::new(node.clone(), link.peer).access(space) == Access::Replica;
    if shared {
        Answer::Items
    } else if link.offered(space) && node.federation.table().is_configured(&link.peer) {
        Answer::Empty
    } else {
        Answer::Refuse
    }
}

/// Carries out what the session asks; returns its outcome once it finished. Posts the
/// peer lacks beyond what the outbox takes are counted in `left`.
fn drain(
    node: &Arc<Node>,
    link: &Link,
    outbox: &Outbox,
    session: &mut SyncSession,
    space: SpaceId,
    left: &mut u64,
) -> Option<Outcome> {
    let mut finished = None;
    while let Some(output) = session.poll_output() {
        match output {
            Output::Send(message) => outbox.push_always(message),
            Output::Need(ids) => {
                let lacking = Gate::new(node.clone(), link.peer).ids_to_want(&space, ids);
                for want in want_batches(space, &link.to_ask(lacking)) {
                    outbox.push_always(want);
                }
            }
            Output::Have(ids) => {
                // Beyond the bound, the next round finds the rest again; the state posts
                // go in this one whatever their place, or a new replica would refuse
                // every post that came without them, round after round.
                let ids = state_first(node, space, ids);
                if let Some(rest) = outbox.push_posts_upto(space, ids) {
                    *left += rest.len() as u64;
                }
            }
            Output::Finished(outcome) => finished = Some(outcome),
            _ => {}
        }
    }
    finished
}

/// `ids` with the space's governance posts first, then the others newest first (ids
/// come in item order, oldest first): the order in which a bounded queue keeps them.
fn state_first(node: &Node, space: SpaceId, ids: Vec<PostId>) -> Vec<PostId> {
    let governance: std::collections::BTreeSet<PostId> = node
        .spaces()
        .spine_posts(&space)
        .iter()
        .map(parley_protocol::Post::id)
        .collect();
    let (mut first, rest): (Vec<PostId>, Vec<PostId>) =
        ids.into_iter().partition(|id| governance.contains(id));
    first.extend(rest.into_iter().rev());
    first
}

/// A session over the space's items as the store keeps them (their sums read, not
/// every item), started off the async threads: an initiator writes its first frame.
async fn start(
    node: &Node,
    link: &Link,
    space: SpaceId,
    initiate: bool,
) -> Result<SyncSession, SyncFailure> {
    let _turn = link.steps.acquire().await.map_err(|_| SyncFailure::Ended)?;
    let storage = node.storage.clone();
    tokio::task::spawn_blocking(move || {
        let items = storage.space_items(space);
        let config = SyncConfig::default();
        if initiate {
            let _held = storage.hold_items();
            SyncSession::initiate_over(space, items, config)
        } else {
            SyncSession::respond_over(space, items, config)
        }
    })
    .await
    .map_err(|_| SyncFailure::Ended)?
    .map_err(SyncFailure::from)
}

/// Feeds the peer's `message` to `session` off the async threads, the items held still
/// while it reads them, one step of the connection at a time; the session comes back
/// to be drained.
async fn step(
    node: &Node,
    link: &Link,
    mut session: SyncSession,
    message: Message,
) -> Result<SyncSession, SyncFailure> {
    let _turn = link.steps.acquire().await.map_err(|_| SyncFailure::Ended)?;
    let storage = node.storage.clone();
    tokio::task::spawn_blocking(move || {
        let _held = storage.hold_items();
        session.handle(Input::Received(message)).map(|()| session)
    })
    .await
    .map_err(|_| SyncFailure::Ended)?
    .map_err(SyncFailure::from)
}

/// The next message on a sync stream, within the stream timeout; `None` when the peer
/// finished its side.
///
/// The peer may be silent for long while it stores what this node sends (a new
/// replica's catch-up): silence counts as a stall only when this node's own writer made
/// no progress either over a whole `stream_timeout`. The read itself is never cut off
/// halfway through a frame.
async fn read(
    node: &Node,
    recv: &mut quinn::RecvStream,
    outbox: &Outbox,
) -> Result<Option<Message>, SyncFailure> {
    let timeout = node.federation.config.stream_timeout;
    let read = transport::read_frame(recv, parley_protocol::limits::MAX_MESSAGE_BYTES);
    tokio::pin!(read);
    let frame = loop {
        let before = outbox.progress();
        tokio::select! {
            frame = &mut read => break frame?,
            () = tokio::time::sleep(timeout) => {
                if outbox.progress() == before {
                    return Err(SyncFailure::Timeout);
                }
            }
        }
    };
    match frame {
        Some(bytes) => Ok(Some(Message::decode(&bytes)?)),
        None => Ok(None),
    }
}

/// Tells the peer a message does not belong on this stream.
fn refuse(outbox: &Outbox, message: Message) -> SyncFailure {
    outbox.push_always(Message::error(
        ErrorCode::UnexpectedMessage,
        message.space(),
        &format!("a {} message does not belong here", message.kind()),
    ));
    SyncFailure::Unexpected(message.kind())
}
