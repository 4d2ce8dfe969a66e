//! Federation between several nodes in this process over real QUIC on loopback: a full
//! mesh, a partition and its healing, edits, retractions and unsharing, restarts and
//! crashes, a stranger that is nobody's peer, and new replicas catching up with large
//! spaces. Every scenario also checks that a private space never leaves its home.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use parley_protocol::Post;
use parley_protocol::content::{Content, Edit, Reaction, Retraction};
use parley_tests::cluster::{TestPeer, run, test_config, until};
use parley_tests::history::{Rng, SpaceBuilder};
use parley_tests::scenario::{
    Nodes, all_show, assert_private, corpus_space, ids_of, mesh, never, peer_both,
    peer_through_links, post_at, private_space, reference, reply, same_shown, thread,
};

/// How long any one convergence may take.
const WAIT: Duration = Duration::from_secs(30);

/// A space founded by key 1 at `home`, shared with `replicas`, with members 2..=`last`.
fn shared_space(
    name: &str,
    home: &TestPeer,
    replicas: &[&TestPeer],
    last: u8,
) -> (SpaceBuilder, Vec<Post>) {
    let mut builder = SpaceBuilder::new(name, 1, home.id());
    let mut posts = vec![builder.genesis.clone()];
    for peer in replicas {
        posts.push(builder.share(peer.id()));
    }
    for n in 2..=last {
        posts.push(builder.add_member(n));
    }
    (builder, posts)
}

/// `n` random discussion posts.
fn random_posts(builder: &mut SpaceBuilder, rng: &mut Rng, n: usize) -> Vec<Post> {
    (0..n).map(|_| builder.random_post(rng)).collect()
}

#[test]
fn five_nodes_in_a_mesh_converge_on_posts_written_at_each() {
    run(Duration::from_secs(120), async {
        let config = test_config(Duration::from_secs(5));
        let nodes = Nodes::start(&[111, 112, 113, 114, 115], &config).await;
        let peers = &nodes.peers;
        let all: Vec<&TestPeer> = peers.iter().collect();
        let mut rng = Rng::new(11);
        let (mut team, mut posts) = shared_space("mesh", &peers[0], &all[1..], 6);
        peers[0].publish(posts.clone()).await;
        let (internal, private) = private_space("internal", 20, peers[0].id(), &mut rng);
        peers[0].publish(private).await;
        mesh(peers);

        let space = team.space;
        let want = reference(space, &posts);
        until("every node to hold the space", WAIT, || {
            all_show(&all, &space, &want)
        })
        .await;

        // Four rounds, each node publishing five posts per round, while earlier ones
        // are still travelling: replies, edits and retractions often reach a node
        // before what they refer to.
        for _ in 0..4 {
            for peer in peers {
                let batch = random_posts(&mut team, &mut rng, 5);
                posts.extend(batch.iter().cloned());
                peer.publish(batch).await;
            }
        }
        let want = reference(space, &posts);
        until("every node to show every post", WAIT, || {
            all_show(&all, &space, &want)
        })
        .await;
        assert!(same_shown(&all, &space));
        assert_private(&internal, &all[1..]);
        for peer in &all[1..] {
            let status = peers[0].peer_status(&peer.id()).expect("a configured peer");
            assert!(status.connected, "{status:?}");
            assert_eq!(status.invalid, 0, "{status:?}");
        }
    });
}

