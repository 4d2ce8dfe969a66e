//! The writer of one stream to a peer: messages in order, and posts to send in
//! catch-up order (`gossip::Priority`: membership and retraction state first, then
//! newest first), read from storage a batch at a time so memory stays bounded.
//!
//! Producers never wait on the peer: they queue and return. Messages beyond a bound are
//! refused ([`Outbox::push`] returns `false`), which only announcements may be, since
//! reconciliation repairs what they would have told.

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use parley_protocol::gossip::Priority;
use parley_protocol::wire::{Message, post_batches};
use parley_protocol::{PostId, SpaceId};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::storage::Storage;
use crate::transport::{self, TransportError};

use super::gate::Gate;
use super::table::Counters;

/// Bytes of queued messages beyond which announcements are dropped.
const MAX_QUEUED_BYTES: usize = 8 * 1024 * 1024;
/// The most posts one `Posts` message sent here carries: small batches interleave
/// with other messages and keep the receiver's work per message short.
const POSTS_PER_MESSAGE: usize = 128;

/// A queue in front of one stream's sending side. Cloning shares it.
#[derive(Clone)]
pub(crate) struct Outbox {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when the writer has sent queued posts, or the stream closed.
    room: Notify,
    /// Posts queued beyond which a request for more is refused (the peer is asking
    /// faster than it reads): `FederationConfig::max_queued_posts`.
    max_posts: usize,
    wake: Notify,
    /// Frames written so far: the peer is reading while it grows.
    written: std::sync::atomic::AtomicU64,
    /// The peer's counters, whose `queued` follows this queue's bytes.
    counters: Arc<Counters>,
}

#[derive(Default)]
struct State {
    messages: VecDeque<Message>,
    queued_bytes: usize,
    /// Posts to send, not yet ordered (ordering reads each envelope's header).
    unsorted: Vec<(SpaceId, PostId)>,
    /// Posts to send, in the order they leave.
    posts: BTreeSet<(Priority, SpaceId)>,
    finish: bool,
    /// Once finished, wait (briefly) until the peer acknowledged what was sent.
    acknowledged: bool,
    closed: bool,
}

