//! The sums kept incrementally answer as the items they sum: whatever order posts
//! arrive in and in whatever batches, with items removed (quarantined), across reopening
//! and after the sums are built again, a [`SpaceItems`] answers every question of the
//! reconciliation engine as the items held in memory do (small runs and groups under
//! test, so that both levels split).

use std::sync::OnceLock;

use parley_protocol::content::{Genesis, Thread};
use parley_protocol::encoding::BoundedVec;
use parley_protocol::sync::{Input, Output, SortedItems, SyncConfig, SyncSession};
use parley_protocol::{Content, NodeId, Post, PostId, SecretKey, Timestamp};
use proptest::prelude::*;

use super::*;
use crate::storage::testing::{NOW, reopen};

/// Two spaces of posts, many sharing a millisecond.
fn pool() -> &'static Vec<Post> {
    static POOL: OnceLock<Vec<Post>> = OnceLock::new();
    POOL.get_or_init(|| {
        let ada = SecretKey::from_seed(&[1; 32]);
        let mut posts = Vec::new();
        for name in ["ops", "dev"] {
            let genesis = Genesis {
                name: name.into(),
                description: String::new(),
                home_node: NodeId([9; 32]),
                nonce: [0; 16],
            };
            let genesis = Post::sign_genesis(&ada, NOW, genesis, NOW).unwrap();
            let space = genesis.space();
            posts.push(genesis);
            for i in 0..150u64 {
                let thread = Content::Thread(Thread {
                    title: format!("{name} {i}"),
                    body: String::new(),
                    mentions: BoundedVec::new(),
                });
                let at = Timestamp::from_millis(NOW.as_millis() - 1_000 * (i % 23));
                posts.push(Post::sign(&ada, space, at, thread, NOW).unwrap());
            }
        }
        posts
    })
}

/// What happens to the store, step by step.
#[derive(Clone, Debug)]
enum Step {
    /// Store this many of the posts not stored yet, as one batch.
    Store(usize),
    /// Quarantine the stored post at this place (modulo).
    Quarantine(usize),
    Reopen,
    /// Forget the sums and reopen: they are built again.
    Rebuild,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (1usize..40).prop_map(Step::Store),
        2 => any::<usize>().prop_map(Step::Quarantine),
        1 => Just(Step::Reopen),
        1 => Just(Step::Rebuild),
    ]
}

/// Every question the engine asks, of the store and of the same items in memory.
fn check(storage: &Storage, probes: &[usize]) -> Result<(), TestCaseError> {
    for space in storage.spaces().unwrap() {
        let expected = SortedItems::new(storage.items(&space).unwrap());
        let items = expected.as_slice();
        let _held = storage.hold_items();
        let index = storage.space_items(space);
        let n = items.len();
        prop_assert_eq!(index.count(), Ok(n));
        for (position, item) in items.iter().enumerate() {
            prop_assert_eq!(index.item(position), Ok(Some(*item)));
            prop_assert_eq!(index.rank(item), Ok(position));
            // Bounds between items: a millisecond later, and the id one more.
            let mut id = item.id.0;
            id[31] = id[31].wrapping_add(1);
            for bound in [
                Item::new(item.created_at, PostId::from_bytes(id)),
                Item::new(
                    item.created_at.saturating_add_millis(1),
                    PostId::from_bytes([0; 32]),
                ),
            ] {
                prop_assert_eq!(index.rank(&bound), expected.rank(&bound));
            }
        }
        prop_assert_eq!(index.item(n), Ok(None));
        for pair in probes.chunks(2) {
            let (a, b) = (pair[0] % (n + 1), pair.get(1).map_or(n, |b| b % (n + 1)));
            let (begin, end) = (a.min(b), a.max(b));
            prop_assert_eq!(index.sum(begin, end), expected.sum(begin, end));
            let mut walked = Vec::new();
            index
                .each(begin, end, &mut |position, item| {
                    walked.push((position, item));
                    walked.len() < 50
                })
                .unwrap();
            let mut wanted = Vec::new();
            expected
                .each(begin, end, &mut |position, item| {
                    wanted.push((position, item));
                    wanted.len() < 50
                })
                .unwrap();
            prop_assert_eq!(walked, wanted);
        }
        prop_assert_eq!(index.sum(0, n), expected.sum(0, n));
    }
    Ok(())
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(48);
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(cases)
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_sums_answer_as_the_items_do(
        seed in any::<u64>(),
        steps in prop::collection::vec(step(), 1..14),
        probes in prop::collection::vec(any::<usize>(), 8..24),
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let mut storage = reopen(tmp.path());
        // The pool in an order of this case's own.
        let mut order: Vec<&Post> = pool().iter().collect();
        let mut state = seed | 1;
        for i in (1..order.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            order.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let mut next = 0;
        for step in steps {
            match step {
                Step::Store(count) => {
                    let batch: Vec<Post> =
                        order.iter().skip(next).take(count).map(|p| (*p).clone()).collect();
                    next += batch.len();
                    storage.insert(&batch).unwrap();
                }
                Step::Quarantine(at) if next > 0 => {
                    let id = order[at % next].id();
                    storage.quarantine(&id, None, &StorageError::CommitterStopped).unwrap();
                }
                Step::Quarantine(_) => {}
                Step::Reopen => {
                    drop(storage);
                    storage = reopen(tmp.path());
                }
                Step::Rebuild => {
                    storage.db.remove(keys::SUMS_META).unwrap();
                    // Stale records of another layout are cleared by the build.
                    storage.db.insert(keys::sum(&SpaceId::from_bytes([3; 32]), 1, &LOWEST), &[1u8; 40][..]).unwrap();
                    drop(storage);
                    storage = reopen(tmp.path());
                }
            }
            check(&storage, &probes)?;
        }
    }
}

#[test]
fn a_space_reconciles_from_its_sums() {
    let tmp = tempfile::tempdir().unwrap();
    let storage = reopen(tmp.path());
    let posts = pool();
    storage.insert(&posts[..151]).unwrap();
    let space = posts[0].space();
    // The peer holds all but 30 of ours, and 20 we lack.
    let ours = storage.items(&space).unwrap();
    let theirs: Vec<Item> = ours
        .iter()
        .skip(30)
        .copied()
        .chain((0..20u8).map(|n| Item::new(NOW, PostId::from_bytes([n; 32]))))
        .collect();
    let mut initiator = {
        let _held = storage.hold_items();
        SyncSession::initiate_over(space, storage.space_items(space), SyncConfig::default())
            .unwrap()
    };
    let mut responder =
        SyncSession::respond_over(space, SortedItems::new(theirs), SyncConfig::default()).unwrap();
    let (mut have, mut need) = (Vec::new(), Vec::new());
    for _ in 0..20 {
        while let Some(output) = initiator.poll_output() {
            match output {
                Output::Send(message) => responder.handle(Input::Received(message)).unwrap(),
                Output::Have(ids) => have.extend(ids),
                Output::Need(ids) => need.extend(ids),
                _ => {}
            }
        }
        while let Some(output) = responder.poll_output() {
            if let Output::Send(message) = output {
                let _held = storage.hold_items();
                initiator.handle(Input::Received(message)).unwrap();
            }
        }
        if initiator.is_finished() {
            break;
        }
    }
    assert!(initiator.is_finished());
    let mut expected_have: Vec<PostId> = ours[..30].iter().map(|item| item.id).collect();
    expected_have.sort();
    have.sort();
    assert_eq!(have, expected_have);
    assert_eq!(
        need,
        (0..20u8)
            .map(|n| PostId::from_bytes([n; 32]))
            .collect::<Vec<_>>()
    );
}
