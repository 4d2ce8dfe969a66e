//! Keeping the read model current (spec 6.16): the threads new posts marked are folded
//! again, each from its closure against the space's spine, and their lines written back
//! to the store. A background task does it soon after posts are stored. Every read of a
//! space first folds what is still marked there (up to [`READ_BUDGET`] threads), so a
//! user reads what they just wrote.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use parley_protocol::view::{SpaceView, ThreadView};
use parley_protocol::{PostId, SpaceId};

use crate::search::SearchIndex;
use crate::storage::{Folded, Storage, StorageError};

use super::Node;
use super::spaces::Spaces;

#[cfg(test)]
mod tests;

/// Most marked threads a read folds before answering; the background task folds the
/// rest (a store that was just migrated marks every thread).
pub(crate) const READ_BUDGET: usize = 128;
/// How long the background task lets marks gather after being woken.
const GATHER: std::time::Duration = std::time::Duration::from_millis(25);
/// Marked threads folded per turn of the refold lock.
const CHUNK: usize = 256;

/// What folding threads again needs: the store, the spines in memory, and the lock that
/// lets one refolder write lines at a time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Refolding<'a> {
    pub(crate) storage: &'a Storage,
    pub(crate) spaces: &'a Mutex<Spaces>,
    pub(crate) lock: &'a Mutex<()>,
    /// The search index, which every fold is handed to.
    pub(crate) search: Option<&'a SearchIndex>,
}

impl Refolding<'_> {
    fn spaces(&self) -> MutexGuard<'_, Spaces> {
        self.spaces.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The spine view of `space` (`None` without a genesis), after learning every spine
    /// post the store has filed (a post stored a moment ago may not be recorded yet).
    pub(crate) fn spine(&self, space: &SpaceId) -> Result<Option<Arc<SpaceView>>, StorageError> {
        let filed = self.storage.spine_ids(space)?;
        if filed.len() != self.spaces().filed(space) {
            let unknown: Vec<PostId> = {
                let spaces = self.spaces();
                filed
                    .into_iter()
                    .filter(|id| !spaces.knows(space, id))
                    .collect()
            };
            for id in unknown {
                let post = self.storage.get(&id)?;
                self.spaces().learn(*space, id, post.as_ref());
            }
        }
        Ok(self.spaces().membership(space))
    }

    /// One thread of `space` folded from its closure, if it is shown.
    pub(crate) fn fold_thread(
        &self,
        space: &SpaceId,
        spine: &SpaceView,
        root: &PostId,
    ) -> Result<Option<ThreadView>, StorageError> {
        let posts = self.storage.thread_posts(space, root)?;
        Ok(spine.fold_thread(root, &posts))
    }

    /// Folds again the threads of `space` marked when called, at most `budget` of them
    /// (all with `None`); returns whether any stay marked.
    pub(crate) fn refresh(
        &self,
        space: &SpaceId,
        budget: Option<usize>,
    ) -> Result<bool, StorageError> {
        let _refolding = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.storage.expand_stale(space)?;
        let spine = self.spine(space)?;
        let mut after: Option<PostId> = None;
        let mut left = budget.unwrap_or(usize::MAX);
        while left > 0 {
            let marked = self
                .storage
                .dirty_threads(space, after.as_ref(), CHUNK.min(left))?;
            let Some((last, _)) = marked.last() else {
                return Ok(false);
            };
            after = Some(*last);
            left -= marked.len();
            let mut folded = Vec::with_capacity(marked.len());
            let mut threads = Vec::with_capacity(marked.len());
            for (root, token) in marked {
                let thread = match &spine {
                    Some(spine) => self.fold_thread(space, spine, &root)?,
                    None => None,
                };
                let line = match (&spine, &thread) {
                    (Some(spine), Some(thread)) => {
                        let mut line = spine.summary_of(thread);
                        // Names change without the thread: the reader adds them.
                        line.author_name = None;
                        Some(line)
                    }
                    _ => None,
                };
                folded.push(Folded { root, token, line });
                threads.push((root, thread));
            }
            let seq = self.storage.store_lines(space, &folded)?;
            if let (Some(search), Some(seq)) = (self.search, seq) {
                for (root, thread) in threads {
                    search.offer(*space, root, seq, thread);
                }
            }
        }
        Ok(!self
            .storage
            .dirty_threads(space, after.as_ref(), 1)?
            .is_empty())
    }

    /// Folds what is marked in every space, a chunk at a time, until nothing is or
    /// `stop` is set.
    pub(crate) fn refresh_all(&self, stop: &AtomicBool) -> Result<(), StorageError> {
        for space in self.storage.spaces_to_refold()? {
            while !stop.load(Ordering::Relaxed) && self.refresh(&space, Some(CHUNK))? {}
        }
        Ok(())
    }
}

impl Node {
    /// The node's refolding state.
    pub(crate) fn refolding(&self) -> Refolding<'_> {
        Refolding {
            storage: &self.storage,
            spaces: &self.spaces,
            lock: &self.refolding,
            search: self.search.as_deref(),
        }
    }
}

/// The background refold task.
#[derive(Debug)]
pub(crate) struct Refolder {
    task: tokio::task::JoinHandle<()>,
    stop: Arc<AtomicBool>,
    wake: Arc<tokio::sync::Notify>,
}

impl Refolder {
    /// Starts folding marked threads of `node` now and whenever `node.refold_wake` is
    /// notified.
    pub(crate) fn spawn(node: Arc<Node>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let wake = node.refold_wake.clone();
        let task = tokio::spawn(refold_loop(node, stop.clone()));
        Self { task, stop, wake }
    }

    /// Stops the task and waits until it let go of the store (within one chunk).
    pub(crate) async fn stop(self) {
        self.abandon();
        let _ = self.task.await;
    }

    /// Tells the task to stop without waiting for it.
    pub(crate) fn abandon(&self) {
        self.stop.store(true, Ordering::Relaxed);
        self.wake.notify_one();
    }
}

async fn refold_loop(node: Arc<Node>, stop: Arc<AtomicBool>) {
    let wake = node.refold_wake.clone();
    while !stop.load(Ordering::Relaxed) {
        let worker = node.clone();
        let stopping = stop.clone();
        let result =
            tokio::task::spawn_blocking(move || worker.refolding().refresh_all(&stopping)).await;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::warn!(%error, "folding threads again failed; reads fold what they need");
            }
            Err(error) => tracing::warn!(%error, "the refold task failed"),
        }
        if stop.load(Ordering::Relaxed) {
            break;
        }
        wake.notified().await;
        // Let a burst of posts mark its threads first: one fold covers them all.
        tokio::time::sleep(GATHER).await;
    }
}
