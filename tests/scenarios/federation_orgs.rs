//! Two organisations federate through the real binaries, as their admins and people
//! would: each runs `parleyd`, each admin adds the other's node (`parleyd peer add`),
//! a space is shared and unshared with `parley space share|unshare`, and a node killed
//! with SIGKILL in the middle of a catch-up comes back and converges.

use std::time::{Duration, Instant};

use parley_node::storage::Storage;
use parley_protocol::api::NodeAddress;
use parley_protocol::{Content, NodeId, SpaceId};
use parley_tests::history::{Rng, SpaceBuilder};
use parley_tests::orgs::{
    node_id, peer, peer_add, preload, set_federation, space_posts, status, wait_for,
};
use parley_tests::process::{TestNode, TestUser};
use serde_json::Value;

/// The longest wait for anything to cross between the nodes.
const LIMIT: Duration = Duration::from_secs(30);

/// The nodes' `sync_interval_secs` in these scenarios (the default is 60).
const SYNC_SECS: u64 = 2;

fn id(doc: &Value) -> String {
    doc["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {doc}"))
        .to_owned()
}

/// The post `id` in a `parley show --json` document.
fn post<'a>(thread: &'a Value, id: &str) -> Option<&'a Value> {
    thread["posts"].as_array()?.iter().find(|p| p["id"] == id)
}

/// Whether `parley space list --json` lists a space named `name`.
fn lists_space(user: &TestUser, name: &str) -> bool {
    user.json(&["space", "list"])["spaces"]
        .as_array()
        .is_some_and(|spaces| spaces.iter().any(|s| s["name"] == name))
}

/// Whether `parley threads SPACE --json` lists the thread `thread`.
fn lists_thread(user: &TestUser, space: &str, thread: &str) -> bool {
    let threads = user.json(&["threads", space]);
    threads["threads"]
        .as_array()
        .or_else(|| threads.as_array())
        .is_some_and(|list| list.iter().any(|t| t["id"] == thread))
}

/// A user joined to `node` by invite; their user id.
fn join(user: &TestUser, node: &TestNode) -> String {
    user.json(&["join", &node.invite()])["user_id"]
        .as_str()
        .expect("join prints the user id")
        .to_owned()
}

