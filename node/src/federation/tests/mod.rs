//! A node against a hand-driven peer speaking `parley/1` over real QUIC on loopback:
//! privacy of unshared spaces, and a peer that sends garbage being throttled, cut off
//! and refused. Every wait is bounded.

use std::future::Future;
use std::time::Duration;

use parley_protocol::api::NodeAddress;
use parley_protocol::content::{Content, Genesis, Replica, Thread};
use parley_protocol::encoding::{BoundedVec, ByteString};
use parley_protocol::gossip::ConductConfig;
use parley_protocol::wire::{ErrorCode, Message, WIRE_VERSION};
use parley_protocol::{NodeId, Post, SecretKey, SpaceId, Timestamp};

use crate::clock;
use crate::server::NodeHandle;
use crate::storage::Storage;
use crate::transport::{self, NODE_ALPN};

use super::FederationConfig;

const WAIT: Duration = Duration::from_secs(10);

async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(WAIT, future).await.expect("timed out")
}

fn key(seed: u8) -> SecretKey {
    SecretKey::from_seed(&[seed; 32])
}

/// A node on loopback whose store holds a space shared with node `shared_with`, and a
/// private space; `rogue` is a configured peer.
async fn node_with_spaces(
    dir: &std::path::Path,
    shared_with: NodeId,
    rogue: NodeId,
    config: FederationConfig,
) -> (NodeHandle, SpaceId, SpaceId) {
    let node_key = key(1);
    let founder = key(2);
    let now = clock::now();
    let at = Timestamp::from_millis(now.as_millis() - 60_000);
    let genesis = |name: &str| Genesis {
        name: name.to_owned(),
        description: String::new(),
        home_node: node_key.node_id(),
        nonce: [name.len() as u8; 16],
    };
    let shared = Post::sign_genesis(&founder, at, genesis("shared"), now).unwrap();
    let private = Post::sign_genesis(&founder, at, genesis("private!"), now).unwrap();
    let share = Post::sign(
        &founder,
        shared.space(),
        at.saturating_add_millis(1),
        Content::ShareReplica(Replica { node: shared_with }),
        now,
    )
    .unwrap();
    let storage = Storage::open(dir).unwrap();
    storage
        .insert(&[shared.clone(), private.clone(), share])
        .unwrap();
    storage
        .add_peer(&NodeAddress {
            node: rogue,
            host_port: "127.0.0.1:9".to_owned(),
        })
        .unwrap();
    let handle = crate::server::testing::start_on_loopback(node_key, storage, config);
    (handle, shared.space(), private.space())
}

/// A peer driven by hand: connected, `Hello`s exchanged on the control stream.
struct HandPeer {
    connection: quinn::Connection,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    offered: Vec<SpaceId>,
}

impl HandPeer {
    async fn connect(me: &SecretKey, node: &NodeHandle) -> Result<Self, String> {
        let addr = node.local_addr().unwrap();
        let endpoint = transport::client_endpoint(me, addr).unwrap();
        let connection = transport::connect(&endpoint, addr, node.id(), NODE_ALPN)
            .await
            .map_err(|e| e.to_string())?;
        let (mut send, mut recv) = connection.open_bi().await.map_err(|e| e.to_string())?;
        let hello = Message::Hello {
            versions: BoundedVec::try_from_vec(vec![WIRE_VERSION]).unwrap(),
            node: me.node_id(),
            spaces: BoundedVec::new(),
        };
        transport::write_frame(&mut send, &hello.encode())
            .await
            .map_err(|e| e.to_string())?;
        let reply = transport::read_frame(&mut recv, 1 << 22)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("no hello")?;
        let offered = match Message::decode(&reply).map_err(|e| e.to_string())? {
            Message::Hello { spaces, .. } => spaces.into_vec(),
            other => return Err(format!("expected a hello, got {other:?}")),
        };
        Ok(Self {
            connection,
            send,
            recv,
            offered,
        })
    }

    async fn send(&mut self, message: &Message) {
        transport::write_frame(&mut self.send, &message.encode())
            .await
            .unwrap();
    }

    async fn receive(&mut self) -> Option<Message> {
        let bytes = transport::read_frame(&mut self.recv, 1 << 22)
            .await
            .ok()??;
        Message::decode(&bytes).ok()
    }

    /// Opens a reconciliation stream with `first` and returns the node's first answer.
    async fn open(&self, first: &Message) -> Option<Message> {
        let (mut send, mut recv) = self.connection.open_bi().await.ok()?;
        transport::write_frame(&mut send, &first.encode())
            .await
            .ok()?;
        let bytes = transport::read_frame(&mut recv, 1 << 22).await.ok()??;
        Message::decode(&bytes).ok()
    }
}

