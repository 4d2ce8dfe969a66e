//! Properties of set reconciliation (`spec/07-sync-and-gossip.md`, "Reconciliation"):
//!
//! - for any two small sets (overlapping, disjoint, empty, equal, sharing timestamps and
//!   id prefixes), an initiator and a responder driven through encoded wire messages
//!   both finish, and the initiator reports exactly the symmetric difference, each id
//!   once;
//! - arbitrary and mutated frames fed to either side give a value or an error, never a
//!   panic, and every reconciliation stays within its round limit;
//! - a peer that never lets a reconciliation converge is cut off at the round limit;
//! - sets large enough that frames are cut at their size budget (a cut reopens ranges
//!   already settled) still report every id of the difference exactly once.
//!
//! Cases: 1,000 per property by default (200 for the large sets); `PROPTEST_CASES=N`
//! changes that.

use std::collections::BTreeSet;

use parley_protocol::encoding::ByteString;
use parley_protocol::limits::{MAX_RECONCILE_ROUNDS, MIN_RECONCILE_FRAME_BYTES};
use parley_protocol::sync::{Input, Item, Output, SyncConfig, SyncError, SyncSession};
use parley_protocol::wire::Message;
use parley_protocol::{PostId, SpaceId, Timestamp};
use proptest::prelude::*;

fn space() -> SpaceId {
    SpaceId::from_bytes([7; 32])
}

fn config() -> ProptestConfig {
    config_with_default(1000)
}

fn config_with_default(default_cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default_cases);
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(cases)
    }
}

// ---------------------------------------------------------------------------------
// Strategies.

/// Where an item of the universe lives.
#[derive(Clone, Copy, Debug)]
enum Side {
    Ours,
    Theirs,
    Both,
}

/// Ids: random, or random after a shared prefix of zero bytes (so adjacent items need
/// long id prefixes in their bounds). Real ids are BLAKE3 outputs; ids that differ in a
/// byte or two would make the additive fingerprints collide (see the spec's security
/// notes), which models no honest input, so at least 8 bytes stay random.
fn id() -> impl Strategy<Value = [u8; 32]> {
    prop_oneof![
        any::<[u8; 32]>(),
        (
            prop_oneof![Just(1usize), Just(2), Just(8), Just(16), Just(24)],
            any::<[u8; 32]>()
        )
            .prop_map(|(shared, mut id)| {
                id[..shared].fill(0);
                id
            }),
    ]
}

/// Timestamps: a handful (many collisions), a wide range, or the top of the range.
fn timestamp_range() -> impl Strategy<Value = (u64, u64)> {
    prop_oneof![
        Just((0, 4)),
        Just((1_700_000_000_000, 1_700_000_100_000)),
        Just((u64::MAX - 4, u64::MAX - 1)),
    ]
}

/// Two sets of items drawn from one universe, and the frame size limit both use.
fn set_pair() -> impl Strategy<Value = (Vec<Item>, Vec<Item>, usize)> {
    let sides = prop_oneof![
        // Overlapping.
        3 => prop_oneof![Just(Side::Ours), Just(Side::Theirs), Just(Side::Both)],
        // Mostly shared.
        1 => prop_oneof![8 => Just(Side::Both), 1 => Just(Side::Ours), 1 => Just(Side::Theirs)],
        // Equal.
        1 => Just(Side::Both),
        // Disjoint.
        1 => prop_oneof![Just(Side::Ours), Just(Side::Theirs)],
        // One side empty.
        1 => Just(Side::Theirs),
    ];
    let size = prop_oneof![4 => 0usize..40, 1 => 40usize..300];
    (timestamp_range(), size, any::<bool>())
        .prop_flat_map(move |((low, high), size, small_frames)| {
            let universe = prop::collection::vec((low..=high, id()), size);
            let frame = if small_frames {
                MIN_RECONCILE_FRAME_BYTES
            } else {
                SyncConfig::default().frame_size_limit
            };
            (
                universe,
                prop::collection::vec(sides.clone(), size),
                Just(frame),
            )
        })
        .prop_map(|(universe, sides, frame)| {
            let mut ours = Vec::new();
            let mut theirs = Vec::new();
            for ((created_at, id), side) in universe.into_iter().zip(sides) {
                let item = Item::new(Timestamp::from_millis(created_at), PostId::from_bytes(id));
                match side {
                    Side::Ours => ours.push(item),
                    Side::Theirs => theirs.push(item),
                    Side::Both => {
                        ours.push(item);
                        theirs.push(item);
                    }
                }
            }
            // An id drawn twice with two timestamps would be two items with one id;
            // posts have one timestamp each, so keep the first.
            dedup_ids(&mut ours, &mut theirs);
            (ours, theirs, frame)
        })
}

