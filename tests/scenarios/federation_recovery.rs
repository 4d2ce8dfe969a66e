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

/// Bytes flipped in random records of a replica's log (a failing disk): the node starts,
/// every other post stays readable, exactly the damaged ones are missing, and a peer
/// restores them.
#[test]
fn damaged_records_are_missing_alone_until_a_peer_restores_them() {
    use std::collections::BTreeSet;
    use std::io::{Read as _, Seek as _, SeekFrom, Write as _};

    use parley_node::storage::Storage;
    use parley_tests::cluster::{eventually, test_config};

    run(Duration::from_secs(90), async {
        let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
        let config = test_config(Duration::from_secs(1));
        let a = TestPeer::start(key(161), dirs[0].path(), config.clone()).await;
        let mut b = TestPeer::start(key(162), dirs[1].path(), config).await;
        let mut space = SpaceBuilder::new("fragile", 1, a.id());
        let mut rng = Rng::new(161);
        let mut posts = vec![space.genesis.clone(), space.share(b.id())];
        for _ in 0..60 {
            posts.push(space.random_post(&mut rng));
        }
        a.publish(posts).await;
        let to_b = Link::start(b.addr).await.unwrap();
        let to_a = Link::start(a.addr).await.unwrap();
        a.peer_with(&b, to_b.addr());
        b.peer_with(&a, to_a.addr());
        let s = space.space;
        until("B to hold the space", Duration::from_secs(20), || {
            b.shown(&s) == a.shown(&s)
        })
        .await;
        // What B holds (A also keeps tombstones of retracted posts B never received).
        let before = b.ids(&s);

        // B stops; a byte flips in the middle of seven of its records.
        let damaged: BTreeSet<_>;
        to_b.cut();
        to_a.cut();
        b.stop().await;
        {
            let storage = eventually("B's store to be released", Duration::from_secs(10), || {
                Storage::open(b.dir()).ok()
            })
            .await;
            // Seven posts held in full (not tombstones), spread over the space.
            let full: Vec<_> = before
                .iter()
                .filter(|id| storage.envelope_location(id).unwrap().is_some())
                .copied()
                .collect();
            damaged = (0..7).map(|i| full[(i * 9 + 3) % full.len()]).collect();
            for id in &damaged {
                let (path, offset, len) = storage.envelope_location(id).unwrap().unwrap();
                let mut file = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(path)
                    .unwrap();
                let at = offset + u64::from(len) / 2;
                let mut byte = [0];
                file.seek(SeekFrom::Start(at)).unwrap();
                file.read_exact(&mut byte).unwrap();
                file.seek(SeekFrom::Start(at)).unwrap();
                file.write_all(&[byte[0] ^ 0x01]).unwrap();
            }
        }

        // Back, cut off from A: it serves, and exactly the damaged posts are missing.
        b.restart().await;
        let expected: BTreeSet<_> = before.difference(&damaged).copied().collect();
        until(
            "B's scrub to find the damage",
            Duration::from_secs(20),
            || b.ids(&s) == expected,
        )
        .await;
        let view = b.view(&s);
        assert!(!view.threads().is_empty(), "the space reads");

        // In touch with A again: the damaged posts come back.
        to_b.heal();
        to_a.heal();
        until(
            "A to restore B's damaged posts",
            Duration::from_secs(20),
            || b.ids(&s) == before && b.shown(&s) == a.shown(&s),
        )
        .await;
    });
}
