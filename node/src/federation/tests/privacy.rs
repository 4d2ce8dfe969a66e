//! The privacy rule (spec 7.9) against a probe peer that is a replica of one space and
//! asks, by id, for posts of spaces it does not replicate: on the control stream, on a
//! reconciliation stream, by `Have`, and by being named in an unshare of a space it
//! never held. Every answer about a forbidden id or space must be the answer about an
//! unknown one.

use std::collections::BTreeSet;

use parley_protocol::content::{Content, Genesis, Replica, Thread};
use parley_protocol::encoding::BoundedVec;
use parley_protocol::sync::{Output, SyncConfig, SyncSession};
use parley_protocol::wire::{ErrorCode, Message};
use parley_protocol::{Post, PostId, SecretKey, SpaceId, Timestamp};

use crate::clock;
use crate::server::NodeHandle;
use crate::storage::Storage;
use crate::transport;

use super::{HandPeer, key, within};
use crate::federation::FederationConfig;

/// A node holding `shared`, replicated with the probe, and two private spaces.
struct Fixture {
    _dir: tempfile::TempDir,
    node: NodeHandle,
    founder: SecretKey,
    probe: SecretKey,
    shared: SpaceId,
    /// A thread of `shared`.
    shared_thread: Post,
    /// Every post of the two private spaces.
    private: Vec<Post>,
    /// The private spaces.
    private_spaces: [SpaceId; 2],
}

fn at(offset_ms: u64) -> Timestamp {
    Timestamp::from_millis(clock::now().as_millis() - 600_000 + offset_ms)
}

fn sign(founder: &SecretKey, space: SpaceId, offset_ms: u64, content: Content) -> Post {
    Post::sign(founder, space, at(offset_ms), content, clock::now()).unwrap()
}

fn genesis(founder: &SecretKey, home: &SecretKey, name: &str) -> Post {
    let genesis = Genesis {
        name: name.to_owned(),
        description: String::new(),
        home_node: home.node_id(),
        nonce: [name.len() as u8; 16],
    };
    Post::sign_genesis(founder, at(0), genesis, clock::now()).unwrap()
}

fn thread(title: &str) -> Content {
    Content::Thread(Thread {
        title: title.to_owned(),
        body: format!("the body of {title}"),
        mentions: BoundedVec::new(),
    })
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (node_key, founder, probe) = (key(1), key(2), key(8));
    let shared = genesis(&founder, &node_key, "shared");
    let s = shared.space();
    let share = sign(
        &founder,
        s,
        1,
        Content::ShareReplica(Replica {
            node: probe.node_id(),
        }),
    );
    let shared_thread = sign(&founder, s, 2, thread("open"));
    let mut private = Vec::new();
    let mut private_spaces = Vec::new();
    for name in ["private", "secret!"] {
        let genesis = genesis(&founder, &node_key, name);
        let space = genesis.space();
        private.push(sign(&founder, space, 3, thread(&format!("{name} plans"))));
        private.push(sign(
            &founder,
            space,
            4,
            thread(&format!("{name} salaries")),
        ));
        private.push(genesis);
        private_spaces.push(space);
    }
    let storage = Storage::open(dir.path()).unwrap();
    let mut posts = vec![shared, share, shared_thread.clone()];
    posts.extend(private.iter().cloned());
    storage.insert(&posts).unwrap();
    let config = FederationConfig::default();
    let node = crate::server::testing::start_on_loopback(node_key, storage, config);
    Fixture {
        _dir: dir,
        node,
        founder,
        probe,
        shared: s,
        shared_thread,
        private,
        private_spaces: [private_spaces[0], private_spaces[1]],
    }
}

impl Fixture {
    fn private_ids(&self) -> Vec<PostId> {
        self.private.iter().map(Post::id).collect()
    }
}

fn unknown_ids(n: usize) -> Vec<PostId> {
    (0..n)
        .map(|i| PostId::from_bytes([0xE0 + i as u8; 32]))
        .collect()
}

