//! The engine against the reference implementation (the `negentropy` crate): the same
//! frames, byte for byte, and the same differences; and frames that skip the format
//! check give errors, never panics.

use negentropy::{Id, Negentropy, NegentropyStorageVector};
use proptest::prelude::*;

use super::*;
use crate::sync::SortedItems;

/// Items as `(created_at, id)` pairs.
type Raw = Vec<(u64, [u8; 32])>;

fn items(raw: &[(u64, [u8; 32])]) -> SortedItems {
    SortedItems::new(
        raw.iter()
            .map(|(at, id)| Item::new(Timestamp::from_millis(*at), PostId::from_bytes(*id))),
    )
}

fn reference(items: &SortedItems, limit: usize) -> Negentropy<'static, NegentropyStorageVector> {
    let mut storage = NegentropyStorageVector::new();
    for item in items.as_slice() {
        storage
            .insert(item.created_at.as_millis(), Id::from_byte_array(item.id.0))
            .unwrap();
    }
    storage.seal().unwrap();
    Negentropy::owned(storage, limit as u64).unwrap()
}

/// Item sets with shared timestamps and ids sharing prefixes, so bounds need prefixes.
fn set() -> impl Strategy<Value = Raw> {
    let id = prop_oneof![
        any::<[u8; 32]>(),
        (1usize..24, any::<[u8; 32]>()).prop_map(|(shared, mut id)| {
            id[..shared].fill(0);
            id
        }),
    ];
    prop::collection::vec((0u64..50, id), 0..400)
}

fn pair() -> impl Strategy<Value = (Raw, Raw, usize)> {
    (
        set(),
        set(),
        prop::collection::vec(any::<bool>(), 400),
        any::<bool>(),
    )
        .prop_map(|(ours, theirs, shared, small)| {
            // Some of ours are theirs too.
            let mut theirs = theirs;
            theirs.extend(
                ours.iter()
                    .zip(&shared)
                    .filter(|(_, s)| **s)
                    .map(|(i, _)| *i),
            );
            (ours, theirs, if small { 4096 } else { 60_000 })
        })
}

fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(300)
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn frames_and_differences_are_the_reference_ones((ours, theirs, limit) in pair()) {
        let (ours, theirs) = (items(&ours), items(&theirs));
        let (mut initiator, mut responder) = (Engine::new(limit), Engine::new(limit));
        let (mut their_initiator, mut their_responder) =
            (reference(&ours, limit), reference(&theirs, limit));
        let mut query = initiator.initiate(&ours).unwrap();
        prop_assert_eq!(&query, &their_initiator.initiate().unwrap());
        let mut learned = Learned::default();
        let (mut have, mut need) = (Vec::new(), Vec::new());
        for _ in 0..100 {
            let answer = responder.answer(&theirs, &query).unwrap();
            prop_assert_eq!(&answer, &their_responder.reconcile(&query).unwrap());
            let next = initiator.learn(&ours, &answer, &mut learned).unwrap();
            let their_next = their_initiator.reconcile_with_ids(&answer, &mut have, &mut need).unwrap();
            prop_assert_eq!(&next, &their_next);
            match next {
                Some(next) => query = next,
                None => break,
            }
        }
        let have: Vec<PostId> = have.into_iter().map(|id| PostId::from_bytes(id.to_bytes())).collect();
        let need: BTreeSet<PostId> = need.into_iter().map(|id| PostId::from_bytes(id.to_bytes())).collect();
        prop_assert_eq!(learned.have, have);
        prop_assert_eq!(learned.need, need);
    }

    #[test]
    fn frames_that_skip_the_check_give_errors_not_panics(
        (ours, theirs, limit) in pair(),
        flips in prop::collection::vec((any::<usize>(), 1u8..=255), 0..4),
        cut in any::<usize>(),
        junk in prop::collection::vec(any::<u8>(), 0..80),
    ) {
        let (ours, theirs) = (items(&ours), items(&theirs));
        let mut frame = Engine::new(limit).initiate(&ours).unwrap();
        for (at, bits) in flips {
            let len = frame.len();
            frame[at % len] ^= bits;
        }
        frame.truncate(cut % (frame.len() + 1));
        frame.extend_from_slice(&junk);
        let _ = Engine::new(limit).answer(&theirs, &frame);
        let mut initiator = Engine::new(limit);
        let _ = initiator.initiate(&ours);
        let _ = initiator.learn(&ours, &frame, &mut Learned::default());
    }
}

#[test]
fn varints_are_those_of_the_frame_format() {
    for value in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
        let mut out = Vec::new();
        write_varint(value, &mut out);
        let mut input = out.as_slice();
        assert_eq!(read_varint(&mut input), Ok(value));
        assert!(input.is_empty());
    }
    let mut out = Vec::new();
    write_varint(128, &mut out);
    assert_eq!(out, [0x81, 0x00]);
}

/// An index that fails: the session's call fails with `ItemsUnreadable`.
struct Broken;

impl ItemIndex for Broken {
    fn count(&self) -> Result<usize, ItemsUnreadable> {
        Ok(100)
    }
    fn item(&self, _: usize) -> Result<Option<Item>, ItemsUnreadable> {
        Err(ItemsUnreadable)
    }
    fn each(
        &self,
        _: usize,
        _: usize,
        _: &mut dyn FnMut(usize, Item) -> bool,
    ) -> Result<(), ItemsUnreadable> {
        Err(ItemsUnreadable)
    }
    fn rank(&self, _: &Item) -> Result<usize, ItemsUnreadable> {
        Err(ItemsUnreadable)
    }
    fn sum(&self, _: usize, _: usize) -> Result<IdSum, ItemsUnreadable> {
        Err(ItemsUnreadable)
    }
}

#[test]
fn an_index_that_cannot_be_read_fails_the_session() {
    let space = crate::SpaceId::from_bytes([1; 32]);
    let error =
        crate::sync::SyncSession::initiate_over(space, Broken, crate::sync::SyncConfig::default());
    assert_eq!(error.err(), Some(SyncError::ItemsUnreadable));
}
