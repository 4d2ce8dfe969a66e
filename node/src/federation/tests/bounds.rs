//! Bounds against a probe peer that does not read what it is sent: a reconciliation
//! responder stops reading a stream while its answers wait unread, so the bytes queued
//! for a peer stay bounded however many frames it sends.

use std::time::Duration;

use parley_protocol::content::{Content, Genesis, Replica, Thread};
use parley_protocol::encoding::BoundedVec;
use parley_protocol::sync::{Input, Item, Output, SyncConfig, SyncSession};
use parley_protocol::wire::Message;
use parley_protocol::{Post, PostId, Timestamp};

use crate::clock;
use crate::storage::Storage;
use crate::transport;

use super::{HandPeer, key, within};
use crate::federation::FederationConfig;
use crate::federation::reconcile::MAX_UNREAD_ANSWERS;

/// Items in the space: enough that an answer listing them is large.
const ITEMS: usize = 3_000;
/// Reconciliation streams the probe opens, and frames it sends on each.
const STREAMS: usize = 4;
const FRAMES: usize = 1_000;

#[tokio::test]
async fn a_peer_that_does_not_read_answers_is_not_answered_without_bound() {
    let dir = tempfile::tempdir().unwrap();
    let (node_key, founder, probe) = (key(1), key(2), key(8));
    let now = clock::now();
    let at = |ms: u64| Timestamp::from_millis(now.as_millis() - 3_600_000 + ms);
    let genesis = Genesis {
        name: "big".to_owned(),
        description: String::new(),
        home_node: node_key.node_id(),
        nonce: [3; 16],
    };
    let genesis = Post::sign_genesis(&founder, at(0), genesis, now).unwrap();
    let space = genesis.space();
    let share = Content::ShareReplica(Replica {
        node: probe.node_id(),
    });
    let mut posts = vec![
        genesis,
        Post::sign(&founder, space, at(1), share, now).unwrap(),
    ];
    for i in 0..ITEMS as u64 {
        let thread = Content::Thread(Thread {
            title: format!("t{i}"),
            body: String::new(),
            mentions: BoundedVec::new(),
        });
        posts.push(Post::sign(&founder, space, at(2 + i), thread, now).unwrap());
    }
    let storage = Storage::open(dir.path()).unwrap();
    storage.insert(&posts).unwrap();
    let items = storage.items(&space).unwrap();
    let config = FederationConfig::default();
    let node = crate::server::testing::start_on_loopback(node_key, storage, config);

    // A peer holding other posts of the same hours: its second frame makes the node
    // answer with lists of ids, and the node answers it again each time it comes.
    let theirs: Vec<Item> = (0..ITEMS as u64)
        .map(|i| {
            let mut id = [0u8; 32];
            id[..8].copy_from_slice(&(i * 7919 + 13).to_le_bytes());
            Item::new(at(2 + i), PostId::from_bytes(id))
        })
        .collect();
    let mut initiator = SyncSession::initiate(space, theirs, SyncConfig::default()).unwrap();
    let Some(Output::Send(open)) = initiator.poll_output() else {
        panic!("no open frame")
    };
    let Message::ReconcileOpen { frame, .. } = &open else {
        panic!("not an open")
    };
    // The same ranges asked again and again: each is answered with finer ranges and
    // their fingerprints, so the node keeps answering (up to its round limit).
    let again = Message::ReconcileFrame {
        space,
        frame: frame.clone(),
    };
    let mut responder = SyncSession::respond(space, items, SyncConfig::default()).unwrap();
    let answer_to = |responder: &mut SyncSession, message: &Message| {
        responder.handle(Input::Received(message.clone())).unwrap();
        match responder.poll_output() {
            Some(Output::Send(answer)) => answer.encoded_len(),
            other => panic!("{other:?}"),
        }
    };
    let answer = answer_to(&mut responder, &open);
    for _ in 0..3 {
        assert_eq!(answer_to(&mut responder, &again), answer, "answered again");
    }
    assert!(
        answer * FRAMES > 2 * (MAX_UNREAD_ANSWERS + answer),
        "the frames of a stream would queue only {} bytes unbounded",
        answer * FRAMES
    );

    // The probe opens reconciliations and sends frame after frame, never reading.
    let peer = within(HandPeer::connect(&probe, &node)).await.unwrap();
    let mut streams = Vec::new();
    for _ in 0..STREAMS {
        let (mut send, recv) = peer.connection.open_bi().await.unwrap();
        transport::write_frame(&mut send, &open.encode())
            .await
            .unwrap();
        for _ in 0..FRAMES {
            transport::write_frame(&mut send, &again.encode())
                .await
                .unwrap();
        }
        streams.push((send, recv));
    }
    // Let the node read and answer what it will.
    let mut queued = 0;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        queued = node
            .peers()
            .into_iter()
            .find(|p| p.node == probe.node_id())
            .map_or(0, |p| p.queued_bytes);
    }
    let bound = STREAMS * (MAX_UNREAD_ANSWERS + answer);
    assert!(
        queued as usize <= bound,
        "{queued} bytes queued for a peer that reads nothing (bound {bound})"
    );
    assert!(queued > 0, "the node did answer");
    drop(streams);
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_oversize_frame_on_a_reconciliation_stream_ends_that_stream_alone() {
    use parley_protocol::wire::ErrorCode;

    let dir = tempfile::tempdir().unwrap();
    let (node, shared, _) = within(super::node_with_spaces(
        dir.path(),
        key(8).node_id(),
        key(9).node_id(),
        FederationConfig::default(),
    ))
    .await;
    let mut peer = within(HandPeer::connect(&key(8), &node)).await.unwrap();
    let (mut send, mut recv) = peer.connection.open_bi().await.unwrap();
    // A length over the message bound, and none of the bytes.
    let over = u32::try_from(parley_protocol::limits::MAX_MESSAGE_BYTES + 1).unwrap();
    send.write_all(&over.to_le_bytes()).await.unwrap();
    let answer = within(transport::read_frame(&mut recv, 1 << 20))
        .await
        .unwrap()
        .expect("an explanation");
    match Message::decode(&answer).unwrap() {
        Message::Error { code, .. } => assert_eq!(code, ErrorCode::TooLarge),
        other => panic!("{other:?}"),
    }
    // The connection goes on: the control stream still answers.
    peer.send(&Message::Want {
        space: shared,
        ids: BoundedVec::new(),
    })
    .await;
    assert!(peer.connection.close_reason().is_none());
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_oversize_frame_on_the_control_stream_is_explained_before_the_connection_ends() {
    use parley_protocol::wire::ErrorCode;

    let dir = tempfile::tempdir().unwrap();
    let (node, _, _) = within(super::node_with_spaces(
        dir.path(),
        key(8).node_id(),
        key(9).node_id(),
        FederationConfig::default(),
    ))
    .await;
    let mut peer = within(HandPeer::connect(&key(8), &node)).await.unwrap();
    // A length over the message bound on the control stream, and none of the bytes.
    let over = u32::try_from(parley_protocol::limits::MAX_MESSAGE_BYTES + 1).unwrap();
    peer.send.write_all(&over.to_le_bytes()).await.unwrap();
    // The peer reads the node's control stream until the explanation (later Hellos
    // may come first), then the connection ends.
    let mut explained = false;
    for _ in 0..16 {
        match within(peer.receive()).await {
            Some(Message::Error { code, .. }) => {
                assert_eq!(code, ErrorCode::TooLarge);
                explained = true;
                break;
            }
            Some(_) => {}
            None => break,
        }
    }
    assert!(explained, "the node said why before it closed");
    within(peer.connection.closed()).await;
    node.shutdown().await.unwrap();
}
