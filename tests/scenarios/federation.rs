//! Federation between nodes in this process over real QUIC on loopback: push and relay,
//! anti-entropy, privacy, partitions, restarts.

use std::time::Duration;

use parley_tests::cluster::{TestPeer, run, test_config, until};
use parley_tests::history::{Rng, SpaceBuilder};
use parley_tests::key;

const LIMIT: Duration = Duration::from_secs(20);

#[test]
fn a_post_made_at_a_reaches_c_through_b_and_a_private_space_stays_home() {
    run(Duration::from_secs(60), async {
        let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let config = test_config(Duration::from_secs(30));
        let a = TestPeer::start(key(101), dirs[0].path(), config.clone()).await;
        let b = TestPeer::start(key(102), dirs[1].path(), config.clone()).await;
        let c = TestPeer::start(key(103), dirs[2].path(), config.clone()).await;

        // Space `partners` at A, shared with B and C; `internal` at A, shared with no one.
        let mut partners = SpaceBuilder::new("partners", 1, a.id());
        let mut setup = vec![partners.genesis.clone()];
        setup.push(partners.share(b.id()));
        setup.push(partners.share(c.id()));
        setup.push(partners.add_member(2));
        let mut rng = Rng::new(7);
        for _ in 0..40 {
            setup.push(partners.random_post(&mut rng));
        }
        a.publish(setup).await;
        let mut internal = SpaceBuilder::new("internal", 1, a.id());
        let mut private = vec![internal.genesis.clone(), internal.add_member(3)];
        for _ in 0..10 {
            private.push(internal.random_post(&mut rng));
        }
        a.publish(private).await;

        // A chain: A - B - C, each link configured on both sides.
        a.peer_with(&b, b.addr);
        b.peer_with(&a, a.addr);
        b.peer_with(&c, c.addr);
        c.peer_with(&b, b.addr);

        let space = partners.space;
        until("B and C to catch up with A", LIMIT, || {
            let want = a.shown(&space);
            b.shown(&space) == want && c.shown(&space) == want
        })
        .await;

        // A new post at A is pushed to B and relayed to C.
        let post = partners.random_post(&mut rng);
        let id = post.id();
        a.publish(vec![post]).await;
        until("the new post to reach C", LIMIT, || {
            c.ids(&space).contains(&id)
        })
        .await;

        until("every node to show the same discussion", LIMIT, || {
            let want = a.shown(&space);
            b.shown(&space) == want && c.shown(&space) == want
        })
        .await;

        // The private space never left A.
        assert!(!b.spaces().contains(&internal.space));
        assert!(!c.spaces().contains(&internal.space));
        assert!(b.ids(&internal.space).is_empty());

        let status = a.peer_status(&b.id()).expect("B is A's peer");
        assert!(status.connected);
        assert!(status.posts_sent > 0, "{status:?}");
        let status = c.peer_status(&b.id()).expect("B is C's peer");
        assert!(status.posts_received > 0, "{status:?}");
        assert!(status.last_sync.is_some(), "{status:?}");
    });
}

#[test]
fn a_new_replica_gets_state_and_the_newest_posts_first() {
    use parley_protocol::gossip::{Class, Priority};

    run(Duration::from_secs(60), async {
        let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
        let config = test_config(Duration::from_secs(30));
        let a = TestPeer::start(key(111), dirs[0].path(), config.clone()).await;
        let b = TestPeer::start(key(112), dirs[1].path(), config).await;
        let mut space = SpaceBuilder::new("history", 1, a.id());
        let mut posts = vec![space.genesis.clone(), space.share(b.id())];
        for n in 2..6 {
            posts.push(space.add_member(n));
        }
        let mut rng = Rng::new(11);
        for _ in 0..1_200 {
            posts.push(space.random_post(&mut rng));
        }
        a.publish(posts.clone()).await;

        let mut arrivals = b.node().subscribe();
        a.peer_with(&b, b.addr);
        b.peer_with(&a, a.addr);
        // B receives every post A holds in full (not those A dropped as retracted).
        let held = usize::try_from(a.node().count(&space.space).unwrap()).unwrap();
        let mut order = Vec::new();
        let deadline = tokio::time::Instant::now() + LIMIT;
        while order.len() < held {
            match tokio::time::timeout_at(deadline, arrivals.recv()).await {
                Ok(Ok(post)) => order.push(Priority::of_post(&post)),
                Ok(Err(error)) => panic!("watching B: {error}"),
                Err(_) => break,
            }
        }
        let state = order.iter().filter(|p| p.class() == Class::State).count();
        assert!(order.len() > 1_000, "B received {} posts", order.len());
        // State first: every state post arrives within the first batch after them.
        let last_state = order
            .iter()
            .rposition(|p| p.class() == Class::State)
            .unwrap();
        assert!(
            last_state < state + 128,
            "state posts arrived late: last at {last_state} of {state}"
        );
        // Then the newest first: the first 100 discussion posts to arrive are among the
        // newest 300.
        let mut content: Vec<Priority> = order
            .iter()
            .filter(|p| p.class() == Class::Content)
            .copied()
            .collect();
        let first: Vec<Priority> = content.iter().take(100).copied().collect();
        content.sort();
        let newest: Vec<Priority> = content.iter().take(300).copied().collect();
        assert!(
            first.iter().all(|p| newest.contains(p)),
            "older posts arrived before newer ones"
        );
        until("B to show what A shows", LIMIT, || {
            b.shown(&space.space) == a.shown(&space.space)
        })
        .await;
    });
}

