//! Replicas of a space converge through reconciliation over the real wire encoding,
//! whatever the topology, and a private space never reaches a node outside its
//! replica set.

use parley_protocol::view::SpaceView;
use parley_tests::history::{Rng, SpaceBuilder};
use parley_tests::{Replica, key, sync_pair};

/// Org A runs node A; org B runs nodes B and C.
struct Orgs {
    nodes: Vec<Replica>,
    partners: SpaceBuilder,
    internal: SpaceBuilder,
}

/// `partners` is homed at A and shared with every node; `internal` lives at A only.
fn orgs(node_count: u8) -> Orgs {
    let mut nodes: Vec<Replica> = (0..node_count)
        .map(|i| Replica::new(&key(100 + i)))
        .collect();
    let mut partners = SpaceBuilder::new("partners", 1, nodes[0].node);
    let mut internal = SpaceBuilder::new("internal", 1, nodes[0].node);
    nodes[0].write(partners.genesis.clone());
    nodes[0].write(internal.genesis.clone());
    for i in 1..node_count {
        let share = partners.share(key(100 + i).node_id());
        nodes[0].write(share);
    }
    for member in 2..6 {
        let add = partners.add_member(member);
        nodes[0].write(add);
    }
    let add = internal.add_member(2);
    nodes[0].write(add);
    Orgs {
        nodes,
        partners,
        internal,
    }
}

fn views_equal(nodes: &[Replica], builder: &SpaceBuilder) -> bool {
    let first = nodes[0].view(&builder.space);
    nodes.iter().all(|n| {
        n.ids(&builder.space) == nodes[0].ids(&builder.space) && n.view(&builder.space) == first
    })
}

fn assert_private(orgs: &Orgs) {
    for node in &orgs.nodes[1..] {
        assert_eq!(
            node.count(&orgs.internal.space),
            0,
            "internal leaked to {}",
            node.node
        );
    }
}

fn split<T>(items: &mut [T], a: usize, b: usize) -> (&mut T, &mut T) {
    assert_ne!(a, b);
    if a < b {
        let (left, right) = items.split_at_mut(b);
        (&mut left[a], &mut right[0])
    } else {
        let (left, right) = items.split_at_mut(a);
        (&mut right[0], &mut left[b])
    }
}

/// ```text
///   A ── B ── C        posts written at A and at C reach every node through B
/// ```
#[test]
fn a_chain_relays_posts_and_keeps_the_private_space_home() {
    let mut orgs = orgs(3);
    let mut rng = Rng::new(7);
    for i in 0..60 {
        let post = orgs.partners.random_post(&mut rng);
        // Posts are written at the node of the author's org: A for even, C for odd.
        let at = if i % 2 == 0 { 0 } else { 2 };
        if at == 2 && orgs.nodes[2].count(&orgs.partners.space) == 0 {
            orgs.nodes[0].write(post);
        } else {
            orgs.nodes[at].write(post);
        }
        let private = orgs.internal.random_post(&mut rng);
        orgs.nodes[0].write(private);
    }
    for _ in 0..3 {
        let (a, b) = split(&mut orgs.nodes, 0, 1);
        sync_pair(a, b);
        let (b, c) = split(&mut orgs.nodes, 1, 2);
        sync_pair(b, c);
        let (c, b) = split(&mut orgs.nodes, 2, 1);
        sync_pair(c, b);
    }
    assert!(views_equal(&orgs.nodes, &orgs.partners));
    assert_private(&orgs);
    let view: SpaceView = orgs.nodes[2].view(&orgs.partners.space);
    assert!(!view.threads().is_empty());
    assert!(
        orgs.nodes.iter().all(|n| n.refused.is_empty()),
        "no valid post was refused"
    );
}

/// ```text
///   A ─ B ─ C ─ D ─ E   five nodes, partitioned into {A, B} and {C, D, E} while both
///   └───────────────┘   sides write, then healed: every node converges
/// ```
#[test]
fn a_partitioned_mesh_converges_after_healing() {
    let mut orgs = orgs(5);
    let mut rng = Rng::new(42);
    // Everyone first learns the space's state from A.
    for i in 1..5 {
        let (a, n) = split(&mut orgs.nodes, 0, i);
        sync_pair(a, n);
    }
    let left = [0usize, 1];
    let right = [2usize, 3, 4];
    for round in 0..10 {
        for _ in 0..8 {
            let post = orgs.partners.random_post(&mut rng);
            let writer = rng.below(5);
            orgs.nodes[writer].write(post);
        }
        // Partitioned: only pairs within one side talk.
        let (x, y) = if round % 2 == 0 {
            (left[0], left[1])
        } else {
            (right[rng.below(3)], right[rng.below(3)])
        };
        if x != y {
            let (a, b) = split(&mut orgs.nodes, x, y);
            sync_pair(a, b);
        }
    }
    // Heal: a bounded number of random pairwise syncs until every view is equal.
    let mut rounds = 0;
    while !views_equal(&orgs.nodes, &orgs.partners) {
        rounds += 1;
        assert!(rounds <= 200, "no convergence after 200 pairwise syncs");
        let x = rng.below(5);
        let y = (x + 1 + rng.below(4)) % 5;
        let (a, b) = split(&mut orgs.nodes, x, y);
        sync_pair(a, b);
    }
    assert_private(&orgs);
}

/// ```text
///   A ── B    A unshares `partners` from B: B keeps what it had, receives nothing new
/// ```
#[test]
fn unsharing_stops_new_posts_flowing() {
    let mut orgs = orgs(2);
    let mut rng = Rng::new(3);
    for _ in 0..10 {
        let post = orgs.partners.random_post(&mut rng);
        orgs.nodes[0].write(post);
    }
    let (a, b) = split(&mut orgs.nodes, 0, 1);
    sync_pair(a, b);
    let before = orgs.nodes[1].count(&orgs.partners.space);
    assert_eq!(before, orgs.nodes[0].count(&orgs.partners.space));

    let unshare = orgs.partners.unshare(orgs.nodes[1].node);
    orgs.nodes[0].write(unshare);
    for _ in 0..10 {
        let post = orgs.partners.random_post(&mut rng);
        orgs.nodes[0].write(post);
    }
    let (a, b) = split(&mut orgs.nodes, 0, 1);
    let moved = sync_pair(a, b);
    assert_eq!(moved.to_responder, 0);
    let (b, a) = split(&mut orgs.nodes, 1, 0);
    let moved = sync_pair(b, a);
    assert_eq!(
        moved.to_initiator, 0,
        "A answers nothing of an unshared space"
    );
    assert_eq!(orgs.nodes[1].count(&orgs.partners.space), before);
}

/// Re-running a reconciliation between converged replicas moves nothing.
#[test]
fn converged_replicas_move_no_posts() {
    let mut orgs = orgs(2);
    let mut rng = Rng::new(11);
    for _ in 0..40 {
        let post = orgs.partners.random_post(&mut rng);
        orgs.nodes[0].write(post);
    }
    let (a, b) = split(&mut orgs.nodes, 0, 1);
    let first = sync_pair(a, b);
    assert!(first.to_responder > 0);
    let again = sync_pair(a, b);
    assert_eq!((again.to_initiator, again.to_responder), (0, 0));
    assert!(
        again.bytes < first.bytes / 4,
        "a no-op sync costs little: {again:?} vs {first:?}"
    );
}
