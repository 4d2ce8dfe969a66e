//! The reconciliation state machine (`spec/07-sync-and-gossip.md`, "Reconciliation").
//!
//! One session reconciles one space with one peer. It is fed decoded messages with
//! [`SyncSession::handle`] and leaves its effects in a queue drained with
//! [`SyncSession::poll_output`]; it never reads a clock, never blocks and never panics
//! on a peer's bytes.

use std::collections::{BTreeSet, VecDeque};

use crate::encoding::ByteString;
use crate::id::{PostId, SpaceId};
use crate::limits::MAX_RECONCILE_FRAME_BYTES;
use crate::wire::Message;

use super::engine::{Engine, Learned};
use super::frame::{FRAME_VERSION, FrameSummary, check_frame};
use super::{FrameError, Item, ItemIndex, ReconcilerError, SortedItems, SyncConfig, SyncError};

/// Which side of a reconciliation a session plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Role {
    /// Sends the first frame, learns the difference, ends the exchange.
    Initiator,
    /// Answers frames; learns nothing but what the initiator then sends or asks for.
    Responder,
}

/// What a session is fed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Input {
    /// A message from the peer, for this session's space.
    Received(Message),
}

/// What a session asks its driver to do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Output {
    /// Send this message to the peer.
    Send(Message),
    /// The peer holds these posts and this node lacks them: ask for them with `Want`
    /// (unless already asked of this peer on this connection: the peer omits ids it
    /// holds only as tombstones, spec 7.5). Initiator only; sorted by id. Each id is reported at most once per session, even
    /// when a later frame lists it again.
    Need(Vec<PostId>),
    /// This node holds these posts and the peer lacks them: push them with `Posts`
    /// (those held only as tombstones have nothing to push). Initiator only; in item
    /// order. Each id is reported at most once per session.
    Have(Vec<PostId>),
    /// The reconciliation is over; nothing more will be output or accepted.
    Finished(Outcome),
}

/// The cost and result of a finished reconciliation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Outcome {
    /// Round trips: responder frames sent or received.
    pub rounds: u32,
    /// Bytes of encoded messages this party sent.
    pub bytes_sent: u64,
    /// Bytes of encoded messages this party received.
    pub bytes_received: u64,
    /// Number of distinct ids reported in [`Output::Have`] (initiator only).
    pub have: u64,
    /// Number of distinct ids reported in [`Output::Need`] (initiator only).
    pub need: u64,
}

/// A reconciliation of one space with one peer, as initiator or responder.
pub struct SyncSession {
    role: Role,
    space: SpaceId,
    config: SyncConfig,
    state: State,
    engine: Engine,
    index: Box<dyn ItemIndex>,
    outputs: VecDeque<Output>,
    outcome: Outcome,
    /// Initiator: every id already reported in [`Output::Need`] and [`Output::Have`].
    /// A frame cut at its size budget sends the peer a fingerprint over ranges already
    /// settled, so the peer may list them again in a later frame.
    reported: Reported,
}

/// The ids an initiator has already reported, so that each is reported once.
#[derive(Debug, Default)]
struct Reported {
    need: BTreeSet<PostId>,
    have: BTreeSet<PostId>,
}

/// What the session awaits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Responder: the initiator's `ReconcileOpen`.
    ExpectOpen,
    /// Initiator: the responder's answer to its last frame.
    ExpectReply,
    /// Responder: the initiator's next frame, or its closing empty frame.
    ExpectFrame,
    /// Finished; the outcome is out.
    Finished,
    /// Failed; `handle` returned an error.
    Failed,
}

impl SyncSession {
    /// Starts a reconciliation of `space` as initiator over a snapshot of its items.
    /// The first frame is queued as [`Output::Send`] of a `ReconcileOpen`.
    pub fn initiate(
        space: SpaceId,
        items: impl IntoIterator<Item = Item>,
        config: SyncConfig,
    ) -> Result<Self, SyncError> {
        Self::initiate_over(space, sorted(items)?, config)
    }