#[test]
fn a_new_replica_with_more_posts_than_a_send_queue_holds_catches_up_in_rounds() {
    // A round queues at most 100 posts; the space has 600 and names B a replica in its
    // newest post, which must go in the first round or B takes nothing, round after
    // round (a 300,000-post space stalled this way against the default 256 Ki bound).
    run(Duration::from_secs(60), async {
        let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
        let config = test_config(Duration::from_secs(30)).with_max_queued_posts(100);
        let a = TestPeer::start(key(115), dirs[0].path(), config.clone()).await;
        let b = TestPeer::start(key(116), dirs[1].path(), config).await;
        let mut space = SpaceBuilder::new("large", 1, a.id());
        let mut posts = vec![space.genesis.clone()];
        let mut rng = Rng::new(15);
        for _ in 0..600 {
            posts.push(space.random_post(&mut rng));
        }
        posts.push(space.share(b.id()));
        a.publish(posts).await;

        a.peer_with(&b, b.addr);
        b.peer_with(&a, a.addr);
        // Every post A holds in full (A dropped the bytes of retracted ones).
        until("B to hold every post A holds", LIMIT, || {
            b.node().count(&space.space).unwrap() == a.node().count(&space.space).unwrap()
        })
        .await;
        until("B to show what A shows", LIMIT, || {
            b.shown(&space.space) == a.shown(&space.space)
        })
        .await;
    });
}

#[test]
fn a_retraction_that_arrives_before_its_target_drops_the_target_on_arrival() {
    use parley_protocol::content::{Content, Retraction, Thread};
    use parley_protocol::encoding::BoundedVec;
    use parley_protocol::{Post, Timestamp};

    run(Duration::from_secs(30), async {
        let dir = tempfile::tempdir().unwrap();
        let a = TestPeer::start(key(121), dir.path(), test_config(Duration::from_secs(30))).await;
        let space = SpaceBuilder::new("order", 1, a.id());
        a.publish(vec![space.genesis.clone()]).await;
        let at = Timestamp(parley_tests::NOW.as_millis() - 1_000);
        let thread = Post::sign(
            &space.founder,
            space.space,
            at,
            Content::Thread(Thread {
                title: "Soon gone".to_owned(),
                body: "This will be withdrawn.".to_owned(),
                mentions: BoundedVec::new(),
            }),
            parley_tests::NOW,
        )
        .unwrap();
        let retraction = Post::sign(
            &space.founder,
            space.space,
            at.saturating_add_millis(1),
            Content::Retraction(Retraction {
                target: thread.id(),
            }),
            parley_tests::NOW,
        )
        .unwrap();
        // The retraction first, as a peer may deliver them.
        a.publish(vec![retraction]).await;
        a.publish(vec![thread.clone()]).await;
        let ids = a.ids(&space.space);
        assert!(ids.contains(&thread.id()), "the target stays an item");
        assert_eq!(
            a.node().count(&space.space).unwrap(),
            2,
            "the target's bytes were dropped: only the genesis and the retraction are held"
        );
        assert!(a.view(&space.space).threads().is_empty());
    });
}

#[test]
fn a_replica_removed_while_away_learns_it_when_it_returns() {
    use parley_tests::link::Link;

    run(Duration::from_secs(60), async {
        let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
        let config = test_config(Duration::from_millis(500));
        let a = TestPeer::start(key(131), dirs[0].path(), config.clone()).await;
        let c = TestPeer::start(key(132), dirs[1].path(), config).await;
        let mut space = SpaceBuilder::new("moving", 1, a.id());
        let mut rng = Rng::new(13);
        let mut posts = vec![space.genesis.clone(), space.share(c.id())];
        for _ in 0..10 {
            posts.push(space.random_post(&mut rng));
        }
        a.publish(posts).await;
        // Every packet between the two goes through relays that can be cut.
        let to_c = Link::start(c.addr).await.unwrap();
        let to_a = Link::start(a.addr).await.unwrap();
        a.peer_with(&c, to_c.addr());
        c.peer_with(&a, to_a.addr());
        until("C to hold the space", LIMIT, || {
            c.shown(&space.space) == a.shown(&space.space)
        })
        .await;

        to_c.cut();
        to_a.cut();
        until("the connection to drop", LIMIT, || {
            a.peer_status(&c.id()).is_some_and(|p| !p.connected)
        })
        .await;
        let unshare = space.unshare(c.id());
        let later = space.random_post(&mut rng);
        a.publish(vec![unshare.clone(), later.clone()]).await;
        to_c.heal();
        to_a.heal();

        // Back in touch, C is told it was removed, and gets nothing written since.
        until("C to learn it no longer holds a replica", LIMIT, || {
            !c.view(&space.space).replicas().contains(&c.id())
        })
        .await;
        assert!(c.ids(&space.space).contains(&unshare.id()));
        assert!(!c.ids(&space.space).contains(&later.id()));
    });
}
