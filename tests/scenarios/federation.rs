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