    /// Starts a reconciliation of `space` as initiator over the items of `index`, read
    /// while this call and each later [`SyncSession::handle`] runs.
    pub fn initiate_over(
        space: SpaceId,
        index: impl ItemIndex + 'static,
        config: SyncConfig,
    ) -> Result<Self, SyncError> {
        let mut session = Self::new(Role::Initiator, space, Box::new(index), config)?;
        let frame = session.engine.initiate(session.index.as_ref())?;
        session.send(Message::ReconcileOpen {
            space,
            frame: ByteString(frame),
        });
        session.state = State::ExpectReply;
        Ok(session)
    }

    /// Prepares to answer a reconciliation of `space` over a snapshot of its items;
    /// the session awaits the initiator's `ReconcileOpen`.
    pub fn respond(
        space: SpaceId,
        items: impl IntoIterator<Item = Item>,
        config: SyncConfig,
    ) -> Result<Self, SyncError> {
        Self::respond_over(space, sorted(items)?, config)
    }

    /// Prepares to answer a reconciliation of `space` over the items of `index`, read
    /// while each [`SyncSession::handle`] runs.
    pub fn respond_over(
        space: SpaceId,
        index: impl ItemIndex + 'static,
        config: SyncConfig,
    ) -> Result<Self, SyncError> {
        Self::new(Role::Responder, space, Box::new(index), config)
    }

    /// Feeds one input; then drain [`SyncSession::poll_output`]. An error ends the
    /// session: outputs queued before it (differences already learned) stay available,
    /// and the driver should tell the peer with [`SyncError::code`].
    pub fn handle(&mut self, input: Input) -> Result<(), SyncError> {
        if matches!(self.state, State::Finished | State::Failed) {
            return Err(SyncError::Closed);
        }
        let result = match input {
            Input::Received(message) => self.receive(message),
        };
        if result.is_err() {
            self.state = State::Failed;
        }
        result
    }

    /// The next effect to carry out, oldest first.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Which side this session plays.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The space reconciled.
    pub fn space(&self) -> SpaceId {
        self.space
    }

    /// Whether the reconciliation has finished successfully and every output, the
    /// last being [`Output::Finished`], has been drained.
    pub fn is_finished(&self) -> bool {
        self.state == State::Finished && self.outputs.is_empty()
    }

