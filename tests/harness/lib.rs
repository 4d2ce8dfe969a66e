//! Test harness for Parley's scenario tests: in-memory replicas that reconcile through
//! the real wire encoding and the real validation, fixtures, and access to the real
//! binaries.
//!
//! A [`Replica`] stands for a node's store of posts. Two replicas reconcile a space with
//! [`sync_space`], which drives the protocol's sans-IO session on both sides, passes
//! every message through `Message::encode`/`Message::decode`, and admits every
//! transferred envelope only through `Post::decode`, exactly as a node will.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

pub mod cluster;
pub mod corpus;
pub mod history;
pub mod link;
pub mod netns;
pub mod orgs;
pub mod process;
pub mod scenario;
pub mod transcript;

use parley_protocol::sync::{Input, Item, Output, SyncConfig, SyncSession};
use parley_protocol::view::SpaceView;
use parley_protocol::wire::{self, Message};
use parley_protocol::{NodeId, Post, PostId, SecretKey, SpaceId, Timestamp};

/// The clock every scenario validates against.
pub const NOW: Timestamp = Timestamp(1_795_564_800_000);

/// A node's posts, by space, and its identity.
#[derive(Debug)]
pub struct Replica {
    /// This replica's node id.
    pub node: NodeId,
    spaces: BTreeMap<SpaceId, BTreeMap<PostId, Post>>,
    /// Envelopes refused on ingest, by error code.
    pub refused: BTreeMap<&'static str, u64>,
}

/// What one reconciliation moved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Transfer {
    /// Posts the initiator received.
    pub to_initiator: usize,
    /// Posts the responder received.
    pub to_responder: usize,
    /// Responder frames exchanged.
    pub rounds: u32,
    /// Bytes of every encoded message, both ways.
    pub bytes: u64,
}

impl Replica {
    /// An empty replica for the node with this key.
    pub fn new(node_key: &SecretKey) -> Self {
        Self {
            node: node_key.node_id(),
            spaces: BTreeMap::new(),
            refused: BTreeMap::new(),
        }
    }

    /// Stores a post written at this node (a user's client handed it over).
    pub fn write(&mut self, post: Post) {
        self.spaces
            .entry(post.space())
            .or_default()
            .insert(post.id(), post);
    }

    /// Validates and stores envelope bytes from a peer; refusals are counted.
    pub fn ingest(&mut self, bytes: &[u8]) {
        match Post::decode(bytes, NOW) {
            Ok(post) => self.write(post),
            Err(error) => *self.refused.entry(error.code()).or_default() += 1,
        }
    }

    /// The posts of `space` this replica holds.
    pub fn posts(&self, space: &SpaceId) -> Vec<&Post> {
        self.spaces
            .get(space)
            .map(|p| p.values().collect())
            .unwrap_or_default()
    }

    /// How many posts of `space` this replica holds.
    pub fn count(&self, space: &SpaceId) -> usize {
        self.spaces.get(space).map_or(0, BTreeMap::len)
    }

    /// The ids this replica holds of `space`.
    pub fn ids(&self, space: &SpaceId) -> BTreeSet<PostId> {
        self.spaces
            .get(space)
            .map(|p| p.keys().copied().collect())
            .unwrap_or_default()
    }

    /// The view of `space` from this replica's posts.
    pub fn view(&self, space: &SpaceId) -> SpaceView {
        SpaceView::fold(*space, self.posts(space))
    }

    /// Each held space's replica set, as this replica's posts say.
    pub fn replica_sets(&self) -> BTreeMap<SpaceId, BTreeSet<NodeId>> {
        self.spaces
            .keys()
            .map(|space| (*space, self.view(space).replicas().clone()))
            .collect()
    }

    fn items(&self, space: &SpaceId) -> Vec<Item> {
        self.posts(space)
            .iter()
            .map(|p| Item::new(p.created_at(), p.id()))
            .collect()
    }

    fn envelopes(&self, space: &SpaceId, ids: &[PostId]) -> Vec<Vec<u8>> {
        let posts = self.spaces.get(space);
        ids.iter()
            .filter_map(|id| posts.and_then(|p| p.get(id)))
            .map(|p| p.bytes().to_vec())
            .collect()
    }
}

/// Encodes and decodes `message` as the wire would, counting its bytes.
fn over_the_wire(message: &Message, bytes: &mut u64) -> Message {
    let encoded = message.encode();
    *bytes += encoded.len() as u64;
    Message::decode(&encoded).expect("a message a session built decodes")
}