/// Two sets drawn from a universe of 600 to 1,200 items, each item ours, theirs or
/// both, reconciled with the smallest frame size limit: large enough that frames on
/// both sides are cut at their budget, so ranges already settled are reopened (about
/// one case in ten reported some id twice before the session deduplicated).
fn large_set_pair() -> impl Strategy<Value = (Vec<Item>, Vec<Item>)> {
    (timestamp_range(), 600usize..1200)
        .prop_flat_map(|((low, high), size)| {
            (
                prop::collection::vec((low..=high, any::<[u8; 32]>()), size),
                prop::collection::vec(0u8..3, size),
            )
        })
        .prop_map(|(universe, sides)| {
            let mut ours = Vec::new();
            let mut theirs = Vec::new();
            for ((created_at, id), side) in universe.into_iter().zip(sides) {
                let item = Item::new(Timestamp::from_millis(created_at), PostId::from_bytes(id));
                if side != 1 {
                    ours.push(item);
                }
                if side != 0 {
                    theirs.push(item);
                }
            }
            dedup_ids(&mut ours, &mut theirs);
            (ours, theirs)
        })
}

fn dedup_ids(ours: &mut Vec<Item>, theirs: &mut Vec<Item>) {
    let mut first: std::collections::BTreeMap<PostId, Timestamp> = Default::default();
    for item in ours.iter().chain(theirs.iter()) {
        first.entry(item.id).or_insert(item.created_at);
    }
    ours.retain(|i| first[&i.id] == i.created_at);
    theirs.retain(|i| first[&i.id] == i.created_at);
}

/// A mutation of a frame.
#[derive(Clone, Debug)]
enum Mutation {
    Flip { at: usize, bits: u8 },
    Truncate { at: usize },
    Insert { at: usize, bytes: Vec<u8> },
    Overwrite { at: usize, bytes: Vec<u8> },
    Replace { bytes: Vec<u8> },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(at, bits)| Mutation::Flip { at, bits }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..12))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..12))
            .prop_map(|(at, bytes)| Mutation::Overwrite { at, bytes }),
        prop::collection::vec(any::<u8>(), 0..80).prop_map(|mut bytes| {
            // Mostly well versioned, so the bytes get past the first check.
            if bytes.first().is_some_and(|b| b % 8 != 0) {
                bytes[0] = 0x61;
            }
            Mutation::Replace { bytes }
        }),
    ]
}

fn apply(mutation: &Mutation, frame: &mut Vec<u8>) {
    let len = frame.len();
    match mutation {
        Mutation::Flip { at, bits } if len > 0 => frame[at % len] ^= bits,
        Mutation::Truncate { at } => frame.truncate(at % (len + 1)),
        Mutation::Insert { at, bytes } => {
            let at = at % (len + 1);
            frame.splice(at..at, bytes.iter().copied());
        }
        Mutation::Overwrite { at, bytes } if len > 0 => {
            for (i, byte) in bytes.iter().enumerate() {
                if let Some(slot) = frame.get_mut(at % len + i) {
                    *slot = *byte;
                }
            }
        }
        Mutation::Replace { bytes } => *frame = bytes.clone(),
        _ => {}
    }
}

// ---------------------------------------------------------------------------------
// Driving two sessions.

/// What a run produced.
#[derive(Debug, Default)]
struct Run {
    need: Vec<PostId>,
    have: Vec<PostId>,
    rounds: u32,
    error: Option<SyncError>,
}

/// Carries a message over the wire: encode, then decode as the peer would.
fn transmit(message: &Message) -> Message {
    let bytes = message.encode();
    Message::decode(&bytes).expect("an honest message decodes")
}

