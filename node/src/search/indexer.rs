//! The indexer: one thread that owns the index writer. It replaces the documents of
//! each thread folded again (handed over by the refold, or folded here for threads
//! still marked in the store), commits at most every [`COMMIT_EVERY`], then clears the
//! marks that the commit covers. While a rebuild is under way it also marks the
//! store's threads, a group at a time.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

use parley_protocol::view::ThreadView;
use parley_protocol::{PostId, SpaceId};
use tantivy::{IndexWriter, Term};

use crate::storage::{SearchMark, Storage, StorageError};

use super::{Job, SearchIndex, Work, Writing, documents};

/// How long documents may wait before a commit makes them searchable.
const COMMIT_EVERY: Duration = Duration::from_millis(200);
/// Threads written before a commit, whatever the time.
const COMMIT_THREADS: usize = 4096;
/// Marked threads the indexer folds itself per turn.
const SWEEP_CHUNK: usize = 256;
/// How long the indexer waits between passes over the marks when it is idle.
const SWEEP_IDLE: Duration = Duration::from_secs(1);
/// How long it waits after a failed commit before trying again.
const RETRY: Duration = Duration::from_secs(5);

/// Folds one thread as the read model does: `None` when it is not shown.
pub(crate) type Fold =
    Box<dyn Fn(&SpaceId, &PostId) -> Result<Option<ThreadView>, StorageError> + Send>;

/// The indexer thread.
#[derive(Debug)]
pub(crate) struct Indexer {
    thread: Option<std::thread::JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

impl Indexer {
    /// Starts indexing into `index` with `writing`, folding marked threads with `fold`.
    pub(crate) fn spawn(
        index: Arc<SearchIndex>,
        writing: Writing,
        storage: Storage,
        fold: Fold,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("search-indexer".into())
            .spawn(move || {
                let mut state = State {
                    index,
                    writer: writing.writer,
                    storage,
                    fold,
                    pending: Vec::new(),
                    pending_keys: HashSet::new(),
                    since: None,
                    retry_at: None,
                    sweep_at: Instant::now(),
                };
                state.run(&writing.jobs, &stopping);
            })?;
        Ok(Self {
            thread: Some(thread),
            stop,
        })
    }