/// Moves envelopes from `from` to `to` in bounded `Posts` batches.
fn send_posts(
    from: &Replica,
    to: &mut Replica,
    space: SpaceId,
    ids: &[PostId],
    bytes: &mut u64,
) -> usize {
    let batches =
        wire::post_batches(space, from.envelopes(&space, ids)).expect("valid envelopes fit");
    let mut moved = 0;
    for batch in batches {
        if let Message::Posts { envelopes, .. } = over_the_wire(&batch, bytes) {
            for envelope in envelopes.iter() {
                to.ingest(&envelope.0);
                moved += 1;
            }
        }
    }
    moved
}

/// Reconciles every space the two replicas may share, `a` initiating. A space is
/// reconciled only if each side's own view puts the other in its replica set, as the
/// privacy rule demands.
pub fn sync_pair(a: &mut Replica, b: &mut Replica) -> Transfer {
    let offered: Vec<SpaceId> = wire::spaces_to_offer(&b.node, &a.replica_sets())
        .into_iter()
        .collect();
    // `b` answers the offered spaces it may share with `a`, and the ones it does not hold
    // yet (it accepts new spaces from its peers; an empty set reveals nothing).
    let held = b.replica_sets();
    let mut answered = wire::spaces_to_answer(&a.node, &held, &offered);
    answered.extend(offered.iter().filter(|space| !held.contains_key(space)));
    let mut total = Transfer::default();
    for space in answered {
        let t = sync_space(a, b, space);
        total.to_initiator += t.to_initiator;
        total.to_responder += t.to_responder;
        total.rounds += t.rounds;
        total.bytes += t.bytes;
    }
    total
}

/// Reconciles one space between two replicas, `a` initiating.
pub fn sync_space(a: &mut Replica, b: &mut Replica, space: SpaceId) -> Transfer {
    let config = SyncConfig::default();
    let mut initiator =
        SyncSession::initiate(space, a.items(&space), config).expect("session starts");
    let mut responder =
        SyncSession::respond(space, b.items(&space), config).expect("session starts");
    let mut transfer = Transfer::default();
    for _ in 0..1_000 {
        let mut to_responder = Vec::new();
        let mut finished = false;
        while let Some(output) = initiator.poll_output() {
            match output {
                Output::Send(message) => {
                    to_responder.push(over_the_wire(&message, &mut transfer.bytes))
                }
                Output::Need(ids) => {
                    for want in wire::want_batches(space, &ids) {
                        if let Message::Want { ids, .. } = over_the_wire(&want, &mut transfer.bytes)
                        {
                            transfer.to_initiator +=
                                send_posts(b, a, space, &ids, &mut transfer.bytes);
                        }
                    }
                }
                Output::Have(ids) => {
                    transfer.to_responder += send_posts(a, b, space, &ids, &mut transfer.bytes)
                }
                Output::Finished(outcome) => {
                    transfer.rounds = outcome.rounds;
                    finished = true;
                }
                _ => {}
            }
        }
        if finished {
            return transfer;
        }
        for message in to_responder {
            responder
                .handle(Input::Received(message))
                .expect("responder accepts the initiator's frames");
        }
        while let Some(output) = responder.poll_output() {
            if let Output::Send(message) = output {
                let message = over_the_wire(&message, &mut transfer.bytes);
                initiator
                    .handle(Input::Received(message))
                    .expect("initiator accepts the responder's frames");
            }
        }
    }
    panic!("reconciliation did not finish within 1,000 steps");
}

/// The fixed-seed key number `n`.
pub fn key(n: u8) -> SecretKey {
    SecretKey::from_seed(&[n; 32])
}

/// The root of the workspace.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The path of a workspace binary (`parleyd` or `parley`), built once per test run
/// with the same cargo that runs the tests.
pub fn binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<bool> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        Command::new(cargo)
            .current_dir(workspace_root())
            // The same targets' features as `cargo test --workspace` (dev-dependencies
            // included), so after that run this build is a no-op that only links the
            // binaries it built into place; other feature sets would rebuild and keep a
            // second copy of quinn, rustls, the node and the client in `target/`.
            .args(["build", "--workspace", "--tests", "--locked", "-q"])
            .status()
            .is_ok_and(|s| s.success())
    });
    assert!(built, "building the workspace binaries failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from);
    target.join("debug").join(name)
}