/// Drives both sessions until both are closed, or one fails. `tamper` may rewrite each
/// frame the responder sends (index of the frame, frame).
fn drive(
    initiator: &mut SyncSession,
    responder: &mut SyncSession,
    mut tamper: impl FnMut(usize, &mut Vec<u8>),
) -> Run {
    let mut run = Run::default();
    let mut replies = 0;
    for _ in 0..100_000 {
        let mut progressed = false;
        while let Some(output) = initiator.poll_output() {
            progressed = true;
            match output {
                Output::Send(message) => {
                    if let Err(error) = responder.handle(Input::Received(transmit(&message))) {
                        run.error = Some(error);
                    }
                }
                Output::Need(ids) => run.need.extend(ids),
                Output::Have(ids) => run.have.extend(ids),
                Output::Finished(outcome) => run.rounds = outcome.rounds,
                _ => {}
            }
        }
        while let Some(output) = responder.poll_output() {
            progressed = true;
            if let Output::Send(message) = output {
                let mut message = transmit(&message);
                if let Message::ReconcileFrame { frame, .. } = &mut message {
                    tamper(replies, &mut frame.0);
                    replies += 1;
                }
                if let Err(error) = initiator.handle(Input::Received(message)) {
                    run.error = Some(error);
                }
            }
        }
        if !progressed || run.error.is_some() {
            break;
        }
    }
    if run.error.is_none() {
        run.rounds = run.rounds.max(initiator.outcome().rounds);
    }
    run
}

fn id_set(items: &[Item]) -> BTreeSet<PostId> {
    items.iter().map(|i| i.id).collect()
}

fn sessions(ours: &[Item], theirs: &[Item], config: SyncConfig) -> (SyncSession, SyncSession) {
    let initiator =
        SyncSession::initiate(space(), ours.iter().copied(), config).expect("initiator");
    let responder =
        SyncSession::respond(space(), theirs.iter().copied(), config).expect("responder");
    (initiator, responder)
}

/// The honest frames an initiator and responder exchange over these sets.
fn honest_frames(ours: &[Item], theirs: &[Item], config: SyncConfig) -> Vec<Vec<u8>> {
    let (mut initiator, mut responder) = sessions(ours, theirs, config);
    let mut frames = Vec::new();
    let mut record = |message: &Message| {
        if let Message::ReconcileOpen { frame, .. } | Message::ReconcileFrame { frame, .. } =
            message
        {
            frames.push(frame.0.clone());
        }
    };
    for _ in 0..1_000 {
        let mut progressed = false;
        while let Some(output) = initiator.poll_output() {
            progressed = true;
            if let Output::Send(message) = output {
                record(&message);
                let _ = responder.handle(Input::Received(message));
            }
        }
        while let Some(output) = responder.poll_output() {
            progressed = true;
            if let Output::Send(message) = output {
                record(&message);
                let _ = initiator.handle(Input::Received(message));
            }
        }
        if !progressed {
            break;
        }
    }
    frames
}

// ---------------------------------------------------------------------------------
// Properties.

