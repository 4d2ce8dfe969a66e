//! Recovery after an outage: the middle node of a chain crashes (as `kill -9` does: its
//! peers hear nothing, and keep their connections to it until those time out) and
//! comes back; the chain converges within seconds, whichever side had dialed the old
//! connections. The nodes run with the default timeouts (a dead connection is noticed
//! after 30 s) and backoff, as deployed.

use std::time::{Duration, Instant};

use parley_node::federation::FederationConfig;
use parley_tests::cluster::{TestPeer, run, until};
use parley_tests::history::{Rng, SpaceBuilder};
use parley_tests::key;
use parley_tests::link::Link;

/// Restarts measured.
const RUNS: usize = 3;
/// Far below the 30 s in which the peers would notice the old connections died.
const LIMIT: Duration = Duration::from_secs(10);

#[test]
fn a_node_back_from_a_crash_converges_within_seconds() {
    run(Duration::from_secs(150), async {
        let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        // B, the middle node, has the highest id: the connections its peers dialed are
        // the ones kept when both sides dial at once, and they outlive B's crash.
        let mut keys: Vec<_> = (151..154).map(key).collect();
        keys.sort_by_key(|k| k.node_id());
        let [low, mid, high] = [0, 1, 2].map(|i| keys[i].to_seed());
        let key_of = parley_protocol::SecretKey::from_seed;
        let config = FederationConfig::default().with_sync_interval(Duration::from_secs(60));
        let a = TestPeer::start(key_of(&low), dirs[0].path(), config.clone()).await;
        let mut b = TestPeer::start(key_of(&high), dirs[1].path(), config.clone()).await;
        let c = TestPeer::start(key_of(&mid), dirs[2].path(), config).await;

        let mut space = SpaceBuilder::new("chain", 1, a.id());
        let mut rng = Rng::new(151);
        let mut posts = vec![
            space.genesis.clone(),
            space.share(b.id()),
            space.share(c.id()),
        ];
        for _ in 0..10 {
            posts.push(space.random_post(&mut rng));
        }
        a.publish(posts).await;

        // Every packet between neighbours passes a relay that can be cut.
        let a_to_b = Link::start(b.addr).await.unwrap();
        let b_to_a = Link::start(a.addr).await.unwrap();
        let b_to_c = Link::start(c.addr).await.unwrap();
        let c_to_b = Link::start(b.addr).await.unwrap();
        a.peer_with(&b, a_to_b.addr());
        b.peer_with(&a, b_to_a.addr());
        b.peer_with(&c, b_to_c.addr());
        c.peer_with(&b, c_to_b.addr());
        let s = space.space;
        until("the chain to converge", Duration::from_secs(20), || {
            let want = a.shown(&s);
            b.shown(&s) == want && c.shown(&s) == want
        })
        .await;
        let relays = [&a_to_b, &b_to_a, &b_to_c, &c_to_b];
        // Connections younger than this are taken for the two sides dialing at once
        // (`DUEL_WINDOW`): a crash is noticed on return only after it.
        tokio::time::sleep(Duration::from_secs(2)).await;

        let mut measured = Vec::new();
        for _ in 0..RUNS {
            // B dies without a word: its close packets are lost with the relays cut.
            relays.iter().for_each(|r| r.cut());
            b.crash();
            let post = space.random_post(&mut rng);
            let id = post.id();
            a.publish(vec![post]).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            relays.iter().for_each(|r| r.heal());
            b.restart().await;
            let back = Instant::now();
            until("A's post to reach C through the restarted B", LIMIT, || {
                c.ids(&s).contains(&id)
            })
            .await;
            measured.push(back.elapsed());
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        eprintln!("converged after each restart in {measured:?}");
    });
}
