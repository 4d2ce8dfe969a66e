//! Random schedules on three nodes peered through relays: posts written at random
//! running nodes, members added, links cut and healed, nodes stopped, crashed and
//! restarted. Whenever the schedule settles, the running nodes that can reach each
//! other show the same space; at the end, with every link healed and every node
//! running, all show exactly what was written, and a private space never left home.

use std::time::Duration;

use parley_protocol::Post;
use parley_tests::cluster::{TestPeer, run, test_config, until};
use parley_tests::history::{Rng, SpaceBuilder};
use parley_tests::scenario::{
    Crossing, Nodes, all_show, assert_private, peer_through_links, private_space, reference,
    same_shown,
};

/// The node pairs, each joined by a [`Crossing`].
const PAIRS: [(usize, usize); 3] = [(0, 1), (0, 2), (1, 2)];

/// How long one settling may take.
const WAIT: Duration = Duration::from_secs(30);

/// One event of a schedule.
#[derive(Clone, Debug)]
enum Step {
    /// `posts` random posts written at the `node`-th running node.
    Publish { node: usize, posts: usize },
    /// The founder adds a member, at the `node`-th running node.
    AddMember { node: usize },
    /// The pair's relays drop everything.
    Cut { pair: usize },
    /// The pair's relays forward again.
    Heal { pair: usize },
    /// The node stops, cleanly or by a crash.
    Stop { node: usize, crash: bool },
    /// The node starts again if it is stopped.
    Restart { node: usize },
    /// Wait until the running nodes that reach each other agree.
    Settle,
    /// Wait until the connections across every cut pair of running nodes have dropped
    /// (QUIC's idle timeout), so healing needs new connections.
    Expire,
}

/// A random schedule of `6..16` steps from `rng`; stops and restarts only if `restarts`.
fn random_schedule(rng: &mut Rng, restarts: bool) -> Vec<Step> {
    let len = 6 + rng.below(10);
    (0..len)
        .map(|_| {
            let (node, pair) = (rng.below(3), rng.below(3));
            match rng.below(if restarts { 14 } else { 12 }) {
                0..=3 => Step::Publish {
                    node,
                    posts: 1 + rng.below(4),
                },
                4 => Step::AddMember { node },
                5 | 6 => Step::Cut { pair },
                7 | 8 => Step::Heal { pair },
                9 | 10 => Step::Settle,
                11 => Step::Expire,
                12 => Step::Stop {
                    node,
                    crash: rng.below(2) == 0,
                },
                _ => Step::Restart { node },
            }
        })
        .collect()
}

/// Which running nodes reach each other over uncut pairs: a component id per node
/// (`None` when stopped).
fn components(running: &[bool; 3], cut: &[bool; 3]) -> [Option<usize>; 3] {
    let mut component: [Option<usize>; 3] = [0, 1, 2].map(|i| running[i].then_some(i));
    // Three nodes: two passes join every path.
    for _ in 0..2 {
        for (p, (x, y)) in PAIRS.iter().enumerate() {
            if let (Some(cx), Some(cy)) = (component[*x], component[*y])
                && !cut[p]
            {
                let low = cx.min(cy);
                component[*x] = Some(low);
                component[*y] = Some(low);
            }
        }
    }
    component
}