fn ids(list: Vec<PostId>) -> parley_protocol::wire::message::IdList {
    BoundedVec::try_from_vec(list).unwrap()
}

/// Reads the control stream until a `Posts` message arrives, skipping other messages;
/// returns its bytes.
async fn next_posts(peer: &mut HandPeer) -> Vec<u8> {
    for _ in 0..64 {
        let message = within(peer.receive()).await.expect("the stream ended");
        if matches!(message, Message::Posts { .. }) {
            return message.encode();
        }
    }
    panic!("no posts in 64 messages");
}

/// The spaces of the envelopes of a `Posts` message, by their ids.
fn posts_in(bytes: &[u8]) -> Vec<(SpaceId, PostId)> {
    match Message::decode(bytes).unwrap() {
        Message::Posts { envelopes, .. } => envelopes
            .into_vec()
            .into_iter()
            .map(|envelope| {
                (
                    parley_protocol::envelope::peek_space(&envelope.0).unwrap(),
                    PostId::of_bytes(&envelope.0),
                )
            })
            .collect(),
        other => panic!("not posts: {other:?}"),
    }
}

#[tokio::test]
async fn a_want_on_the_control_stream_gets_only_posts_of_its_own_shared_space() {
    let fx = within(fixture()).await;
    // The probe connects only as a replica of `shared`: it is no configured peer.
    let mut peer = within(HandPeer::connect(&fx.probe, &fx.node))
        .await
        .unwrap();
    assert_eq!(peer.offered, [fx.shared]);

    let mut forbidden = fx.private_ids();
    forbidden.push(fx.shared_thread.id());
    peer.send(&Message::Want {
        space: fx.shared,
        ids: ids(forbidden),
    })
    .await;
    let answer_forbidden = next_posts(&mut peer).await;
    assert_eq!(
        posts_in(&answer_forbidden),
        [(fx.shared, fx.shared_thread.id())],
        "only the post of the asked, shared space"
    );

    let mut unknown = unknown_ids(fx.private.len());
    unknown.push(fx.shared_thread.id());
    peer.send(&Message::Want {
        space: fx.shared,
        ids: ids(unknown),
    })
    .await;
    let answer_unknown = next_posts(&mut peer).await;
    assert_eq!(answer_forbidden, answer_unknown, "byte for byte");

    // Asked under the private spaces' own ids, the node refuses as for any space.
    for space in fx.private_spaces {
        peer.send(&Message::Want {
            space,
            ids: ids(fx.private_ids()),
        })
        .await;
        match within(peer.receive()).await {
            Some(Message::Error { code, .. }) => assert_eq!(code, ErrorCode::SpaceNotShared),
            other => panic!("expected space_not_shared, got {other:?}"),
        }
    }
    fx.node.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_want_on_a_reconciliation_stream_gets_only_posts_of_its_space() {
    let fx = within(fixture()).await;
    let peer = within(HandPeer::connect(&fx.probe, &fx.node))
        .await
        .unwrap();

    let mut answers = Vec::new();
    for asked in [fx.private_ids(), unknown_ids(fx.private.len())] {
        let (mut send, mut recv) = peer.connection.open_bi().await.unwrap();
        let mut session = SyncSession::initiate(fx.shared, [], SyncConfig::default()).unwrap();
        let Some(Output::Send(open)) = session.poll_output() else {
            panic!("no open frame")
        };
        transport::write_frame(&mut send, &open.encode())
            .await
            .unwrap();
        let mut asked = asked;
        asked.push(fx.shared_thread.id());
        let want = Message::Want {
            space: fx.shared,
            ids: ids(asked),
        };
        transport::write_frame(&mut send, &want.encode())
            .await
            .unwrap();
        send.finish().unwrap();
        let mut posts = Vec::new();
        for _ in 0..64 {
            let Some(bytes) = within(transport::read_frame(&mut recv, 1 << 22))
                .await
                .unwrap()
            else {
                break;
            };
            if matches!(Message::decode(&bytes).unwrap(), Message::Posts { .. }) {
                posts.push(bytes);
            }
        }
        assert_eq!(posts.len(), 1, "one answer");
        assert_eq!(posts_in(&posts[0]), [(fx.shared, fx.shared_thread.id())]);
        answers.push(posts);
    }
    assert_eq!(
        answers[0], answers[1],
        "forbidden ids are answered as unknown ones"
    );
    fx.node.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_have_of_ids_held_in_other_spaces_is_wanted_like_unknown_ids() {
    let fx = within(fixture()).await;
    let mut peer = within(HandPeer::connect(&fx.probe, &fx.node))
        .await
        .unwrap();
    let forbidden = fx.private_ids();
    let unknown = unknown_ids(forbidden.len());
    let mut announced = forbidden.clone();
    announced.extend(&unknown);
    announced.push(fx.shared_thread.id());
    peer.send(&Message::Have {
        space: fx.shared,
        ids: ids(announced),
    })
    .await;
    let mut wanted = BTreeSet::new();
    for _ in 0..64 {
        match within(peer.receive()).await.expect("the stream ended") {
            Message::Want { space, ids } => {
                assert_eq!(space, fx.shared);
                wanted.extend(ids.into_vec());
                if wanted.len() >= forbidden.len() + unknown.len() {
                    break;
                }
            }
            _ => continue,
        }
    }
    let expected: BTreeSet<PostId> = forbidden.into_iter().chain(unknown).collect();
    assert_eq!(
        wanted, expected,
        "every id not held in this space is wanted"
    );
    fx.node.shutdown().await.unwrap();
}

#[tokio::test]
async fn only_a_former_replica_is_told_of_its_removal() {
    let fx = within(fixture()).await;
    let mut peer = within(HandPeer::connect(&fx.probe, &fx.node))
        .await
        .unwrap();
    let [never, _] = fx.private_spaces;
    let probe = fx.probe.node_id();
    // Unshared from a space the probe never held: it must hear nothing of it.
    let unshare = sign(
        &fx.founder,
        never,
        10,
        Content::UnshareReplica(Replica { node: probe }),
    );
    fx.node.publish(vec![unshare.clone()]).await.unwrap();
    // A space the probe held and was removed from: it hears that one post.
    let held = genesis(&fx.founder, &key(1), "held once");
    let space = held.space();
    let share = sign(
        &fx.founder,
        space,
        1,
        Content::ShareReplica(Replica { node: probe }),
    );
    let removal = sign(
        &fx.founder,
        space,
        20,
        Content::UnshareReplica(Replica { node: probe }),
    );
    fx.node
        .publish(vec![held.clone(), share.clone()])
        .await
        .unwrap();
    fx.node.publish(vec![removal.clone()]).await.unwrap();
    // Then a post of the shared space, pushed after them on the same stream.
    let later = sign(&fx.founder, fx.shared, 30, thread("later"));
    fx.node.publish(vec![later.clone()]).await.unwrap();

    let mut received = Vec::new();
    while !received.contains(&(fx.shared, later.id())) {
        received.extend(posts_in(&next_posts(&mut peer).await));
    }
    assert!(
        !received.iter().any(|(s, _)| *s == never),
        "a node that never held a space hears nothing of it: {received:?}"
    );
    assert!(received.contains(&(space, removal.id())), "{received:?}");

    // Asked about the space it was never in, the node answers as about a random space.
    let mut answers = Vec::new();
    let random = SpaceId::from_bytes([0xAB; 32]);
    for space in [never, random] {
        let open = Message::ReconcileOpen {
            space,
            frame: parley_protocol::encoding::ByteString(vec![0x61, 0x00, 0x00]),
        };
        match within(peer.open(&open)).await.expect("an answer") {
            Message::Error {
                code,
                space: of,
                text,
            } => {
                assert_eq!(of, Some(space));
                answers.push((code, text));
            }
            other => panic!("expected an error alone, got {other:?}"),
        }
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0].0, ErrorCode::SpaceNotShared);
    fx.node.shutdown().await.unwrap();
}
