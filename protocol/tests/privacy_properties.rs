//! Properties of the privacy rule (`spec/07-sync-and-gossip.md`, 7.9) as a node answers
//! a peer's requests with it: for random spaces, replica histories, peers and requests
//! of every kind that names spaces or ids (`Want`, `Have`, `ReconcileOpen`, `Hello`),
//! nothing of a space goes to a node outside its replica set (but the one unshare that
//! removed a former replica), and every answer about something the peer may not see is
//! the answer about something the node does not hold: byte for byte, once the ids the
//! peer chose are renamed.
//!
//! The node side answers exactly as `parleyd` does (its `federation::gate` calls these
//! functions): a `Want` with the posts `may_receive` lets through, a `Have` with the ids
//! `ids_to_want` keeps (every id when the space is not readable), a `ReconcileOpen` over
//! the items only under `Access::Replica`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use parley_protocol::content::Content;
use parley_protocol::id::{NodeId, PostId, SpaceId};
use parley_protocol::view::SpaceView;
use parley_protocol::view::fixture::{SpaceFixture, key, share, thread, unshare};
use parley_protocol::wire::{
    Access, Message, access, ids_to_want, may_receive, spaces_to_answer, spaces_to_offer,
    want_batches,
};
use parley_protocol::{Post, encoding::BoundedVec};
use proptest::prelude::*;

/// Spaces held by the node.
const SPACES: usize = 3;
/// Nodes that may be shared with (keys 201 to 204); key 205 is never shared with.
const NODES: u8 = 5;

/// One held space: its fixture, its possible governance posts and its content posts.
struct Pool {
    fixture: SpaceFixture,
    /// Shares and unshares of each node, at distinct times, in pairs per node.
    governance: Vec<Post>,
    content: Vec<Post>,
}

fn node(n: u8) -> NodeId {
    key(200 + n).node_id()
}

fn pools() -> &'static [Pool] {
    static POOLS: OnceLock<Vec<Pool>> = OnceLock::new();
    POOLS.get_or_init(|| {
        (0..SPACES)
            .map(|s| {
                let fixture = SpaceFixture::new(1, &format!("space {s}"));
                let founder = key(1);
                let mut governance = Vec::new();
                for n in 1..NODES {
                    let base = i64::from(n) * 100;
                    governance.push(fixture.post(&founder, base, share(node(n))));
                    governance.push(fixture.post(&founder, base + 10, unshare(node(n))));
                    governance.push(fixture.post(&founder, base + 20, share(node(n))));
                    governance.push(fixture.post(&founder, base + 30, unshare(node(n))));
                }
                let content = (0..3)
                    .map(|t| fixture.post(&founder, 1_000 + t, thread(&format!("t{s}{t}"), "body")))
                    .collect();
                Pool {
                    fixture,
                    governance,
                    content,
                }
            })
            .collect()
    })
}

/// The node's state in one case: for each held space, the posts it holds.
struct Held {
    views: BTreeMap<SpaceId, SpaceView>,
    posts: BTreeMap<PostId, Post>,
}

impl Held {
    fn new(choices: &[Vec<bool>]) -> Self {
        let mut views = BTreeMap::new();
        let mut posts = BTreeMap::new();
        for (pool, chosen) in pools().iter().zip(choices) {
            let mut held: Vec<&Post> = pool
                .governance
                .iter()
                .zip(chosen)
                .filter(|(_, keep)| **keep)
                .map(|(post, _)| post)
                .collect();
            held.extend(&pool.content);
            views.insert(
                pool.fixture.space(),
                pool.fixture.view(held.iter().copied()),
            );
            for post in held.into_iter().chain([&pool.fixture.genesis]) {
                posts.insert(post.id(), post.clone());
            }
        }
        Self { views, posts }
    }

    fn view(&self, space: &SpaceId) -> Option<&SpaceView> {
        self.views.get(space)
    }

    fn held_in(&self, id: &PostId) -> Option<SpaceId> {
        self.posts.get(id).map(Post::space)
    }

    /// The node's answer to `Want { space, ids }` from `peer`: the envelopes it sends.
    fn answer_want(&self, peer: &NodeId, space: &SpaceId, ids: &[PostId]) -> Vec<Vec<u8>> {
        ids.iter()
            .filter_map(|id| self.posts.get(id))
            .filter(|post| may_receive(peer, space, &post.space(), &post.id(), self.view(space)))
            .map(|post| post.bytes().to_vec())
            .collect()
    }

    /// The node's answer to `Have { space, ids }` from `peer`: its `Want`s, encoded.
    fn answer_have(&self, peer: &NodeId, space: &SpaceId, ids: &[PostId]) -> Vec<Vec<u8>> {
        let wanted = if access(peer, self.view(space)) == Access::Replica {
            ids_to_want(space, ids.iter().copied(), |id| self.held_in(id))
        } else {
            ids_to_want(space, ids.iter().copied(), |_| None)
        };
        want_batches(*space, &wanted)
            .into_iter()
            .map(|m| m.encode())
            .collect()
    }

    /// Whether the node answers a `ReconcileOpen` of `space` from `peer` over its items.
    fn reconciles(&self, peer: &NodeId, space: &SpaceId) -> bool {
        access(peer, self.view(space)) == Access::Replica
    }