/// Runs `steps` on three fresh nodes and checks the end state.
async fn schedule(seed: u64, steps: Vec<Step>) {
    let config = test_config(Duration::from_secs(1));
    let mut nodes = Nodes::start(&[191, 192, 193], &config).await;
    let mut rng = Rng::new(seed);
    let (mut team, mut posts, internal, crossings) = {
        let [a, b, c] = &nodes.peers[..] else {
            unreachable!("three nodes")
        };
        let mut team = SpaceBuilder::new("schedule", 1, a.id());
        let mut posts = vec![team.genesis.clone(), team.share(b.id()), team.share(c.id())];
        posts.push(team.add_member(2));
        a.publish(posts.clone()).await;
        let (internal, private) = private_space("internal", 20, a.id(), &mut rng);
        a.publish(private).await;
        let mut crossings: Vec<Crossing> = Vec::new();
        for (x, y) in PAIRS {
            crossings.push(peer_through_links(&nodes.peers[x], &nodes.peers[y]).await);
        }
        (team, posts, internal, crossings)
    };
    let space = team.space;
    let mut running = [true; 3];
    let mut cut = [false; 3];
    let mut next_member = 3;
    for step in steps {
        let up: Vec<usize> = (0..3).filter(|i| running[*i]).collect();
        match step {
            Step::Publish { node, posts: n } if !up.is_empty() => {
                let batch: Vec<Post> = (0..n).map(|_| team.random_post(&mut rng)).collect();
                posts.extend(batch.iter().cloned());
                nodes.peers[up[node % up.len()]].publish(batch).await;
            }
            Step::AddMember { node } if !up.is_empty() => {
                let add = team.add_member(next_member);
                next_member += 1;
                posts.push(add.clone());
                nodes.peers[up[node % up.len()]].publish(vec![add]).await;
            }
            Step::Cut { pair } => {
                crossings[pair].cut();
                cut[pair] = true;
            }
            Step::Heal { pair } => {
                crossings[pair].heal();
                cut[pair] = false;
            }
            Step::Stop { node, crash } if running[node] => {
                if crash {
                    nodes.peers[node].crash();
                } else {
                    nodes.peers[node].stop().await;
                }
                running[node] = false;
            }
            Step::Restart { node } if !running[node] => {
                nodes.peers[node].restart().await;
                running[node] = true;
            }
            Step::Settle => {
                let component = components(&running, &cut);
                let peers = &nodes.peers;
                until("the nodes that reach each other to agree", WAIT, || {
                    (0..3).all(|i| {
                        let together: Vec<&TestPeer> = (0..3)
                            .filter(|j| component[*j].is_some() && component[*j] == component[i])
                            .map(|j| &peers[j])
                            .collect();
                        together.is_empty() || same_view(&together, &space)
                    })
                })
                .await;
                let others: Vec<&TestPeer> =
                    (1..3).filter(|i| running[*i]).map(|i| &peers[i]).collect();
                assert_private(&internal, &others);
            }
            Step::Expire => {
                let peers = &nodes.peers;
                until("the connections across cut pairs to drop", WAIT, || {
                    PAIRS.iter().zip(cut).all(|((x, y), cut)| {
                        !cut || !running[*x]
                            || !running[*y]
                            || (disconnected(&peers[*x], &peers[*y])
                                && disconnected(&peers[*y], &peers[*x]))
                    })
                })
                .await;
            }
            _ => {}
        }
    }

    for crossing in &crossings {
        crossing.heal();
    }
    for (i, peer) in nodes.peers.iter_mut().enumerate() {
        if !running[i] {
            peer.restart().await;
        }
    }
    let want = reference(space, &posts);
    let all: Vec<&TestPeer> = nodes.peers.iter().collect();
    until("every node to show everything written", WAIT, || {
        all_show(&all, &space, &want)
    })
    .await;
    assert!(same_shown(&all, &space));
    assert_private(&internal, &all[1..]);
}

/// Whether `a` has no connection to `b`.
fn disconnected(a: &TestPeer, b: &TestPeer) -> bool {
    a.peer_status(&b.id()).is_none_or(|s| !s.connected)
}

/// Whether every one of `peers` has the same view of `space`.
fn same_view(peers: &[&TestPeer], space: &parley_protocol::SpaceId) -> bool {
    let first = peers[0].view(space);
    peers[1..].iter().all(|p| *p.view(space) == *first)
}

/// Runs `cases` random schedules, from seeds `1..=cases` mixed with `salt`; a failing
/// one names its seed and steps.
fn check_schedules(cases: u64, salt: u64, restarts: bool) {
    for case in 1..=cases {
        let seed = case.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ salt;
        let mut rng = Rng::new(seed);
        let steps = random_schedule(&mut rng, restarts);
        eprintln!("schedule {case} (seed {seed:#x}): {steps:?}");
        run(Duration::from_secs(120), schedule(seed, steps));
    }
}

#[test]
fn random_schedules_of_posts_members_and_cuts_converge() {
    check_schedules(8, 0x5c4e_d01e, false);
}

#[test]
fn random_schedules_with_restarts_converge() {
    check_schedules(8, 0x04e5_7a47, true);
}