/// ```text
///   org A: ada ── parleyd A ◄──── peer add ────► parleyd B ── bea :org B
///                   partners (shared with B) ───────►  partners
///                   internal (A only)
/// ```
#[test]
fn two_organisations_discuss_in_a_shared_space_and_keep_another_private() {
    let mut a = TestNode::init();
    let mut b = TestNode::init();
    for node in [&a, &b] {
        set_federation(node.dir.path(), SYNC_SECS, None);
    }
    a.start();
    b.start();
    let started = Instant::now();
    let (a_id, b_id) = (node_id(&a.address), node_id(&b.address));
    let ada = TestUser::new();
    let bea = TestUser::new();
    join(&ada, &a);
    let bea_id = join(&bea, &b);

    // Each admin adds the other's node while it runs.
    peer_add(&a, &b.address);
    peer_add(&b, &a.address);

    let partners = id(&ada.json(&["space", "create", "partners"]));
    let internal = id(&ada.json(&["space", "create", "internal"]));
    ada.json(&[
        "post",
        "internal",
        "--title",
        "Salaries",
        "--body",
        "for org A only",
    ]);
    ada.json(&["space", "add-member", "partners", &bea_id]);
    ada.json(&["space", "share", "partners", &b_id]);
    let thread = id(&ada.json(&[
        "post",
        "partners",
        "--title",
        "Joint launch",
        "--body",
        "Shall we launch together in March?",
    ]));

    // B's person sees the space and A's thread on B's node.
    wait_for("bea to see `partners` at B", LIMIT, || {
        lists_space(&bea, "partners").then_some(())
    });
    wait_for("bea to see A's thread", LIMIT, || {
        lists_thread(&bea, "partners", &thread).then_some(())
    });
    let shown = bea.json(&["show", &thread]);
    assert_eq!(shown["title"], "Joint launch");
    assert_eq!(
        shown["posts"][0]["body"],
        "Shall we launch together in March?"
    );
    assert_eq!(shown["space"], partners.as_str());
    eprintln!("shared space visible at B after {:?}", started.elapsed());

    // B's reply reaches A's person.
    let reply = id(&bea.json(&["reply", &thread, "--body", "March works for us."]));
    let at_a = wait_for("A to show bea's reply", LIMIT, || {
        let shown = ada.json(&["show", &thread]);
        post(&shown, &reply).cloned()
    });
    assert_eq!(at_a["author"], bea_id.as_str());
    assert_eq!(at_a["body"], "March works for us.");

    // An edit and a retraction at A reach B.
    let aside = id(&ada.json(&["reply", &thread, "--body", "(budget: 10k, do not share)"]));
    wait_for("bea to see ada's aside", LIMIT, || {
        post(&bea.json(&["show", &thread]), &aside).map(drop)
    });
    ada.json(&[
        "edit",
        &thread,
        "--body",
        "Shall we launch together on 3 March?",
    ]);
    ada.json(&["retract", &aside]);
    let at_b = wait_for("the edit and the retraction to reach B", LIMIT, || {
        let shown = bea.json(&["show", &thread]);
        let edited = shown["posts"][0]["body"] == "Shall we launch together on 3 March?";
        (edited && post(&shown, &aside).is_none()).then_some(shown)
    });
    assert_eq!(at_b["posts"][0]["edited"], true);
    assert!(post(&at_b, &reply).is_some());
    assert!(!at_b.to_string().contains("do not share"), "{at_b}");

    // Each node's search finds what came from the other as its views show it: the
    // edited text, never the retracted aside, and nothing of `internal`.
    let found = wait_for("bea to find A's thread by search at B", LIMIT, || {
        let found = bea.json(&["search", "together"]);
        (found["total"] == 1).then_some(found)
    });
    assert_eq!(found["hits"][0]["post"], thread.as_str());
    assert_eq!(
        found["hits"][0]["snippet"],
        "Shall we launch together on 3 March?"
    );
    assert_eq!(bea.json(&["search", "budget"])["total"], 0);
    assert_eq!(bea.json(&["search", "salaries"])["total"], 0);
    let found = wait_for("ada to find bea's reply by search at A", LIMIT, || {
        let found = ada.json(&["search", "works"]);
        (found["total"] == 1).then_some(found)
    });
    assert_eq!(found["hits"][0]["post"], reply.as_str());

    // `internal` never left A.
    assert!(!lists_space(&bea, "internal"));
    let b_status = status(&b);
    assert!(space_posts(&b_status, &partners).is_some(), "{b_status}");
    assert_eq!(space_posts(&b_status, &internal), None, "{b_status}");
    assert!(space_posts(&status(&a), &internal).is_some());

    // Each admin sees the other node connected, with posts exchanged and a sync done.
    let seen = wait_for("A's status to show B connected and synced", LIMIT, || {
        let status = status(&a);
        let peer = peer(&status, &b_id)?.clone();
        let ok = peer["connected"] == true
            && peer["posts_sent"].as_u64() > Some(0)
            && peer["last_sync"].is_u64();
        ok.then_some(peer)
    });
    assert_eq!(seen["invalid"], 0, "{seen}");
    let b_side = peer(&b_status, &a_id).expect("A is B's peer").clone();
    assert_eq!(b_side["connected"], true, "{b_side}");
    assert!(b_side["posts_received"].as_u64() > Some(0), "{b_side}");
    let text = a.admin(&["status"]);
    let text = String::from_utf8_lossy(&text.stdout);
    let short = &b_id[..b_id.find('1').unwrap() + 9];
    assert!(
        text.lines()
            .any(|l| l.contains(short) && l.contains("connected since")),
        "{text}"
    );
    assert!(text.contains("last sync "), "{text}");

    // Unsharing stops new posts flowing to B.
    ada.json(&["space", "unshare", "partners", &b_id]);
    wait_for("A's view to drop B from the replica set", LIMIT, || {
        let members = ada.json(&["members", "partners"]);
        (!members["replicas"].to_string().contains(&b_id)).then_some(())
    });
    // B is sent the post that removed it, and nothing after it: its own view drops it
    // from the replica set, and its people can no longer write there.
    wait_for("B to learn it no longer holds a replica", LIMIT, || {
        let members = bea.json(&["members", "partners"]);
        (!members["replicas"].to_string().contains(&b_id)).then_some(())
    });
    let held_at_b = space_posts(&status(&b), &partners).expect("B holds partners");
    let refused = bea.run(&[
        "--json",
        "post",
        "partners",
        "--title",
        "Written at B after the unshare",
        "--body",
        "does A take this?",
    ]);
    assert!(
        !refused.status.success(),
        "B took a post for a space it no longer holds"
    );
    let answer: Value = serde_json::from_slice(&refused.stdout).unwrap();
    assert_eq!(answer["error"], "forbidden", "{answer}");
    let later = id(&ada.json(&[
        "post",
        "partners",
        "--title",
        "After unsharing",
        "--body",
        "B must not get this",
    ]));
    // Absence can only be watched for a bounded time: three sync intervals, which
    // span pushes, relays and periodic reconciliations in both directions.
    let until = Instant::now() + Duration::from_secs(3 * SYNC_SECS);
    while Instant::now() < until {
        assert_eq!(
            space_posts(&status(&b), &partners),
            Some(held_at_b),
            "B received posts of partners after the unshare"
        );
        assert!(!lists_thread(&bea, "partners", &later));
        std::thread::sleep(Duration::from_millis(250));
    }
    a.stop();
    b.stop();
    eprintln!("two organisations: {:?}", started.elapsed());
}