    /// Stops the thread after it commits what it holds, and waits for it.
    pub(crate) fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// Tells the thread to stop without waiting (a crash-like stop: what is not
    /// committed stays marked in the store).
    pub(crate) fn abandon(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

struct State {
    index: Arc<SearchIndex>,
    writer: IndexWriter,
    storage: Storage,
    fold: Fold,
    /// Marks whose documents are written but not committed.
    pending: Vec<SearchMark>,
    pending_keys: HashSet<(SpaceId, PostId, u64)>,
    /// When the oldest pending document was written.
    since: Option<Instant>,
    /// No commit before this, after a failure.
    retry_at: Option<Instant>,
    /// When to look at the store's marks again.
    sweep_at: Instant,
}

impl State {
    fn run(&mut self, jobs: &std::sync::mpsc::Receiver<Work>, stop: &AtomicBool) {
        let mut sweep_from: Option<SearchMark> = None;
        let mut marking = self.storage.search_rebuild_pending().unwrap_or(false);
        while !stop.load(Ordering::Relaxed) {
            if marking {
                match self.storage.mark_all_for_search() {
                    Ok(more) => marking = more,
                    Err(error) => {
                        tracing::warn!(%error, "could not mark threads for the search index");
                        marking = false;
                    }
                }
            }
            let wait = match self.since {
                Some(since) => COMMIT_EVERY.saturating_sub(since.elapsed()),
                None if marking => Duration::ZERO,
                None => self
                    .sweep_at
                    .saturating_duration_since(Instant::now())
                    .min(Duration::from_millis(100)),
            };
            let mut idle = false;
            match jobs.recv_timeout(wait) {
                Ok(work) => self.take(work),
                Err(RecvTimeoutError::Timeout) => idle = true,
                Err(RecvTimeoutError::Disconnected) => break,
            }
            while !idle && self.pending.len() < COMMIT_THREADS {
                match jobs.try_recv() {
                    Ok(work) => self.take(work),
                    Err(TryRecvError::Empty) => idle = true,
                    Err(TryRecvError::Disconnected) => break,
                }
            }
            if self.due() {
                self.commit();
            }
            if idle && !marking && Instant::now() >= self.sweep_at {
                match self.sweep(sweep_from.as_ref()) {
                    Ok(Some(last)) => sweep_from = Some(last),
                    Ok(None) => {
                        sweep_from = None;
                        self.sweep_at = Instant::now() + SWEEP_IDLE;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "could not index marked threads; trying again");
                        sweep_from = None;
                        self.sweep_at = Instant::now() + RETRY;
                    }
                }
            }
        }
        if !self.pending.is_empty() {
            self.retry_at = None;
            self.commit();
        }
    }

    /// Writes the documents of a thread handed over by the refold, or commits what is
    /// written for a search that waits.
    fn take(&mut self, work: Work) {
        match work {
            Work::Thread(job) => {
                let Job {
                    mark,
                    thread,
                    bytes,
                } = *job;
                self.index
                    .progress
                    .queued
                    .fetch_sub(bytes, Ordering::Relaxed);
                self.write(mark, thread.as_ref());
            }
            Work::Flush(done) => {
                if self.since.is_some() && self.retry_at.is_none_or(|at| Instant::now() >= at) {
                    self.commit();
                }
                let _ = done.try_send(());
                // Whoever waits wants everything: threads left marked are looked at now.
                self.sweep_at = self.sweep_at.min(Instant::now());
            }
        }
    }

    /// Replaces the documents of the thread of `mark` with those of `thread`.
    fn write(&mut self, mark: SearchMark, thread: Option<&ThreadView>) {
        let fields = &self.index.fields;
        self.writer
            .delete_term(Term::from_field_bytes(fields.thread, mark.root.as_bytes()));
        if let Some(thread) = thread {
            for document in documents::of_thread(fields, &mark.space, thread) {
                if let Err(error) = self.writer.add_document(document) {
                    tracing::warn!(%error, "could not index a post");
                }
            }
        }
        if self.pending_keys.insert((mark.space, mark.root, mark.seq)) {
            self.pending.push(mark);
        }
        self.since.get_or_insert_with(Instant::now);
    }

    fn due(&self) -> bool {
        let Some(since) = self.since else {
            return false;
        };
        if self.retry_at.is_some_and(|at| Instant::now() < at) {
            return false;
        }
        since.elapsed() >= COMMIT_EVERY || self.pending.len() >= COMMIT_THREADS
    }

    /// Commits what is written, makes it searchable, and clears the marks it covers.
    /// A failed commit (a full disk) drops what was written: the marks stay, and the
    /// threads are indexed again later.
    fn commit(&mut self) {
        let result = (|| -> Result<(), super::SearchError> {
            let mut prepared = self.writer.prepare_commit()?;
            prepared.set_payload(&self.index.payload);
            prepared.commit()?;
            self.index.reader.reload()?;
            Ok(())
        })();
        let pending = std::mem::take(&mut self.pending);
        self.pending_keys.clear();
        self.since = None;
        match result {
            Ok(()) => {
                self.retry_at = None;
                self.index
                    .progress
                    .indexed
                    .fetch_add(pending.len() as u64, Ordering::Relaxed);
                *self
                    .index
                    .progress
                    .failure
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
                if let Err(error) = self.storage.clear_search_marks(&pending) {
                    tracing::warn!(%error, "could not clear search marks; those threads are indexed again");
                }
            }
            Err(error) => {
                tracing::warn!(%error, "could not commit the search index; trying again in {}s", RETRY.as_secs());
                *self
                    .index
                    .progress
                    .failure
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(error.to_string());
                if let Err(error) = self.writer.rollback() {
                    tracing::warn!(%error, "could not roll the search index back");
                }
                self.retry_at = Some(Instant::now() + RETRY);
            }
        }
    }

    /// Folds and writes the next chunk of threads marked in the store (left by a crash,
    /// a rebuild, or a full queue), after `from`; returns the last one looked at, or
    /// `None` at the end of the marks.
    fn sweep(&mut self, from: Option<&SearchMark>) -> Result<Option<SearchMark>, StorageError> {
        let marks = self.storage.search_marks(from, SWEEP_CHUNK)?;
        let Some(last) = marks.last().copied() else {
            // A whole pass over the marks after a rebuild marked every thread: each was
            // written (or is queued from a later fold).
            if self.index.progress.building.swap(false, Ordering::Relaxed) {
                tracing::info!("the search index is built");
            }
            return Ok(None);
        };
        for mark in marks {
            if self
                .pending_keys
                .contains(&(mark.space, mark.root, mark.seq))
            {
                continue;
            }
            let thread = (self.fold)(&mark.space, &mark.root)?;
            self.write(mark, thread.as_ref());
        }
        if self.due() {
            self.commit();
        }
        Ok(Some(last))
    }
}