    fn replica_sets(&self) -> BTreeMap<SpaceId, BTreeSet<NodeId>> {
        self.views
            .iter()
            .map(|(space, view)| (*space, view.replicas().clone()))
            .collect()
    }
}

/// An id no node holds, numbered.
fn unknown(n: usize) -> PostId {
    let mut bytes = [0xF0; 32];
    bytes[..8].copy_from_slice(&(n as u64).to_le_bytes());
    PostId::from_bytes(bytes)
}

fn every_post_id() -> Vec<PostId> {
    let mut ids = Vec::new();
    for pool in pools() {
        ids.push(pool.fixture.genesis.id());
        ids.extend(pool.governance.iter().map(Post::id));
        ids.extend(pool.content.iter().map(Post::id));
    }
    ids
}

fn case() -> impl Strategy<Value = (Vec<Vec<bool>>, u8, usize, Vec<usize>)> {
    let governance = pools()[0].governance.len();
    (
        proptest::collection::vec(proptest::collection::vec(any::<bool>(), governance), SPACES),
        1..=NODES,
        0..SPACES + 1,
        proptest::collection::vec(0..every_post_id().len() + 4, 0..24),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    #[test]
    fn nothing_leaves_for_a_node_outside_the_replica_set(
        (choices, peer, asked, picks) in case()
    ) {
        let held = Held::new(&choices);
        let peer = node(peer);
        let all = every_post_id();
        // The space asked about: a held one, or one the node does not hold.
        let space = pools().get(asked).map_or(SpaceId::from_bytes([0xEE; 32]), |p| p.fixture.space());
        let mut seen = BTreeSet::new();
        let ids: Vec<PostId> = picks
            .iter()
            .map(|&i| all.get(i).copied().unwrap_or_else(|| unknown(i)))
            .filter(|id| seen.insert(*id))
            .collect();

        // Want: only posts of the asked space, to a replica, or the removal of a former one.
        for envelope in held.answer_want(&peer, &space, &ids) {
            let post = &held.posts[&PostId::of_bytes(&envelope)];
            prop_assert_eq!(post.space(), space);
            let view = held.view(&space).expect("a held space");
            let removal = matches!(post.content(), Content::UnshareReplica(r) if r.node == peer)
                && view.removal_of(&peer) == Some(post.id());
            prop_assert!(view.replicas().contains(&peer) || removal);
        }

        // Every id the peer may not have is answered as an unknown one, byte for byte:
        // rename the forbidden ids to fresh unknown ones and compare.
        let sent: BTreeSet<PostId> = held
            .answer_want(&peer, &space, &ids)
            .iter()
            .map(|e| PostId::of_bytes(e))
            .collect();
        let renamed: Vec<PostId> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| if sent.contains(id) { *id } else { unknown(1_000 + i) })
            .collect();
        prop_assert_eq!(
            held.answer_want(&peer, &space, &ids),
            held.answer_want(&peer, &space, &renamed)
        );

        // Have: an id held in another space, or in a space the peer may not read, is
        // wanted exactly as an unknown id is.
        let in_space = |id: &PostId| held.held_in(id) == Some(space);
        let readable = held.reconciles(&peer, &space);
        let renamed: Vec<PostId> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| if readable && in_space(id) { *id } else { unknown(2_000 + i) })
            .collect();
        let rename: BTreeMap<PostId, PostId> = ids.iter().copied().zip(renamed.iter().copied()).collect();
        let answer = held.answer_have(&peer, &space, &ids);
        let expected = held.answer_have(&peer, &space, &renamed);
        let translated: Vec<Vec<u8>> = answer
            .iter()
            .map(|bytes| match Message::decode(bytes).expect("our own message") {
                Message::Want { space, ids } => Message::Want {
                    space,
                    ids: BoundedVec::try_from_vec(
                        ids.into_vec().into_iter().map(|id| rename[&id]).collect(),
                    )
                    .expect("as many ids"),
                }
                .encode(),
                other => other.encode(),
            })
            .collect();
        prop_assert_eq!(translated, expected);

        // ReconcileOpen, Hello: a space is reconciled over its items, offered or answered
        // only for a replica; for anyone else it is answered as a space not held.
        prop_assert_eq!(
            held.reconciles(&peer, &space),
            held.view(&space).is_some_and(|v| v.replicas().contains(&peer))
        );
        let sets = held.replica_sets();
        for offered in spaces_to_offer(&peer, &sets) {
            prop_assert!(sets[&offered].contains(&peer));
        }
        let all_spaces: Vec<SpaceId> = sets.keys().copied().chain([space]).collect();
        for answered in spaces_to_answer(&peer, &sets, &all_spaces) {
            prop_assert!(sets[&answered].contains(&peer));
        }
        match access(&peer, held.view(&space)) {
            Access::Replica => prop_assert!(held.view(&space).is_some_and(|v| v.replicas().contains(&peer))),
            Access::Removed(removal) => {
                let post = &held.posts[&removal];
                prop_assert!(matches!(post.content(), Content::UnshareReplica(r) if r.node == peer));
                prop_assert!(!held.view(&space).is_some_and(|v| v.replicas().contains(&peer)));
            }
            Access::Nothing => prop_assert_eq!(access(&peer, None), Access::Nothing),
        }
    }
}