#[tokio::test]
async fn a_peer_outside_the_replica_set_learns_nothing_of_a_space() {
    let dir = tempfile::tempdir().unwrap();
    let rogue = key(9);
    let (node, shared, private) = within(node_with_spaces(
        dir.path(),
        key(8).node_id(),
        rogue.node_id(),
        FederationConfig::default(),
    ))
    .await;
    let mut peer = within(HandPeer::connect(&rogue, &node)).await.unwrap();
    // Neither space is offered to a node outside their replica sets.
    assert!(peer.offered.is_empty(), "{:?}", peer.offered);

    // Asked about the shared space, the private one or an unknown one, the node answers
    // alike, so the answers reveal nothing.
    let unknown = SpaceId::from_bytes([7; 32]);
    let mut answers = Vec::new();
    for space in [shared, private, unknown] {
        let open = Message::ReconcileOpen {
            space,
            frame: ByteString(vec![0x61, 0x00, 0x00]),
        };
        let answer = within(peer.open(&open)).await.expect("an answer");
        match answer {
            Message::Error {
                code,
                space: of,
                text,
            } => {
                assert_eq!(code, ErrorCode::SpaceNotShared, "{text}");
                assert_eq!(of, Some(space));
                answers.push(text);
            }
            other => panic!("expected space_not_shared, got {other:?}"),
        }
        let want = Message::Want {
            space,
            ids: BoundedVec::new(),
        };
        peer.send(&want).await;
        match within(peer.receive()).await {
            Some(Message::Error { code, text, .. }) => {
                assert_eq!(code, ErrorCode::SpaceNotShared, "{text}")
            }
            other => panic!("expected space_not_shared, got {other:?}"),
        }
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_peer_sending_garbage_is_cut_off_and_refused() {
    let dir = tempfile::tempdir().unwrap();
    let rogue = key(9);
    let config = FederationConfig::default().with_conduct(ConductConfig {
        window_ms: 60_000,
        throttle_after: 4,
        disconnect_after: 20,
        ban_ms: 60_000,
    });
    let (node, shared, _) = within(node_with_spaces(
        dir.path(),
        rogue.node_id(),
        rogue.node_id(),
        config,
    ))
    .await;
    let mut peer = within(HandPeer::connect(&rogue, &node)).await.unwrap();
    assert_eq!(peer.offered, [shared]);

    // Envelopes signed by nobody, or by a key that did not sign them: each is refused.
    let now = clock::now();
    let valid = Post::sign(
        &key(3),
        shared,
        Timestamp::from_millis(now.as_millis() - 1_000),
        Content::Thread(Thread {
            title: "hi".to_owned(),
            body: "hello".to_owned(),
            mentions: BoundedVec::new(),
        }),
        now,
    )
    .unwrap();
    let mut forged = valid.bytes().to_vec();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    let garbage = Message::Posts {
        space: shared,
        envelopes: BoundedVec::try_from_vec(vec![ByteString(forged), ByteString(vec![1, 2, 3])])
            .unwrap(),
    };
    // Twice the disconnect threshold's worth, then the node must close the connection.
    for _ in 0..20 {
        if transport::write_frame(&mut peer.send, &garbage.encode())
            .await
            .is_err()
        {
            break;
        }
    }
    within(peer.connection.closed()).await;
    let status = node
        .peers()
        .into_iter()
        .find(|p| p.node == rogue.node_id())
        .unwrap();
    assert!(status.invalid >= 20, "{status:?}");
    assert_eq!(status.posts_received, 0);
    assert!(
        node.items(&shared).unwrap().len() == 2,
        "nothing invalid was stored"
    );

    // Banned: a new connection is refused.
    assert!(within(HandPeer::connect(&rogue, &node)).await.is_err());
    node.shutdown().await.unwrap();
}
mod bounds;
mod privacy;

#[tokio::test]
async fn a_refused_hello_is_explained_before_the_connection_closes() {
    let dir = tempfile::tempdir().unwrap();
    let rogue = key(9);
    let (node, _, _) = within(node_with_spaces(
        dir.path(),
        rogue.node_id(),
        rogue.node_id(),
        FederationConfig::default(),
    ))
    .await;
    let addr = node.local_addr().unwrap();
    let endpoint = transport::client_endpoint(&rogue, addr).unwrap();
    let connection = within(transport::connect(&endpoint, addr, node.id(), NODE_ALPN))
        .await
        .unwrap();
    let (mut send, mut recv) = connection.open_bi().await.unwrap();
    // A hello naming another node than the key that connected.
    let hello = Message::Hello {
        versions: BoundedVec::try_from_vec(vec![WIRE_VERSION]).unwrap(),
        node: key(10).node_id(),
        spaces: BoundedVec::new(),
    };
    transport::write_frame(&mut send, &hello.encode())
        .await
        .unwrap();
    let bytes = within(transport::read_frame(&mut recv, 1 << 20))
        .await
        .expect("the explanation arrives before the close")
        .expect("a frame");
    match Message::decode(&bytes).unwrap() {
        Message::Error { text, .. } => assert!(!text.is_empty()),
        other => panic!("expected an error, got {other:?}"),
    }
    node.shutdown().await.unwrap();
}