#[test]
fn a_partition_keeps_each_side_to_itself_and_heals_to_one_view() {
    run(Duration::from_secs(120), async {
        let config = test_config(Duration::from_secs(1));
        let nodes = Nodes::start(&[121, 122, 123, 124], &config).await;
        let [a, b, c, d] = &nodes.peers[..] else {
            unreachable!("four nodes")
        };
        let all = [a, b, c, d];
        let mut rng = Rng::new(21);
        let (mut team, setup) = shared_space("split", a, &[b, c, d], 5);
        a.publish(setup.clone()).await;
        let (internal, private) = private_space("internal", 20, a.id(), &mut rng);
        a.publish(private).await;

        // West (A, B) and east (C, D) peer directly inside each half; every pair across
        // goes through two relays, one per dialing direction.
        peer_both(a, b);
        peer_both(c, d);
        let crossings = [
            peer_through_links(a, c).await,
            peer_through_links(a, d).await,
            peer_through_links(b, c).await,
            peer_through_links(b, d).await,
        ];
        let space = team.space;
        let want = reference(space, &setup);
        until("every node to hold the space", WAIT, || {
            all_show(&all, &space, &want)
        })
        .await;

        for crossing in &crossings {
            crossing.cut();
        }
        let mut west = Vec::new();
        let mut east = Vec::new();
        for _ in 0..5 {
            for (i, peer) in all.iter().enumerate() {
                let batch = random_posts(&mut team, &mut rng, 2);
                let side = if i < 2 { &mut west } else { &mut east };
                side.extend(batch.iter().cloned());
                peer.publish(batch).await;
            }
        }
        let west_view = reference(space, &[setup.clone(), west.clone()].concat());
        let east_view = reference(space, &[setup.clone(), east.clone()].concat());
        until("each side to converge on its own posts", WAIT, || {
            all_show(&[a, b], &space, &west_view) && all_show(&[c, d], &space, &east_view)
        })
        .await;
        // The connections across die once QUIC's idle timeout passes; neither side got
        // anything of the other's meanwhile.
        until("the connections across to drop", WAIT, || {
            [(a, c), (a, d), (b, c), (b, d)]
                .iter()
                .all(|(x, y)| x.peer_status(&y.id()).is_some_and(|s| !s.connected))
        })
        .await;
        let (west_ids, east_ids) = (ids_of(&west), ids_of(&east));
        for peer in [a, b] {
            assert!(peer.ids(&space).is_disjoint(&east_ids));
        }
        for peer in [c, d] {
            assert!(peer.ids(&space).is_disjoint(&west_ids));
        }

        for crossing in &crossings {
            crossing.heal();
        }
        let everything = [setup, west, east].concat();
        let want = reference(space, &everything);
        until("every node to show both sides' posts", WAIT, || {
            all_show(&all, &space, &want)
        })
        .await;
        assert!(same_shown(&all, &space));
        assert_private(&internal, &[b, c, d]);
    });
}

