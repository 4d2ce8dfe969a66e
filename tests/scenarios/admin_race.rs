//! Admin commands never disturb a running or starting node: `parleyd status` runs in a
//! loop, through the real binaries, while the node starts and stops again and again.
//! Every start must serve and every status must answer (from the store while the node
//! is stopped, from the node while it runs or starts).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parley_tests::process::TestNode;

/// Starts and stops of the node; `PARLEY_ADMIN_RACE_STARTS` sets another count.
fn starts() -> usize {
    std::env::var("PARLEY_ADMIN_RACE_STARTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(50)
}

#[test]
fn admin_commands_in_a_loop_never_stop_a_starting_node() {
    let mut node = TestNode::init();
    let dir = node.dir.path().to_owned();
    let done = Arc::new(AtomicBool::new(false));
    let checker = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut answered = 0usize;
            let mut failures = Vec::new();
            let mut slowest = Duration::ZERO;
            // Bounded in time as well as by the flag.
            let deadline = Instant::now() + Duration::from_secs(300);
            while !done.load(Ordering::Relaxed) && Instant::now() < deadline {
                let began = Instant::now();
                let out = std::process::Command::new(parley_tests::binary("parleyd"))
                    .args(["status", "--json", "--data-dir"])
                    .arg(&dir)
                    .output()
                    .expect("parleyd runs");
                slowest = slowest.max(began.elapsed());
                if out.status.success() {
                    answered += 1;
                } else {
                    failures.push(String::from_utf8_lossy(&out.stderr).into_owned());
                }
            }
            eprintln!("{answered} status commands answered, the slowest in {slowest:?}");
            (answered, failures)
        })
    };
    let status = |node: &TestNode, state: &str| {
        let out = node.admin(&["status", "--json"]);
        assert!(
            out.status.success(),
            "status of a {state} node failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(json["running"], state == "running", "{json}");
    };
    for _ in 0..starts() {
        // `start` fails the test if the node does not serve within 20 s (before, it
        // exited at once saying it was "already running" when a status held the store).
        node.start();
        status(&node, "running");
        node.stop();
        status(&node, "stopped");
    }
    done.store(true, Ordering::Relaxed);
    let (answered, failures) = checker.join().expect("the status loop");
    assert!(
        failures.is_empty(),
        "{} status commands failed: {failures:#?}",
        failures.len()
    );
    assert!(answered > 0, "no status ran beside the starts");
}
