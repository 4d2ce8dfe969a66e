//! Two `parleyd` processes on separate network stacks (Linux namespaces joined by a
//! veth pair), each with its person: a shared space replicates, survives delay and loss
//! where the kernel has netem, and converges after a partition during which both sides
//! wrote. Needs root; skipped with the reason otherwise.

use std::time::{Duration, Instant};

use parley_tests::netns;
use parley_tests::orgs::{NsNode, node_id, peer, set_federation, wait_for};
use parley_tests::process::TestUser;
use serde_json::Value;

/// The longest wait for anything to cross the link (delay and loss included).
const LIMIT: Duration = Duration::from_secs(60);

/// The nodes' `sync_interval_secs` (the default is 60).
const SYNC_SECS: u64 = 2;

/// The port both nodes listen on, each on its own namespace's address.
const PORT: u16 = 7447;

fn id(doc: &Value) -> String {
    doc["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {doc}"))
        .to_owned()
}

/// The thread ids `parley threads SPACE` lists to `home` at `node`.
fn threads(node: &NsNode, home: &TestUser, space: &str) -> Vec<String> {
    let doc = node.parley_json(&home.path(), &["threads", space]);
    let mut ids: Vec<String> = doc["threads"]
        .as_array()
        .or_else(|| doc.as_array())
        .map(|list| {
            list.iter()
                .filter_map(|t| t["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

/// ```text
///   netns a: ada ── parleyd 10.231.x.1 ══ veth (50 ms, 1 % loss; cut; healed) ══
///            parleyd 10.231.x.2 ── bea :netns b
/// ```
#[test]
fn nodes_in_two_namespaces_replicate_and_converge_after_a_partition() {
    if let Err(reason) = netns::available() {
        eprintln!("skipped: {reason}");
        return;
    }
    // The namespaces are declared first so they drop last, after the nodes are killed.
    let (ns_a, ns_b, ip_a, ip_b) = netns::pair().expect("a namespace pair");
    let mut a = NsNode::init(ns_a.name(), ip_a, PORT);
    let mut b = NsNode::init(ns_b.name(), ip_b, PORT);
    for node in [&a, &b] {
        set_federation(&node.path(), SYNC_SECS, None);
    }
    a.start();
    b.start();
    let started = Instant::now();
    let b_id = node_id(&b.address);
    let ada = TestUser::new();
    let bea = TestUser::new();
    a.parley_json(&ada.path(), &["join", &a.invite()]);
    let bea_id = b.parley_json(&bea.path(), &["join", &b.invite()])["user_id"]
        .as_str()
        .expect("a user id")
        .to_owned();
    a.admin_json(&["peer", "add", &b.address]);
    b.admin_json(&["peer", "add", &a.address]);

    let space = id(&a.parley_json(&ada.path(), &["space", "create", "across"]));
    a.parley_json(&ada.path(), &["space", "add-member", &space, &bea_id]);
    a.parley_json(&ada.path(), &["space", "share", &space, &b_id]);
    let first = id(&a.parley_json(
        &ada.path(),
        &["post", &space, "--title", "Hello B", "--body", "over veth"],
    ));
    wait_for("the space to replicate to B", LIMIT, || {
        let out = b.parley(&bea.path(), &["threads", &space]);
        let listed = out.status.success() && threads(&b, &bea, &space).contains(&first);
        listed.then_some(())
    });
    eprintln!("replicated across namespaces after {:?}", started.elapsed());

    for ns in [&ns_a, &ns_b] {
        match ns.netem(50, 1.0) {
            Ok(()) => eprintln!("{}: netem 50 ms, 1 % loss applied", ns.name()),
            Err(reason) => eprintln!("{}: continuing without netem: {reason}", ns.name()),
        }
    }

    // Partition, and both sides write while cut off.
    ns_a.set_link(false).expect("the link goes down");
    let from_a = id(&a.parley_json(
        &ada.path(),
        &[
            "post",
            &space,
            "--title",
            "Written at A",
            "--body",
            "partitioned",
        ],
    ));
    let from_b = id(&b.parley_json(
        &bea.path(),
        &[
            "post",
            &space,
            "--title",
            "Written at B",
            "--body",
            "partitioned",
        ],
    ));
    let reply_b = id(&b.parley_json(
        &bea.path(),
        &["reply", &first, "--body", "a reply from the far side"],
    ));
    // Cut off for two sync intervals (or PARLEY_PARTITION_SECS, e.g. beyond the 30 s
    // idle timeout so the connection dies): neither side gets the other's posts.
    let cut = std::env::var("PARLEY_PARTITION_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2 * SYNC_SECS);
    let until = Instant::now() + Duration::from_secs(cut);
    while Instant::now() < until {
        assert!(!threads(&b, &bea, &space).contains(&from_a));
        assert!(!threads(&a, &ada, &space).contains(&from_b));
        std::thread::sleep(Duration::from_millis(250));
    }

    ns_a.set_link(true).expect("the link comes up");
    let healed = Instant::now();
    let converged = wait_for("both sides to show the same threads", LIMIT, || {
        let at_a = threads(&a, &ada, &space);
        let at_b = threads(&b, &bea, &space);
        (at_a == at_b && at_a.contains(&from_a) && at_a.contains(&from_b)).then_some(at_a)
    });
    assert_eq!(converged.len(), 3, "{converged:?}");
    wait_for("A to show B's reply", LIMIT, || {
        let shown = a.parley_json(&ada.path(), &["show", &first]);
        shown.to_string().contains(&reply_b).then_some(())
    });
    eprintln!("converged {:?} after healing", healed.elapsed());

    let status = a.admin_json(&["status"]);
    let link = peer(&status, &b_id).expect("B is A's peer");
    assert!(link["posts_sent"].as_u64() > Some(0), "{link}");

    a.kill9();
    b.kill9();
    drop((a, b));
    drop((ns_a, ns_b));
    eprintln!("namespaces: {:?}", started.elapsed());
}