/// ```text
///   parleyd A (20,000 posts) ──sync──► parleyd B ──kill -9── restart ──► all 20,000
/// ```
#[test]
fn a_node_killed_mid_catch_up_restarts_and_converges_with_a_sound_store() {
    const POSTS: usize = 20_000;
    let mut a = TestNode::init();
    let mut b = TestNode::init();
    set_federation(a.dir.path(), SYNC_SECS, None);
    // B ingests at most 2,000 posts/s from a peer, so the catch-up lasts long enough
    // to be interrupted (about 10 s).
    set_federation(b.dir.path(), SYNC_SECS, Some(2_000));
    let parse = |address: &str| address.parse::<NodeAddress>().unwrap().node;
    let (a_node, b_node): (NodeId, NodeId) = (parse(&a.address), parse(&b.address));

    // A's store holds a large shared space before A starts (no retractions, so both
    // stores end with the same posts in full).
    let mut space = SpaceBuilder::new("archive", 1, a_node);
    let mut posts = vec![
        space.genesis.clone(),
        space.share(b_node),
        space.add_member(2),
    ];
    let started = Instant::now();
    let mut rng = Rng::new(5);
    while posts.len() < POSTS {
        let post = space.random_post(&mut rng);
        if !matches!(post.content(), Content::Retraction(_)) {
            posts.push(post);
        }
    }
    eprintln!("signed {POSTS} posts in {:?}", started.elapsed());
    let stored = Instant::now();
    preload(&a.dir.path().join("db"), &posts);
    eprintln!("stored them in A's store in {:?}", stored.elapsed());
    let id = space.space.to_string();

    a.start();
    b.start();
    assert_eq!(space_posts(&status(&a), &id), Some(POSTS as u64));
    peer_add(&a, &b.address);
    peer_add(&b, &a.address);

    let partial = wait_for("B to hold some but not all posts", LIMIT, || {
        space_posts(&status(&b), &id).filter(|&n| n >= 500)
    });
    b.kill9();
    assert!(
        partial < POSTS as u64,
        "B caught up before it could be killed ({partial} posts): raise POSTS or lower B's rate"
    );
    eprintln!(
        "killed B holding {partial} of {POSTS} posts after {:?}",
        started.elapsed()
    );

    b.start();
    let caught_up = Instant::now();
    wait_for("B to hold every post after its restart", LIMIT * 2, || {
        (space_posts(&status(&b), &id) == Some(POSTS as u64)).then_some(())
    });
    eprintln!("B converged {:?} after its restart", caught_up.elapsed());
    let a_status = status(&a);
    let link = peer(&a_status, &node_id(&b.address)).expect("B is A's peer");
    assert!(link["posts_sent"].as_u64() > Some(0), "{link}");

    // Both stores open, every post in them verifies, and they hold the same items.
    a.stop();
    b.stop();
    let items = |dir: &std::path::Path, space: &SpaceId| {
        let storage = Storage::open(&dir.join("db")).expect("the store opens");
        let posts = storage
            .space_posts(space)
            .expect("every stored post reads back and verifies");
        assert_eq!(posts.len(), POSTS);
        let mut items = storage.items(space).expect("the index reads back");
        items.sort();
        items
    };
    assert_eq!(
        items(b.dir.path(), &space.space),
        items(a.dir.path(), &space.space)
    );
    eprintln!("kill -9 mid catch-up: {:?}", started.elapsed());
}