#[test]
fn edits_and_retractions_spread_and_an_unshared_node_gets_nothing_new() {
    run(Duration::from_secs(120), async {
        let config = test_config(Duration::from_secs(1));
        let nodes = Nodes::start(&[131, 132, 133], &config).await;
        let [a, b, c] = &nodes.peers[..] else {
            unreachable!("three nodes")
        };
        let all = [a, b, c];
        let mut rng = Rng::new(31);
        let (mut team, mut posts) = shared_space("edits", a, &[b, c], 3);
        a.publish(posts.clone()).await;
        let (internal, private) = private_space("internal", 20, a.id(), &mut rng);
        a.publish(private).await;
        mesh(&nodes.peers);
        let space = team.space;

        // A thread written at B, replies at C and A.
        let root = post_at(&team, 1, 0, thread("Plan", "First draft."));
        let first = post_at(&team, 2, 1, reply(root.id(), root.id(), "Looks good."));
        let second = post_at(&team, 0, 2, reply(root.id(), first.id(), "Agreed."));
        b.publish(vec![root.clone()]).await;
        c.publish(vec![first.clone()]).await;
        a.publish(vec![second.clone()]).await;
        posts.extend([root.clone(), first.clone(), second.clone()]);
        let want = reference(space, &posts);
        until("the thread to reach every node", WAIT, || {
            all_show(&all, &space, &want)
        })
        .await;

        // Its author edits the root (at C), the reply's author edits it (at A), the
        // founder retracts the second reply (at B), and someone reacts (at C).
        let edit_root = Content::Edit(Edit {
            target: root.id(),
            title: Some("Plan v2".into()),
            body: "Second draft.".into(),
        });
        let edit_first = Content::Edit(Edit {
            target: first.id(),
            title: None,
            body: "Looks good, with one change.".into(),
        });
        let retract = Content::Retraction(Retraction {
            target: second.id(),
        });
        let react = Content::Reaction(Reaction {
            target: root.id(),
            reaction: "🎉".into(),
        });
        let edit_root = post_at(&team, 1, 3, edit_root);
        let edit_first = post_at(&team, 2, 4, edit_first);
        let retract = post_at(&team, 0, 5, retract);
        let react = post_at(&team, 2, 6, react);
        c.publish(vec![edit_root.clone(), react.clone()]).await;
        a.publish(vec![edit_first.clone()]).await;
        b.publish(vec![retract.clone()]).await;
        posts.extend([edit_root, edit_first, retract, react]);
        let want = reference(space, &posts);
        until(
            "the edits and the retraction to reach every node",
            WAIT,
            || all_show(&all, &space, &want),
        )
        .await;
        assert!(same_shown(&all, &space));
        for peer in all {
            let view = peer.view(&space);
            let shown = view.thread(&root.id()).expect("the thread is shown");
            assert_eq!(shown.title, "Plan v2");
            assert_eq!(shown.reply_count, 1, "the retracted reply is hidden");
            let bodies: Vec<&str> = shown.posts.iter().map(|p| p.body.as_str()).collect();
            assert_eq!(bodies, ["Second draft.", "Looks good, with one change."]);
            assert!(shown.posts[0].edited && shown.posts[1].edited);
            assert!(shown.posts[0].reactions.contains_key("🎉"));
            assert!(!shown.posts.iter().any(|p| p.id == second.id()));
        }

        // The founder unshares the space from C at A. The removed node is sent the post
        // that removed it (and nothing else): wait until both B and C hold it.
        let unshare = team.unshare(c.id());
        a.publish(vec![unshare.clone()]).await;
        posts.push(unshare.clone());
        until("the unshare to reach B and C", WAIT, || {
            [b, c].iter().all(|p| {
                p.ids(&space).contains(&unshare.id())
                    && !p.view(&space).replicas().contains(&c.id())
            })
        })
        .await;

        // New posts at A reach B and never C. Absence can only be watched for a
        // bounded time: while B receives them (push, relay), then 1.5 s more, which
        // spans more than one sync interval (1 s plus up to a quarter of jitter), so
        // periodic reconciliation in both directions had its chance to leak them too.
        let later = random_posts(&mut team, &mut rng, 5);
        let later_ids = ids_of(&later);
        a.publish(later.clone()).await;
        posts.extend(later);
        until("B to get the new posts, and C none of them", WAIT, || {
            let at_c = c.ids(&space);
            assert!(at_c.is_disjoint(&later_ids), "a new post reached C");
            b.ids(&space).is_superset(&later_ids)
        })
        .await;
        never(
            "a new post reached C after the unshare",
            Duration::from_millis(1_500),
            || !c.ids(&space).is_disjoint(&later_ids),
        )
        .await;
        let want = reference(space, &posts);
        until("A and B to agree", WAIT, || {
            all_show(&[a, b], &space, &want)
        })
        .await;
        assert_private(&internal, &[b, c]);
    });
}