impl Outbox {
    /// Starts the writer task of `send`; it ends when [`Outbox::finish`] was called and
    /// everything queued is sent, or when the stream fails. Every post it sends passes
    /// `gate` at the moment it leaves.
    pub(crate) fn spawn(
        storage: Storage,
        gate: Gate,
        send: quinn::SendStream,
        counters: Arc<Counters>,
        max_posts: usize,
    ) -> (Self, Writer) {
        let outbox = Self {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                room: Notify::new(),
                max_posts,
                wake: Notify::new(),
                written: std::sync::atomic::AtomicU64::new(0),
                counters: counters.clone(),
            }),
        };
        let task = tokio::spawn(write(outbox.clone(), storage, gate, send, counters));
        (outbox, Writer(Some(task)))
    }

    fn wrote(&self, frames: u64) {
        self.shared
            .written
            .fetch_add(frames, std::sync::atomic::Ordering::Relaxed);
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a message; `false` (and dropped) when the queue is over its bound or the
    /// stream has closed.
    pub(crate) fn push(&self, message: Message) -> bool {
        let mut state = self.state();
        let size = message.encoded_len();
        if state.closed || state.finish || state.queued_bytes + size > MAX_QUEUED_BYTES {
            return false;
        }
        state.queued_bytes += size;
        state.messages.push_back(message);
        drop(state);
        self.shared.counters.queue(size);
        self.shared.wake.notify_one();
        true
    }

    /// Queues a message that must not be dropped (reconciliation frames, `Want`s): it is
    /// queued whatever the bound, which the callers' own bounds keep small.
    pub(crate) fn push_always(&self, message: Message) {
        let mut state = self.state();
        if state.closed {
            return;
        }
        let size = message.encoded_len();
        state.queued_bytes += size;
        state.messages.push_back(message);
        drop(state);
        self.shared.counters.queue(size);
        self.shared.wake.notify_one();
    }

    /// Waits until at most `bytes` of messages are queued: a reader that produces
    /// answers calls it before reading more, so a peer that does not read what it is
    /// sent stops being read (QUIC flow control then holds it). `false` if the stream
    /// closed first.
    pub(crate) async fn below(&self, bytes: usize) -> bool {
        loop {
            let room = self.shared.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            {
                let state = self.state();
                if state.closed {
                    return false;
                }
                if state.queued_bytes <= bytes {
                    return true;
                }
            }
            room.await;
        }
    }

    /// Queues posts of `space` to send; ids held only as tombstones, or not at all,
    /// are skipped when their turn comes. `false` (and nothing queued) when the stream
    /// has closed or more than the bound would be waiting.
    pub(crate) fn push_posts(&self, space: SpaceId, ids: Vec<PostId>) -> bool {
        let mut state = self.state();
        if state.closed
            || state.unsorted.len() + state.posts.len() + ids.len() > self.shared.max_posts
        {
            return false;
        }
        state.unsorted.extend(ids.into_iter().map(|id| (space, id)));
        drop(state);
        self.shared.wake.notify_one();
        true
    }

    /// Queues as many of `ids` (posts of `space`) as fit under the bound, the first
    /// ones first, and returns the rest; `None` once the stream has closed. For posts
    /// this node offers of its own accord, where sending part now and the rest in the
    /// next round beats sending nothing.
    pub(crate) fn push_posts_upto(
        &self,
        space: SpaceId,
        mut ids: Vec<PostId>,
    ) -> Option<Vec<PostId>> {
        let mut state = self.state();
        if state.closed {
            return None;
        }
        let room = self
            .shared
            .max_posts
            .saturating_sub(state.unsorted.len() + state.posts.len());
        let rest = ids.split_off(ids.len().min(room));
        state.unsorted.extend(ids.into_iter().map(|id| (space, id)));
        drop(state);
        self.shared.wake.notify_one();
        Some(rest)
    }

    /// Queues all of `ids`, waiting for the writer to make room whenever the queue is
    /// full; `false` if the stream closed first. A caller that waits here stops reading
    /// its stream, so QUIC flow control paces a peer asking faster than it reads.
    pub(crate) async fn push_posts_paced(&self, space: SpaceId, mut ids: Vec<PostId>) -> bool {
        loop {
            let room = self.shared.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            match self.push_posts_upto(space, ids) {
                None => return false,
                Some(rest) if rest.is_empty() => return true,
                Some(rest) => ids = rest,
            }
            room.await;
        }
    }

    /// How many frames the writer has written so far.
    pub(crate) fn progress(&self) -> u64 {
        self.shared
            .written
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Finishes the stream once everything queued is sent.
    pub(crate) fn finish(&self) {
        self.state().finish = true;
        self.shared.wake.notify_one();
    }

    /// Finishes the stream once everything queued is sent, and waits up to
    /// [`ACKNOWLEDGE_GRACE`] for the peer to acknowledge it: for a last message (an
    /// `Error` before the connection closes) that closing at once would discard.
    pub(crate) fn finish_acknowledged(&self) {
        let mut state = self.state();
        state.finish = true;
        state.acknowledged = true;
        drop(state);
        self.shared.wake.notify_one();
    }
}

/// How long a writer finished with [`Outbox::finish_acknowledged`] waits for the peer.
pub(crate) const ACKNOWLEDGE_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// The writer task of an [`Outbox`]: awaited with [`Writer::finish`], aborted when
/// dropped, so a stream abandoned halfway (its connection closed, its task cancelled)
/// never leaves a writer holding the store.
pub(crate) struct Writer(Option<JoinHandle<Result<(), TransportError>>>);

impl Writer {
    /// Waits until everything queued is sent and the stream finished, or it failed.
    pub(crate) async fn finish(mut self) -> Result<(), TransportError> {
        match self.0.take() {
            Some(task) => task.await.unwrap_or(Ok(())),
            None => Ok(()),
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

/// What the writer does next.
enum Next {
    Message(Message),
    Sort(Vec<(SpaceId, PostId)>),
    Posts(SpaceId, Vec<PostId>),
    /// Finish the stream; wait for the peer's acknowledgement if asked.
    Finish(bool),
    Wait,
}

async fn write(
    outbox: Outbox,
    storage: Storage,
    gate: Gate,
    mut send: quinn::SendStream,
    counters: Arc<Counters>,
) -> Result<(), TransportError> {
    let result = write_loop(&outbox, &storage, &gate, &mut send, &counters).await;
    let mut state = outbox.state();
    state.closed = true;
    counters.unqueue(std::mem::take(&mut state.queued_bytes));
    state.messages.clear();
    state.unsorted.clear();
    state.posts.clear();
    drop(state);
    outbox.shared.room.notify_waiters();
    result
}

async fn write_loop(
    outbox: &Outbox,
    storage: &Storage,
    gate: &Gate,
    send: &mut quinn::SendStream,
    counters: &Counters,
) -> Result<(), TransportError> {
    loop {
        match next(outbox) {
            Next::Message(message) => {
                let queued = message.encoded_len();
                let cleared = match message {
                    Message::Posts { space, envelopes } => {
                        let envelopes = envelopes.into_vec().into_iter().map(|e| e.0).collect();
                        let envelopes = gate.posts(&space, envelopes);
                        // Stored envelopes were valid, so none is over the bound.
                        post_batches(space, envelopes).unwrap_or_default()
                    }
                    other => vec![other],
                };
                for message in cleared {
                    transport::write_frame(send, &message.encode()).await?;
                    outbox.wrote(1);
                }
                let mut state = outbox.state();
                state.queued_bytes = state.queued_bytes.saturating_sub(queued);
                drop(state);
                counters.unqueue(queued);
                outbox.shared.room.notify_waiters();
            }
            Next::Sort(unsorted) => {
                let storage = storage.clone();
                let sorted = tokio::task::spawn_blocking(move || prioritize(&storage, unsorted))
                    .await
                    .unwrap_or_default();
                outbox.state().posts.extend(sorted);
            }
            Next::Posts(space, ids) => {
                let storage = storage.clone();
                let envelopes = tokio::task::spawn_blocking(move || {
                    ids.iter()
                        .filter_map(|id| storage.envelope(id).ok().flatten())
                        .collect::<Vec<_>>()
                })
                .await
                .unwrap_or_default();
                let envelopes = gate.posts(&space, envelopes);
                let count = envelopes.len() as u64;
                // Stored envelopes were valid, so none is over the bound.
                for message in post_batches(space, envelopes).unwrap_or_default() {
                    transport::write_frame(send, &message.encode()).await?;
                    outbox.wrote(1);
                }
                counters.add_sent(count);
                outbox.shared.room.notify_waiters();
            }
            Next::Finish(acknowledged) => {
                let _ = send.finish();
                if acknowledged {
                    let _ = tokio::time::timeout(ACKNOWLEDGE_GRACE, send.stopped()).await;
                }
                return Ok(());
            }
            Next::Wait => outbox.shared.wake.notified().await,
        }
    }
}

/// Takes the next thing to do off the queue.
fn next(outbox: &Outbox) -> Next {
    let mut state = outbox.state();
    if let Some(message) = state.messages.pop_front() {
        return Next::Message(message);
    }
    if !state.unsorted.is_empty() {
        return Next::Sort(std::mem::take(&mut state.unsorted));
    }
    if let Some((_, space)) = state.posts.first().copied() {
        let batch: Vec<(Priority, SpaceId)> = state
            .posts
            .iter()
            .filter(|(_, s)| *s == space)
            .take(POSTS_PER_MESSAGE)
            .copied()
            .collect();
        for entry in &batch {
            state.posts.remove(entry);
        }
        return Next::Posts(space, batch.iter().map(|(p, _)| p.id()).collect());
    }
    if state.finish {
        return Next::Finish(state.acknowledged);
    }
    Next::Wait
}

/// The priority of each post to send, read from its stored header; posts not held in
/// full are dropped.
fn prioritize(storage: &Storage, unsorted: Vec<(SpaceId, PostId)>) -> Vec<(Priority, SpaceId)> {
    unsorted
        .into_iter()
        .filter_map(|(space, id)| {
            let bytes = storage.envelope(&id).ok().flatten()?;
            Some((Priority::of_envelope(&bytes)?, space))
        })
        .collect()
}