proptest! {
    #![proptest_config(config())]

    /// Any two sets converge to exactly their symmetric difference, each id reported
    /// once, with both sides finished and agreeing on the number of rounds.
    #[test]
    fn reconciliation_finds_exactly_the_symmetric_difference((ours, theirs, frame) in set_pair()) {
        let config = SyncConfig::default().with_frame_size_limit(frame);
        let (mut initiator, mut responder) = sessions(&ours, &theirs, config);
        let run = drive(&mut initiator, &mut responder, |_, _| {});
        prop_assert_eq!(run.error, None);
        prop_assert!(initiator.is_finished(), "initiator not finished");
        prop_assert!(responder.is_finished(), "responder not finished");
        let (ours, theirs) = (id_set(&ours), id_set(&theirs));
        let need: BTreeSet<PostId> = run.need.iter().copied().collect();
        let have: BTreeSet<PostId> = run.have.iter().copied().collect();
        prop_assert_eq!(need.len(), run.need.len(), "an id was reported twice as needed");
        prop_assert_eq!(have.len(), run.have.len(), "an id was reported twice as had");
        prop_assert_eq!(need, &theirs - &ours);
        prop_assert_eq!(have, &ours - &theirs);
        prop_assert_eq!(initiator.outcome().rounds, responder.outcome().rounds);
        prop_assert_eq!(initiator.outcome().bytes_sent, responder.outcome().bytes_received);
        prop_assert_eq!(initiator.outcome().bytes_received, responder.outcome().bytes_sent);
        prop_assert!(run.rounds >= 1);
    }

    /// A responder fed a mutated opening frame, or any later mutated frame, refuses it
    /// or answers; it never panics, and the exchange that follows stays bounded.
    #[test]
    fn a_responder_survives_mutated_frames(
        (ours, theirs, frame) in set_pair(),
        mutations in prop::collection::vec(mutation(), 1..4),
        target in any::<usize>(),
    ) {
        let config = SyncConfig::default().with_frame_size_limit(frame).with_max_rounds(32);
        let frames = honest_frames(&ours, &theirs, config);
        // The initiator's frames are the even ones.
        let initiator_frames: Vec<&Vec<u8>> = frames.iter().step_by(2).collect();
        let index = target % initiator_frames.len();
        let mut bad = initiator_frames[index].clone();
        for mutation in &mutations {
            apply(mutation, &mut bad);
        }
        let mut responder = SyncSession::respond(space(), theirs.iter().copied(), config).expect("responder");
        // Replay the honest frames up to the target, then the mutated one.
        for (i, frame) in initiator_frames.iter().take(index + 1).enumerate() {
            let frame = if i == index { bad.clone() } else { (*frame).clone() };
            let message = if i == 0 {
                Message::ReconcileOpen { space: space(), frame: ByteString(frame) }
            } else {
                Message::ReconcileFrame { space: space(), frame: ByteString(frame) }
            };
            // Through the codec, as from the network: an oversized frame is refused there.
            let Ok(message) = Message::decode(&message.encode()) else { break };
            if responder.handle(Input::Received(message)).is_err() {
                break;
            }
            while responder.poll_output().is_some() {}
        }
        prop_assert!(responder.outcome().rounds <= 32);
    }

    /// An initiator fed mutated responder frames refuses them or goes on; it never
    /// panics, never reports an id twice, and stops within its round limit.
    #[test]
    fn an_initiator_survives_mutated_frames(
        (ours, theirs, frame) in set_pair(),
        mutations in prop::collection::vec(mutation(), 1..4),
        target in 0usize..4,
    ) {
        let config = SyncConfig::default().with_frame_size_limit(frame).with_max_rounds(16);
        let (mut initiator, mut responder) = sessions(&ours, &theirs, config);
        let run = drive(&mut initiator, &mut responder, |index, frame| {
            if index == target {
                for mutation in &mutations {
                    apply(mutation, frame);
                }
            }
        });
        prop_assert!(initiator.outcome().rounds <= 16);
        prop_assert!(run.rounds <= 16);
        let need: BTreeSet<PostId> = run.need.iter().copied().collect();
        let have: BTreeSet<PostId> = run.have.iter().copied().collect();
        prop_assert_eq!(need.len(), run.need.len(), "an id was reported twice as needed");
        prop_assert_eq!(have.len(), run.have.len(), "an id was reported twice as had");
    }

    /// Arbitrary bytes, decoded as a message and handed to a fresh session of either
    /// role, give a value or an error, never a panic.
    #[test]
    fn arbitrary_frames_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..300),
        versioned in any::<bool>(),
        ours in prop::collection::vec((0u64..8, id()), 0..40),
    ) {
        let mut frame = bytes;
        if versioned {
            frame.insert(0, 0x61);
        }
        let items: Vec<Item> = ours
            .into_iter()
            .map(|(t, id)| Item::new(Timestamp::from_millis(t), PostId::from_bytes(id)))
            .collect();
        let config = SyncConfig::default().with_frame_size_limit(MIN_RECONCILE_FRAME_BYTES);
        let mut responder = SyncSession::respond(space(), items.iter().copied(), config).expect("responder");
        let _ = responder.handle(Input::Received(Message::ReconcileOpen { space: space(), frame: ByteString(frame.clone()) }));
        while responder.poll_output().is_some() {}
        let mut initiator = SyncSession::initiate(space(), items.iter().copied(), config).expect("initiator");
        while initiator.poll_output().is_some() {}
        let _ = initiator.handle(Input::Received(Message::ReconcileFrame { space: space(), frame: ByteString(frame.clone()) }));
        while initiator.poll_output().is_some() {}
        // Raw bytes as a whole message, too.
        if let Ok(message) = Message::decode(&frame) {
            let mut responder = SyncSession::respond(space(), items.iter().copied(), config).expect("responder");
            let _ = responder.handle(Input::Received(message));
        }
    }

    /// With a round limit, a reconciliation either finishes within it or is refused
    /// with `TooManyRounds` at exactly the limit.
    #[test]
    fn rounds_never_exceed_the_limit((ours, theirs, _) in set_pair(), limit in 1u32..4) {
        let config = SyncConfig::default().with_frame_size_limit(MIN_RECONCILE_FRAME_BYTES).with_max_rounds(limit);
        let (mut initiator, mut responder) = sessions(&ours, &theirs, config);
        let run = drive(&mut initiator, &mut responder, |_, _| {});
        match run.error {
            None => prop_assert!(run.rounds <= limit),
            Some(error) => {
                prop_assert_eq!(error, SyncError::TooManyRounds { limit });
                prop_assert_eq!(initiator.outcome().rounds, limit);
            }
        }
    }
}