#[test]
fn a_stopped_or_crashed_node_catches_up_and_loses_nothing_it_acknowledged() {
    run(Duration::from_secs(120), async {
        let config = test_config(Duration::from_secs(1));
        let mut nodes = Nodes::start(&[141, 142, 143], &config).await;
        let mut rng = Rng::new(41);
        let (mut team, mut posts, internal, crossings) = {
            let [a, b, c] = &nodes.peers[..] else {
                unreachable!("three nodes")
            };
            let (team, posts) = shared_space("restarts", a, &[b, c], 4);
            a.publish(posts.clone()).await;
            let (internal, private) = private_space("internal", 20, a.id(), &mut rng);
            a.publish(private).await;
            // A and B peer directly; C only through relays, so it can be cut off.
            peer_both(a, b);
            let crossings = [
                peer_through_links(c, a).await,
                peer_through_links(c, b).await,
            ];
            (team, posts, internal, crossings)
        };
        let space = team.space;
        let want = reference(space, &posts);
        until("every node to hold the space", WAIT, || {
            all_show(&nodes.peers.iter().collect::<Vec<_>>(), &space, &want)
        })
        .await;

        // C stops cleanly; A and B go on writing; C restarts and catches up.
        nodes.peers[2].stop().await;
        for at in 0..2 {
            let batch = random_posts(&mut team, &mut rng, 15);
            posts.extend(batch.iter().cloned());
            nodes.peers[at].publish(batch).await;
        }
        let want = reference(space, &posts);
        let (ab, c) = nodes.peers.split_at_mut(2);
        until("A and B to agree while C is down", WAIT, || {
            all_show(&[&ab[0], &ab[1]], &space, &want)
        })
        .await;
        c[0].restart().await;
        let all: Vec<&TestPeer> = nodes.peers.iter().collect();
        until("C to catch up after its restart", WAIT, || {
            all_show(&all, &space, &want)
        })
        .await;

        // C, cut off, stores posts of its users, then crashes; A writes meanwhile. C's
        // posts exist nowhere else, so after the restart (still cut off) C must hold
        // every one it acknowledged.
        for crossing in &crossings {
            crossing.cut();
        }
        let acknowledged = random_posts(&mut team, &mut rng, 10);
        nodes.peers[2].publish(acknowledged.clone()).await;
        nodes.peers[2].crash();
        posts.extend(acknowledged.iter().cloned());
        let batch = random_posts(&mut team, &mut rng, 10);
        posts.extend(batch.iter().cloned());
        nodes.peers[0].publish(batch).await;
        nodes.peers[2].restart().await;
        let held = nodes.peers[2].ids(&space);
        assert!(
            held.is_superset(&ids_of(&acknowledged)),
            "a post C acknowledged before the crash is gone"
        );
        assert!(
            nodes.peers[0]
                .ids(&space)
                .is_disjoint(&ids_of(&acknowledged))
        );

        for crossing in &crossings {
            crossing.heal();
        }
        let want = reference(space, &posts);
        let all: Vec<&TestPeer> = nodes.peers.iter().collect();
        until("every node to agree after the crash", WAIT, || {
            all_show(&all, &space, &want)
        })
        .await;
        assert!(same_shown(&all, &space));
        assert_private(&internal, &all[1..]);
    });
}

#[test]
fn a_node_that_is_nobodys_peer_gets_nothing() {
    run(Duration::from_secs(60), async {
        let config = test_config(Duration::from_secs(1));
        let nodes = Nodes::start(&[151, 152, 153, 154], &config).await;
        let [a, b, replica, stranger] = &nodes.peers[..] else {
            unreachable!("four nodes")
        };
        let mut rng = Rng::new(51);
        let (mut team, mut posts) = shared_space("guarded", a, &[b, replica], 3);
        posts.extend(random_posts(&mut team, &mut rng, 20));
        a.publish(posts.clone()).await;
        let (internal, private) = private_space("internal", 20, a.id(), &mut rng);
        a.publish(private).await;
        peer_both(a, b);
        // Both dial A, which configures neither: A takes the replica (it is in the
        // replica set of a space A holds) and refuses the stranger.
        replica.peer_with(a, a.addr);
        stranger.peer_with(a, a.addr);

        let space = team.space;
        let want = reference(space, &posts);
        until("B and the unconfigured replica to catch up", WAIT, || {
            all_show(&[b, replica], &space, &want)
        })
        .await;
        until("the stranger to have been refused", WAIT, || {
            stranger
                .peer_status(&a.id())
                .is_some_and(|s| s.last_error.is_some() && !s.connected)
        })
        .await;
        // Its dialer keeps trying (backoff up to 0.5 s); watch several attempts.
        never(
            "the stranger got something, or A took it as a peer",
            Duration::from_millis(1_500),
            || {
                !stranger.spaces().is_empty()
                    || a.peer_status(&stranger.id()).is_some_and(|s| s.connected)
            },
        )
        .await;
        assert!(stranger.ids(&space).is_empty());
        assert!(a.peer_status(&stranger.id()).is_none_or(|s| !s.connected));
        let status = a
            .peer_status(&replica.id())
            .expect("the replica is connected");
        assert!(status.connected && status.address.is_none(), "{status:?}");
        assert_private(&internal, &[b, replica, stranger]);
    });
}