    /// Whether the session has ended, finished or failed, and every output has been
    /// drained.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Finished | State::Failed) && self.outputs.is_empty()
    }

    /// Rounds, bytes and differences so far.
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    fn new(
        role: Role,
        space: SpaceId,
        index: Box<dyn ItemIndex>,
        config: SyncConfig,
    ) -> Result<Self, SyncError> {
        config.check()?;
        Ok(Self {
            role,
            space,
            // `config.check` keeps the limit within 4096..=MAX_RECONCILE_FRAME_BYTES.
            engine: Engine::new(config.frame_size_limit),
            index,
            config,
            state: State::ExpectOpen,
            outputs: VecDeque::new(),
            outcome: Outcome::default(),
            reported: Reported::default(),
        })
    }

    fn receive(&mut self, message: Message) -> Result<(), SyncError> {
        self.outcome.bytes_received += message.encoded_len() as u64;
        let kind = message.kind();
        let (space, frame, is_open) = match message {
            Message::ReconcileOpen { space, frame } => (space, frame, true),
            Message::ReconcileFrame { space, frame } => (space, frame, false),
            Message::Error { code, .. } => return Err(SyncError::Peer { code }),
            _ => return Err(SyncError::UnexpectedMessage { kind }),
        };
        if space != self.space {
            return Err(SyncError::WrongSpace {
                expected: self.space,
                found: space,
            });
        }
        match (self.state, is_open) {
            (State::ExpectOpen, true) | (State::ExpectReply | State::ExpectFrame, false) => {}
            _ => return Err(SyncError::UnexpectedMessage { kind }),
        }
        let frame = frame.0;
        if frame.len() > MAX_RECONCILE_FRAME_BYTES {
            return Err(SyncError::FrameTooLarge {
                size: frame.len(),
                limit: MAX_RECONCILE_FRAME_BYTES,
            });
        }
        let summary = check_frame(&frame)?;
        match self.state {
            State::ExpectReply => self.on_reply(&frame, summary),
            _ => self.on_query(&frame, summary),
        }
    }

    /// Initiator: the responder's answer.
    fn on_reply(&mut self, frame: &[u8], summary: FrameSummary) -> Result<(), SyncError> {
        self.outcome.rounds += 1;
        let mut learned = Learned::default();
        let next = self
            .engine
            .learn(self.index.as_ref(), frame, &mut learned)?;
        let Learned { have, need } = learned;
        // Each id once per session: drop those reported in an earlier round (or twice
        // in this one, which only a dishonest peer's id lists can cause).
        let have: Vec<PostId> = have
            .into_iter()
            .filter(|id| self.reported.have.insert(*id))
            .collect();
        let need: Vec<PostId> = need
            .into_iter()
            .filter(|id| self.reported.need.insert(*id))
            .collect();
        if !have.is_empty() {
            self.outcome.have += have.len() as u64;
            self.outputs.push_back(Output::Have(have));
        }
        if !need.is_empty() {
            self.outcome.need += need.len() as u64;
            // Sorted (the engine collects them in a sorted set).
            self.outputs.push_back(Output::Need(need));
        }
        match next {
            Some(frame) => {
                if self.outcome.rounds >= self.config.max_rounds {
                    return Err(SyncError::TooManyRounds {
                        limit: self.config.max_rounds,
                    });
                }
                self.send(Message::ReconcileFrame {
                    space: self.space,
                    frame: ByteString(frame),
                });
            }
            None => {
                // A responder frame with a Fingerprint range awaits an answer; when
                // there is nothing left to say, the answer is the empty frame.
                if summary.fingerprints > 0 {
                    self.send(Message::ReconcileFrame {
                        space: self.space,
                        frame: ByteString(vec![FRAME_VERSION]),
                    });
                }
                self.finish();
            }
        }
        Ok(())
    }

    /// Responder: the initiator's opening or next frame.
    fn on_query(&mut self, frame: &[u8], summary: FrameSummary) -> Result<(), SyncError> {
        if summary.ranges == 0 {
            if self.state == State::ExpectOpen {
                return Err(FrameError::NoRanges.into());
            }
            // The initiator's closing empty frame.
            self.finish();
            return Ok(());
        }
        if self.outcome.rounds >= self.config.max_rounds {
            return Err(SyncError::TooManyRounds {
                limit: self.config.max_rounds,
            });
        }
        let reply = self.engine.answer(self.index.as_ref(), frame)?;
        // Our own engine's frame; failing the check would be a bug here.
        let reply_summary =
            check_frame(&reply).map_err(|_| SyncError::Reconciler(ReconcilerError::Internal))?;
        self.outcome.rounds += 1;
        self.send(Message::ReconcileFrame {
            space: self.space,
            frame: ByteString(reply),
        });
        if reply_summary.fingerprints == 0 {
            // Without a Fingerprint range the initiator has nothing left to answer.
            self.finish();
        } else {
            self.state = State::ExpectFrame;
        }
        Ok(())
    }

    fn send(&mut self, message: Message) {
        self.outcome.bytes_sent += message.encoded_len() as u64;
        self.outputs.push_back(Output::Send(message));
    }

    fn finish(&mut self) {
        self.state = State::Finished;
        self.outputs.push_back(Output::Finished(self.outcome));
    }
}

impl std::fmt::Debug for SyncSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncSession")
            .field("role", &self.role)
            .field("space", &self.space)
            .field("config", &self.config)
            .field("state", &self.state)
            .field("outcome", &self.outcome)
            .field("queued_outputs", &self.outputs.len())
            .finish_non_exhaustive()
    }
}

/// Items in memory as an index, refusing one at the last millisecond: u64::MAX is the
/// protocol's "infinity" bound, and an item there would fall outside every range.
fn sorted(items: impl IntoIterator<Item = Item>) -> Result<SortedItems, SyncError> {
    let items = SortedItems::new(items);
    if let Some(last) = items.as_slice().last()
        && last.created_at.as_millis() == u64::MAX
    {
        return Err(SyncError::ItemOutOfRange {
            created_at: last.created_at,
        });
    }
    Ok(items)
}