proptest! {
    #![proptest_config(config_with_default(200))]

    /// Regression for ids reported twice: with frames cut at the smallest budget, every
    /// id of the symmetric difference is reported exactly once, in `Need` or in `Have`,
    /// across all rounds, and the outcome counts each once.
    #[test]
    fn each_id_is_reported_exactly_once_when_frames_are_cut((ours, theirs) in large_set_pair()) {
        let config = SyncConfig::default().with_frame_size_limit(MIN_RECONCILE_FRAME_BYTES);
        let (mut initiator, mut responder) = sessions(&ours, &theirs, config);
        let run = drive(&mut initiator, &mut responder, |_, _| {});
        prop_assert_eq!(run.error, None);
        prop_assert!(initiator.is_finished() && responder.is_finished());
        let (ours, theirs) = (id_set(&ours), id_set(&theirs));
        let mut need = run.need.clone();
        need.sort_unstable();
        let mut have = run.have.clone();
        have.sort_unstable();
        let expected_need: Vec<PostId> = (&theirs - &ours).into_iter().collect();
        let expected_have: Vec<PostId> = (&ours - &theirs).into_iter().collect();
        prop_assert_eq!(need, expected_need, "needed ids, each exactly once");
        prop_assert_eq!(have, expected_have, "had ids, each exactly once");
        prop_assert_eq!(initiator.outcome().need, run.need.len() as u64);
        prop_assert_eq!(initiator.outcome().have, run.have.len() as u64);
    }
}

/// A responder that answers every frame with a fingerprint that never matches keeps
/// the initiator splitting forever; the initiator stops at `MAX_RECONCILE_ROUNDS`.
#[test]
fn a_peer_that_never_converges_is_cut_off_at_the_round_limit() {
    let mut initiator =
        SyncSession::initiate(space(), [], SyncConfig::default()).expect("initiator");
    let mut stubborn = vec![0x61, 0x00, 0x00, 0x01];
    stubborn.extend_from_slice(&[0xee; 16]);
    let mut rounds = 0;
    let error = loop {
        while initiator.poll_output().is_some() {}
        rounds += 1;
        let reply = Message::ReconcileFrame {
            space: space(),
            frame: ByteString(stubborn.clone()),
        };
        if let Err(error) = initiator.handle(Input::Received(reply)) {
            break error;
        }
        assert!(
            rounds <= MAX_RECONCILE_ROUNDS,
            "initiator went past the limit"
        );
    };
    assert_eq!(
        error,
        SyncError::TooManyRounds {
            limit: MAX_RECONCILE_ROUNDS
        }
    );
    assert_eq!(rounds, MAX_RECONCILE_ROUNDS);
}

/// An initiator that keeps sending mismatching fingerprints is refused by the
/// responder once the round limit is reached.
#[test]
fn a_responder_refuses_frames_past_the_round_limit() {
    let items: Vec<Item> = (0u8..64)
        .map(|n| {
            Item::new(
                Timestamp::from_millis(u64::from(n)),
                PostId::from_bytes([n; 32]),
            )
        })
        .collect();
    let config = SyncConfig::default().with_max_rounds(5);
    let mut responder = SyncSession::respond(space(), items, config).expect("responder");
    let mut stubborn = vec![0x61, 0x00, 0x00, 0x01];
    stubborn.extend_from_slice(&[0xee; 16]);
    let open = Message::ReconcileOpen {
        space: space(),
        frame: ByteString(stubborn.clone()),
    };
    responder
        .handle(Input::Received(open))
        .expect("first round");
    for _ in 1..5 {
        while responder.poll_output().is_some() {}
        let frame = Message::ReconcileFrame {
            space: space(),
            frame: ByteString(stubborn.clone()),
        };
        responder
            .handle(Input::Received(frame))
            .expect("within the limit");
    }
    let frame = Message::ReconcileFrame {
        space: space(),
        frame: ByteString(stubborn),
    };
    assert_eq!(
        responder.handle(Input::Received(frame)),
        Err(SyncError::TooManyRounds { limit: 5 })
    );
}