/// A node that joins a space of `posts` at `a` catches up in full; returns how long
/// that took.
async fn join(
    a: &TestPeer,
    b: &TestPeer,
    space: parley_protocol::SpaceId,
    posts: &[Post],
) -> Duration {
    let want = reference(space, posts);
    let started = Instant::now();
    peer_both(a, b);
    until(
        "the new replica to catch up",
        Duration::from_secs(240),
        || all_show(&[b], &space, &want),
    )
    .await;
    started.elapsed()
}

#[test]
fn a_new_replica_catches_up_with_three_thousand_posts() {
    run(Duration::from_secs(300), async {
        let config = test_config(Duration::from_secs(5));
        let nodes = Nodes::start(&[161, 162], &config).await;
        let [a, b] = &nodes.peers[..] else {
            unreachable!("two nodes")
        };
        let mut rng = Rng::new(61);
        let (mut team, mut posts) = shared_space("big", a, &[b], 8);
        posts.extend(random_posts(&mut team, &mut rng, 3_000));
        a.publish(posts.clone()).await;
        let (internal, private) = private_space("internal", 20, a.id(), &mut rng);
        a.publish(private).await;
        let took = join(a, b, team.space, &posts).await;
        eprintln!("3,000 posts: a new replica caught up in {took:?}");
        assert!(same_shown(&[a, b], &team.space));
        assert_private(&internal, &[b]);
    });
}

#[test]
fn a_new_replica_catches_up_with_ten_thousand_corpus_messages() {
    run(Duration::from_secs(600), async {
        let config = test_config(Duration::from_secs(5));
        let nodes = Nodes::start(&[171, 172], &config).await;
        let [a, b] = &nodes.peers[..] else {
            unreachable!("two nodes")
        };
        let built = Instant::now();
        let Some(corpus) = corpus_space(10_000, a.id(), b.id()) else {
            return;
        };
        eprintln!(
            "corpus: {} messages, {} envelope bytes, {} posts, signed in {:?}",
            corpus.messages,
            corpus.bytes,
            corpus.posts.len(),
            built.elapsed()
        );
        let stored = Instant::now();
        for chunk in corpus.posts.chunks(1_000) {
            a.publish(chunk.to_vec()).await;
        }
        eprintln!("corpus: stored at A in {:?}", stored.elapsed());
        let mut rng = Rng::new(71);
        let (internal, private) = private_space("internal", 20, a.id(), &mut rng);
        a.publish(private).await;
        let took = join(a, b, corpus.space, &corpus.posts).await;
        eprintln!("corpus: a new replica caught up in {took:?}");
        assert!(same_shown(&[a, b], &corpus.space));
        let threads = b.view(&corpus.space).threads().len();
        let ids: BTreeSet<_> = b.ids(&corpus.space);
        assert_eq!(ids, ids_of(&corpus.posts));
        assert!(threads > 0);
        assert_private(&internal, &[b]);
    });
}
