//! The background scrub: every stored post is read back from the log once after start
//! and then every [`SCRUB_EVERY`], a batch at a time off the async threads, so a record
//! damaged on disk is found and quarantined even if nobody reads it, and the peers are
//! asked for it again at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::federation;

use super::Node;

/// How often the whole store is read back.
pub(crate) const SCRUB_EVERY: Duration = Duration::from_secs(24 * 60 * 60);
/// The pause after each batch of records, so a scrub yields to the node's own work.
const PAUSE: Duration = Duration::from_millis(2);

/// The running scrub: its task and what stops it.
#[derive(Debug)]
pub(crate) struct Scrub {
    task: tokio::task::JoinHandle<()>,
    stop: Arc<StopScrub>,
}

impl Scrub {
    /// Starts scrubbing `node`'s store in the background.
    pub(crate) fn spawn(node: Arc<Node>) -> Self {
        let stop = Arc::new(StopScrub::default());
        let task = tokio::spawn(scrub_loop(node, stop.clone()));
        Self { task, stop }
    }

    /// Stops the scrub and waits until it let go of the store (within one batch).
    pub(crate) async fn stop(self) {
        self.stop.stop();
        let _ = self.task.await;
    }

    /// Tells the scrub to stop without waiting for it (the node is being abandoned).
    pub(crate) fn abandon(&self) {
        self.stop.stop();
    }
}

/// Tells a scrub to stop: between two batches, or while it waits for the next round.
#[derive(Debug, Default)]
struct StopScrub {
    flag: AtomicBool,
    notify: tokio::sync::Notify,
}

impl StopScrub {
    /// Asks the scrub to stop.
    fn stop(&self) {
        self.flag.store(true, Ordering::Relaxed);
        self.notify.notify_one();
    }

    fn stopped(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }
}

/// Scrubs until told to stop (the node is stopping); returns once it let go of the
/// store.
async fn scrub_loop(node: Arc<Node>, stop: Arc<StopScrub>) {
    loop {
        let storage = node.storage.clone();
        let stopping = stop.clone();
        let result = tokio::task::spawn_blocking(move || {
            storage.scrub(|| {
                std::thread::sleep(PAUSE);
                !stopping.stopped()
            })
        })
        .await;
        match result {
            Ok(Ok(scrubbed)) if scrubbed.damaged > 0 => {
                tracing::warn!(
                    read = scrubbed.read,
                    damaged = scrubbed.damaged,
                    "scrub: damaged records quarantined; asking the peers for them again"
                );
                // Reconcile at once: the peers now see what this node lacks.
                federation::replicas_changed(&node);
            }
            Ok(Ok(scrubbed)) => {
                tracing::debug!(read = scrubbed.read, "scrub: every stored post reads back");
            }
            Ok(Err(error)) => tracing::warn!(%error, "scrub failed; it runs again later"),
            Err(_) => return,
        }
        tokio::select! {
            () = tokio::time::sleep(SCRUB_EVERY) => {}
            () = stop.notify.notified() => return,
        }
        if stop.stopped() {
            return;
        }
    }
}
