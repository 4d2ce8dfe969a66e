//! A team node and its people, through the real binaries: `parleyd init`, `run`,
//! `invite`; `parley join`, `space`, `post`, `reply`, `edit`, `react`, `resolve`,
//! `retract`, `show`, `threads`, `unread`.

use parley_tests::process::{TestNode, TestUser};
use serde_json::Value;

fn id(doc: &Value) -> String {
    doc["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {doc}"))
        .to_owned()
}

/// ```text
///   ada ─┐
///        ├── parleyd (127.0.0.1) ── restart ── same answers
///   bob ─┘
/// ```
#[test]
fn a_team_goes_from_nothing_to_a_decision_and_keeps_it_across_a_restart() {
    let mut node = TestNode::init();
    node.start();
    let ada = TestUser::new();
    let bob = TestUser::new();
    let ada_id = ada.json(&["join", &node.invite()])["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bob_id = bob.json(&["join", &node.invite()])["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(ada_id, bob_id);
    assert_eq!(ada.json(&["whoami"])["user_id"], ada_id.as_str());

    let space = id(&ada.json(&["space", "create", "design"]));
    ada.json(&["space", "add-member", &space, &bob_id]);
    let thread = id(&ada.json(&[
        "post",
        &space,
        "--title",
        "Storage engine",
        "--body",
        "sled or plain files?",
    ]));
    let reply = id(&bob.json(&["reply", &thread, "--body", "sled"]));
    bob.json(&["edit", &reply, "--body", "sled, with group commit"]);
    bob.json(&["react", &thread, "👍"]);
    let nested = id(&ada.json(&["reply", &reply, "--body", "agreed"]));
    ada.json(&[
        "resolve",
        &thread,
        "--decision",
        "We use sled with group commit.",
    ]);

    let check = |user: &TestUser| {
        let shown = user.json(&["show", &thread]);
        assert_eq!(shown["id"], thread.as_str());
        assert_eq!(shown["title"], "Storage engine");
        assert_eq!(shown["resolved"], true);
        assert_eq!(shown["decision"], "We use sled with group commit.");
        assert_eq!(shown["reply_count"], 2);
        let posts = shown["posts"].as_array().expect("posts");
        assert_eq!(posts.len(), 3);
        assert_eq!(posts[0]["parent"], Value::Null);
        assert_eq!(posts[1]["id"], reply.as_str());
        assert_eq!(posts[1]["body"], "sled, with group commit");
        assert_eq!(posts[1]["author"], bob_id.as_str());
        assert_eq!(posts[2]["id"], nested.as_str());
        assert_eq!(posts[2]["parent"], reply.as_str());
        let threads = user.json(&["threads", &space]);
        let list = threads
            .as_array()
            .or_else(|| threads["threads"].as_array())
            .expect("a thread list");
        assert_eq!(list.len(), 1);
        assert_eq!(list[0]["id"], thread.as_str());
    };
    check(&bob);
    check(&ada);

    node.stop();
    node.start();
    check(&bob);

    ada.json(&["retract", &nested]);
    let shown = ada.json(&["show", &thread]);
    assert_eq!(
        shown["posts"].as_array().map(Vec::len),
        Some(2),
        "a retracted post disappears"
    );
}

#[test]
fn bad_requests_are_refused_clearly_and_the_node_keeps_serving() {
    let mut node = TestNode::init();
    node.start();
    let ada = TestUser::new();
    let invite = node.invite();
    ada.json(&["join", &invite]);

    // A used invite.
    let eve = TestUser::new();
    let out = eve.run(&["join", &invite]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("used"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // An unregistered key: eve has a key; give her client the node's address by hand,
    // so the request reaches the node, which refuses it.
    std::fs::write(eve.path().join("node"), format!("{}\n", node.address)).unwrap();
    let out = eve.run(&["space", "list"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not registered"), "{err}");

    // A registered non-member reads and posts: told the space or post is not one
    // they can see, exactly as for one that does not exist.
    let space = id(&ada.json(&["space", "create", "private"]));
    let thread = id(&ada.json(&["post", &space, "--title", "Secret", "--body", "s3cr3t"]));
    let bob = TestUser::new();
    bob.json(&["join", &node.invite()]);
    for args in [
        vec!["show", thread.as_str()],
        vec!["threads", space.as_str()],
        vec!["post", space.as_str(), "--title", "x", "--body", "y"],
    ] {
        let out = bob.run(&args);
        assert!(!out.status.success(), "{args:?} should be refused");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("you are a member of"), "{args:?}: {err}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("s3cr3t"));
    }

    // A body over the limit.
    let big = "x".repeat(300 * 1024);
    let out = ada.run_with_stdin(
        &["post", &space, "--title", "Big", "--body-file", "-"],
        Some(big.as_bytes()),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("262144"));

    // Still serving.
    assert_eq!(ada.json(&["show", &thread])["title"], "Secret");
}

/// ```text
///   8 writers ──► parleyd ──kill -9──► restart: every acknowledged post is there
/// ```
#[test]
fn every_acknowledged_post_survives_kill_9_during_a_burst() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    let mut node = TestNode::init();
    node.start();
    let ada = Arc::new(TestUser::new());
    ada.json(&["join", &node.invite()]);
    let space = id(&ada.json(&["space", "create", "burst"]));
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (ada, acked, stop, space) =
                (ada.clone(), acked.clone(), stop.clone(), space.clone());
            std::thread::spawn(move || {
                for i in 0..200 {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let title = format!("writer {w} post {i}");
                    let out = ada.run(&[
                        "--connect-timeout",
                        "0.5",
                        "post",
                        &space,
                        "--title",
                        &title,
                        "--body",
                        "burst",
                        "--json",
                    ]);
                    if out.status.success() {
                        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
                        acked.lock().unwrap().push(id(&doc));
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.lock().unwrap().len() < 40 {
        assert!(
            Instant::now() < deadline,
            "the writers got no acknowledgements"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    node.kill9();
    stop.store(true, Ordering::SeqCst);
    for writer in writers {
        writer.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    node.start();
    let threads = ada.json(&["threads", &space, "--all"]);
    let listed: Vec<&str> = threads["threads"]
        .as_array()
        .or_else(|| threads.as_array())
        .expect("a thread list")
        .iter()
        .filter_map(|t| t["id"].as_str())
        .collect();
    for post in &acked {
        assert!(
            listed.contains(&post.as_str()),
            "acknowledged post {post} was lost"
        );
    }
}

#[test]
fn garbage_datagrams_do_not_disturb_the_node() {
    let mut node = TestNode::init();
    node.start();
    let ada = TestUser::new();
    ada.json(&["join", &node.invite()]);
    let port: u16 = node.address.rsplit(':').next().unwrap().parse().unwrap();
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut state = 0x1234_5678_u32;
    for n in 0..300usize {
        let len = 1 + (n * 37) % 1400;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state as u8
            })
            .collect();
        let _ = socket.send_to(&bytes, ("127.0.0.1", port));
    }
    assert!(
        ada.json(&["whoami"])["user_id"].is_string(),
        "the node still serves"
    );
}

/// ```text
///   bob: parley watch design  ◄── parleyd ◄── ada: parley post design
/// ```
///
/// The node then restarts: the watch says it lost the node, connects again, and goes on.
#[test]
fn watch_streams_new_posts_as_they_arrive_and_outlives_a_restart() {
    use std::io::{BufRead as _, BufReader};
    use std::process::{Command, Stdio};
    use std::sync::mpsc;
    use std::time::Duration;

    let mut node = TestNode::init();
    node.start();
    let ada = TestUser::new();
    let bob = TestUser::new();
    ada.json(&["join", &node.invite()]);
    let bob_id = bob.json(&["join", &node.invite()])["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let space = id(&ada.json(&["space", "create", "design"]));
    ada.json(&["space", "add-member", &space, &bob_id]);

    let mut watcher = Command::new(parley_tests::binary("parley"))
        .arg("--home")
        .arg(bob.path())
        .args(["watch", &space, "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = watcher.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // The watch may not be established yet when the first post goes out: post until
    // one arrives, a bounded number of times.
    let events = std::cell::RefCell::new(Vec::new());
    let post_until_seen = |round: &str, attempts: usize| {
        for attempt in 0..attempts {
            let posted = id(&ada.json(&[
                "post",
                &space,
                "--title",
                &format!("News {round} {attempt}"),
                "--body",
                "fresh",
            ]));
            // Lines until a post arrives; reconnection notices are noted on the way.
            while let Ok(line) = rx.recv_timeout(Duration::from_millis(500)) {
                let doc: Value = serde_json::from_str(&line).unwrap();
                if let Some(event) = doc["event"].as_str() {
                    events.borrow_mut().push(event.to_owned());
                    continue;
                }
                return Some((doc, posted));
            }
        }
        None
    };
    let seen = post_until_seen("before", 20);
    let (doc, posted) = seen.expect("the watcher saw a post within 20 attempts");
    let shown = doc["id"].as_str().unwrap_or_default();
    assert!(shown.starts_with("post1"), "{doc}");
    assert!(
        doc.to_string().contains("fresh") || shown == posted,
        "{doc}"
    );
    // A restart: the watcher reconnects (it waits 1 s, then 2 s, … between attempts).
    node.stop();
    node.start();
    let again = post_until_seen("after", 40);
    let alive = watcher.try_wait().unwrap().is_none();
    let _ = watcher.kill();
    let _ = watcher.wait();
    assert!(alive, "the watch did not exit when the node went away");
    let events = events.borrow();
    assert!(
        events.first().map(String::as_str) == Some("lost")
            && events.contains(&"watching".to_owned()),
        "{events:?}"
    );
    let (doc, _) = again.expect("the watcher saw a post after the restart within 40 attempts");
    assert!(doc.to_string().contains("News after"), "{doc}");
}

/// A member who is not a moderator tries what only the thread's author or a moderator
/// may do: each command says why and sends nothing; a change that changes nothing says
/// so; nothing shows in the thread.
#[test]
fn what_the_space_would_ignore_is_refused_and_no_ops_say_so() {
    let mut node = TestNode::init();
    node.start();
    let ada = TestUser::new();
    let bob = TestUser::new();
    ada.json(&["join", &node.invite()]);
    let bob_id = bob.json(&["join", &node.invite()])["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let space = id(&ada.json(&["space", "create", "design"]));
    ada.json(&["space", "add-member", &space, &bob_id]);
    let thread = id(&ada.json(&["post", &space, "--title", "Q", "--body", "?"]));

    for (args, why) in [
        (
            vec!["resolve", thread.as_str(), "--decision", "mine"],
            "only the thread's author or a moderator can resolve it; nothing was sent",
        ),
        (
            vec!["retract", thread.as_str()],
            "only its author or a moderator can retract a post; nothing was sent",
        ),
        (
            vec!["space", "add-member", space.as_str(), bob_id.as_str()],
            "",
        ),
        (
            vec!["space", "grant-moderator", space.as_str(), bob_id.as_str()],
            "only a moderator of the space can make moderators; nothing was sent",
        ),
    ] {
        let output = bob.run(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stdout = String::from_utf8_lossy(&output.stdout);
        if why.is_empty() {
            // Bob is a member already: nothing to do, and it says so.
            assert!(output.status.success(), "{args:?}: {stderr}");
            assert!(
                stdout.contains("is a member of design already; nothing was sent"),
                "{stdout}"
            );
        } else {
            assert!(!output.status.success(), "{args:?} succeeded: {stdout}");
            assert!(stderr.contains(why), "{args:?}: {stderr}");
        }
    }
    let reopened = ada.run(&["reopen", &thread]);
    assert!(reopened.status.success());
    assert!(
        String::from_utf8_lossy(&reopened.stdout).contains("is open already; nothing was sent"),
        "{reopened:?}"
    );
    let shown = ada.json(&["show", &thread]);
    assert_eq!(shown["resolved"], false);
    assert_eq!(shown["posts"].as_array().map(Vec::len), Some(1));
}

/// Ctrl-C while the editor is open: `parley` waits for the editor, as git does, keeps
/// what was written, and offers it back the next time the same reply is written.
#[test]
fn an_interrupted_editor_keeps_the_draft_for_the_next_reply() {
    use std::os::unix::fs::PermissionsExt as _;
    use std::os::unix::process::CommandExt as _;
    use std::process::Command;

    let mut node = TestNode::init();
    node.start();
    let ada = TestUser::new();
    ada.json(&["join", &node.invite()]);
    let space = id(&ada.json(&["space", "create", "design"]));
    let thread = id(&ada.json(&["post", &space, "--title", "Timeouts", "--body", "how long?"]));

    // An editor that writes half a thought, then Ctrl-C reaches everything in the
    // terminal's process group (here: parley, the shell and the editor).
    let tools = tempfile::tempdir().unwrap();
    let interrupted = tools.path().join("interrupted-editor");
    std::fs::write(
        &interrupted,
        "#!/bin/sh\nprintf 'Ten seconds, ' > \"$1\"\nkill -INT 0\nsleep 5\n",
    )
    .unwrap();
    std::fs::set_permissions(&interrupted, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new(parley_tests::binary("parley"))
        .arg("--home")
        .arg(ada.path())
        .args(["reply", &thread])
        .env("EDITOR", &interrupted)
        .process_group(0)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "parley itself was interrupted: {stderr}"
    );
    assert!(stderr.contains("your text is kept in"), "{stderr}");
    assert!(stderr.contains("offered back"), "{stderr}");

    // The next reply to the same thread opens the editor on that draft.
    let finishing = tools.path().join("finishing-editor");
    std::fs::write(&finishing, "#!/bin/sh\nprintf 'then retry.' >> \"$1\"\n").unwrap();
    std::fs::set_permissions(&finishing, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new(parley_tests::binary("parley"))
        .arg("--home")
        .arg(ada.path())
        .args(["reply", &thread, "--json"])
        .env("EDITOR", &finishing)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("Continuing the draft"), "{stderr}");
    let shown = ada.json(&["show", &thread]);
    assert!(
        shown.to_string().contains("Ten seconds, then retry."),
        "{shown}"
    );
    // Published: the draft is gone, and the next reply starts afresh.
    let drafts = std::fs::read_dir(ada.path().join("drafts"))
        .unwrap()
        .count();
    assert_eq!(drafts, 0);
}
