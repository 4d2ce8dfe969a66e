//! Full-text search of what the node holds (issue 13; informative spec 8.6): a tantivy
//! index kept on disk beside the store, in `search/` under the store's directory. This
//! module is the only one that names tantivy.
//!
//! The index is derived data, written from the read model: every fold of a thread
//! (`server::refold`) hands the thread as the fold shows it to the indexer (the `indexer` module), which
//! replaces the thread's documents. So an edit replaces its target's text, a retraction
//! or a late membership change that hides a post removes it, and a decision is a
//! document of its own, exactly as the views say (spec 6). The store marks each fold
//! for the index in the same batch as its line (`storage::search`); the indexer clears a
//! mark once the documents are committed, so a crash loses nothing, and whatever is
//! still marked at start-up is indexed again.
//!
//! An index that is missing, damaged, of another format or of another language is
//! rebuilt from the store in the background while the node serves; searches meanwhile
//! say that the index is still being built.

mod documents;
mod indexer;
mod query;
mod schema;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};

use parley_protocol::api::search::{SearchQuery, SearchSort};
use parley_protocol::view::ThreadView;
use parley_protocol::{PostId, SpaceId, Timestamp, UserId};
use serde::{Deserialize, Serialize};
use tantivy::collector::TopDocs;
use tantivy::schema::Value;
use tantivy::snippet::SnippetGenerator;
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{DocAddress, Index, IndexReader, IndexWriter, ReloadPolicy, Score, TantivyDocument};

use crate::storage::{SEARCH_DIR, SearchMark, Storage, StorageError};

pub(crate) use indexer::{Fold, Indexer};
pub(crate) use query::Scope;

/// The indexing memory tantivy is given by default (`[search] writer_mb`); its least.
pub const DEFAULT_WRITER_BYTES: u64 = 16 * 1024 * 1024;
/// Bytes of folded threads that may wait for the indexer; past it, threads are left
/// marked in the store and the indexer folds them itself.
const QUEUE_BYTES: usize = 16 * 1024 * 1024;
/// The most characters of a snippet.
const SNIPPET_CHARS: usize = 180;

/// The language an index stems words for (`[search] language`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
#[allow(missing_docs)]
pub enum Language {
    /// No stemming: words match as written (after case and accent folding).
    None,
    Danish,
    Dutch,
    #[default]
    English,
    Finnish,
    French,
    German,
    Hungarian,
    Italian,
    Norwegian,
    Portuguese,
    Romanian,
    Russian,
    Spanish,
    Swedish,
    Turkish,
}

/// How the search index is kept (`[search]` in `parleyd.toml`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SearchSettings {
    /// Whether the node keeps an index and answers searches.
    pub enabled: bool,
    /// The language words are stemmed for; changing it rebuilds the index.
    pub language: Language,
    /// Memory tantivy may use to index before writing a segment (at least 15 MiB).
    pub writer_bytes: u64,
}

impl Default for SearchSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            language: Language::English,
            writer_bytes: DEFAULT_WRITER_BYTES,
        }
    }
}

/// Why the index could not be opened, written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SearchError {
    /// tantivy failed.
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The index's folder could not be prepared.
    #[error("search index folder {path}: {source}")]
    Io {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// What the commit payload of an index says it is; another one means a rebuild.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Meta {
    format: u32,
    language: Language,
}

/// What the indexer is handed.
#[derive(Debug)]
pub(crate) enum Work {
    /// A thread folded again.
    Thread(Box<Job>),
    /// Commit what was handed over before this now, then say so.
    Flush(SyncSender<()>),
}

/// A thread folded again, for the indexer: its mark and the thread as the fold shows
/// it (`None`: not shown, its documents go).
#[derive(Debug)]
pub(crate) struct Job {
    mark: SearchMark,
    thread: Option<ThreadView>,
    bytes: usize,
}

/// How far the index is.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    /// A rebuild is under way: older posts may not be found yet.
    building: AtomicBool,
    /// Threads written to the index since start-up.
    indexed: AtomicU64,
    /// Bytes of jobs waiting for the indexer.
    queued: AtomicUsize,
    /// The last failure, until a commit succeeds.
    failure: Mutex<Option<String>>,
}

/// The search index as the node reads it: searches, and the queue of folded threads
/// the indexer writes.
pub(crate) struct SearchIndex {
    reader: IndexReader,
    fields: schema::Fields,
    analyzer: TextAnalyzer,
    queue: SyncSender<Work>,
    progress: Arc<Progress>,
    payload: String,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex").finish_non_exhaustive()
    }
}

/// What [`SearchIndex::open`] hands the indexer.
pub(crate) struct Writing {
    writer: IndexWriter,
    jobs: Receiver<Work>,
}

impl std::fmt::Debug for Writing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writing").finish_non_exhaustive()
    }
}

/// A hit as the index has it, before the store fills in its text.
#[derive(Clone, Debug)]
pub(crate) struct RawHit {
    pub(crate) space: SpaceId,
    pub(crate) thread: PostId,
    pub(crate) id: PostId,
    pub(crate) rev: PostId,
    pub(crate) author: UserId,
    pub(crate) created_at: Timestamp,
    pub(crate) decision: bool,
}

/// A page of raw hits, with what cuts their snippets.
pub(crate) struct Found {
    pub(crate) hits: Vec<RawHit>,
    pub(crate) total: u64,
    snippets: SnippetGenerator,
}

impl std::fmt::Debug for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Found")
            .field("hits", &self.hits)
            .field("total", &self.total)
            .finish_non_exhaustive()
    }
}

impl Found {
    /// A piece of `text` around the words that matched, and where they are in it; the
    /// start of the text when none is in it (a title or a filter matched).
    pub(crate) fn snippet(&self, text: &str) -> (String, Vec<(u32, u32)>) {
        let snippet = self.snippets.snippet(text);
        if snippet.is_empty() {
            return (lead(text), Vec::new());
        }
        // A short text is shown whole; a long one as the fragment, marked where cut.
        let range = snippet.fragment_range();
        let (shown, shift) = if text.chars().count() <= SNIPPET_CHARS {
            (text.to_owned(), range.start)
        } else {
            let before = if range.start > 0 { "…" } else { "" };
            let after = if range.end < text.len() { "…" } else { "" };
            (
                format!("{before}{}{after}", snippet.fragment()),
                range.start + before.len(),
            )
        };
        let highlights = snippet
            .highlighted()
            .iter()
            .filter_map(|range| {
                Some((
                    u32::try_from(range.start + shift).ok()?,
                    u32::try_from(range.end + shift).ok()?,
                ))
            })
            .collect();
        (shown, highlights)
    }
}

/// The start of `text`, cut at a word boundary near [`SNIPPET_CHARS`].
fn lead(text: &str) -> String {
    let text = text.trim();
    if text.chars().count() <= SNIPPET_CHARS {
        return text.to_owned();
    }
    let cut: String = text.chars().take(SNIPPET_CHARS).collect();
    match cut.rfind(char::is_whitespace) {
        Some(space) if space > SNIPPET_CHARS / 2 => cut[..space].to_owned(),
        _ => cut,
    }
}

impl SearchIndex {
    /// Opens the index of `storage` (creating or rebuilding it when it is missing,
    /// damaged, or of another format or language): the index for searches, and what the
    /// indexer writes with.
    pub(crate) fn open(
        storage: &Storage,
        settings: &SearchSettings,
    ) -> Result<(Self, Writing), SearchError> {
        let dir = storage.path().join(SEARCH_DIR);
        let (schema, fields) = schema::Fields::schema();
        let meta = Meta {
            format: schema::FORMAT,
            language: settings.language,
        };
        let payload = serde_json::to_string(&meta).unwrap_or_default();
        let progress = Arc::new(Progress::default());
        let (index, opened) = match open_existing(&dir, &schema, &payload) {
            Ok((index, reader)) => (index, Some(reader)),
            Err(why) => {
                tracing::info!(%why, dir = %dir.display(), "building the search index from the store, in the background");
                // Marked first: a crash before the new index is committed starts over.
                storage.start_search_rebuild()?;
                (create(&dir, schema)?, None)
            }
        };
        schema::register(&index, settings.language);
        let budget = usize::try_from(settings.writer_bytes)
            .unwrap_or(usize::MAX)
            .clamp(15 << 20, 1 << 30);
        let mut writer: IndexWriter = index.writer_with_num_threads(1, budget)?;
        if index.load_metas()?.payload.as_deref() != Some(payload.as_str()) {
            let mut commit = writer.prepare_commit()?;
            commit.set_payload(&payload);
            commit.commit()?;
        }
        let reader = match opened {
            Some(reader) => reader,
            None => manual_reader(&index)?,
        };
        progress
            .building
            .store(storage.search_rebuild_pending()?, Ordering::Relaxed);
        let (queue, jobs) = std::sync::mpsc::sync_channel(4096);
        Ok((
            Self {
                reader,
                fields,
                analyzer: schema::analyzer(settings.language),
                queue,
                progress,
                payload,
            },
            Writing { writer, jobs },
        ))
    }

    /// Hands a thread folded again to the indexer, unless too much waits already (its
    /// mark stays in the store, and the indexer folds it itself).
    pub(crate) fn offer(&self, space: SpaceId, root: PostId, seq: u64, thread: Option<ThreadView>) {
        let bytes = thread.as_ref().map_or(64, documents::text_bytes);
        let queued = self.progress.queued.load(Ordering::Relaxed);
        if queued.saturating_add(bytes) > QUEUE_BYTES {
            return;
        }
        let job = Job {
            mark: SearchMark { space, root, seq },
            thread,
            bytes,
        };
        self.progress.queued.fetch_add(bytes, Ordering::Relaxed);
        if let Err(TrySendError::Full(work) | TrySendError::Disconnected(work)) =
            self.queue.try_send(Work::Thread(Box::new(job)))
            && let Work::Thread(job) = work
        {
            self.progress.queued.fetch_sub(job.bytes, Ordering::Relaxed);
        }
    }

    /// Waits (at most `limit`) until what was handed to the indexer so far is
    /// searchable, so that people find what they just wrote.
    pub(crate) fn flush(&self, limit: std::time::Duration) {
        let (done, wait) = std::sync::mpsc::sync_channel(1);
        if self.queue.try_send(Work::Flush(done)).is_ok() {
            let _ = wait.recv_timeout(limit);
        }
    }

    /// Whether a rebuild is under way, so that older posts may be missing from hits.
    pub(crate) fn building(&self) -> bool {
        self.progress.building.load(Ordering::Relaxed)
    }

    /// The index's state for `parleyd status`.
    pub(crate) fn status(&self, storage: &Storage) -> SearchStatus {
        let searcher = self.reader.searcher();
        SearchStatus {
            documents: searcher.num_docs(),
            waiting: storage.search_mark_count(1_000_000).unwrap_or(0) as u64,
            building: self.building(),
            size_bytes: dir_size(&storage.path().join(SEARCH_DIR)),
            failure: self
                .progress
                .failure
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }

    /// A page of the hits of `query` within `scope`.
    pub(crate) fn search(
        &self,
        query: &SearchQuery,
        scope: &Scope,
        sort: SearchSort,
        limit: usize,
        offset: usize,
    ) -> Result<Found, SearchError> {
        let mut analyzer = self.analyzer.clone();
        let built = query::build(&self.fields, &mut analyzer, query, scope);
        let searcher = self.reader.searcher();
        let top = TopDocs::with_limit(limit.max(1)).and_offset(offset);
        let by_date = sort == SearchSort::Newest || !query.terms.iter().any(|t| !t.negated);
        // By relevance, tantivy skips blocks that cannot reach the page (block-max
        // WAND); ties on the page go newest first. By date (or for filters alone, where
        // every hit scores the same), the date decides. The count is a separate pass,
        // which needs no scores.
        let page: Vec<(Score, DocAddress)> = if by_date {
            let ranked: Vec<(Option<u64>, DocAddress)> = searcher.search(
                &*built,
                &top.order_by_fast_field::<u64>("created_at", tantivy::Order::Desc),
            )?;
            ranked
                .into_iter()
                .map(|(_, address)| (0.0, address))
                .collect()
        } else {
            searcher.search(&*built, &top.order_by_score())?
        };
        let total = built.count(&searcher)?;
        let mut scored = Vec::with_capacity(page.len());
        for (score, address) in page {
            let document: TantivyDocument = searcher.doc(address)?;
            if let Some(hit) = self.raw_hit(&document) {
                scored.push((score, hit));
            }
        }
        if !by_date {
            scored.sort_by(|a, b| {
                b.0.total_cmp(&a.0)
                    .then(b.1.created_at.cmp(&a.1.created_at))
            });
        }
        let hits = scored.into_iter().map(|(_, hit)| hit).collect();
        let mut snippets = SnippetGenerator::create(&searcher, &*built, self.fields.body)?;
        snippets.set_max_num_chars(SNIPPET_CHARS);
        Ok(Found {
            hits,
            total: total as u64,
            snippets,
        })
    }

    fn raw_hit(&self, document: &TantivyDocument) -> Option<RawHit> {
        let bytes =
            |field| -> Option<[u8; 32]> { document.get_first(field)?.as_bytes()?.try_into().ok() };
        let number = |field| document.get_first(field)?.as_u64();
        Some(RawHit {
            space: SpaceId::from_bytes(bytes(self.fields.space)?),
            thread: PostId::from_bytes(bytes(self.fields.thread)?),
            id: PostId::from_bytes(bytes(self.fields.id)?),
            rev: PostId::from_bytes(bytes(self.fields.rev)?),
            author: UserId::from_bytes(bytes(self.fields.author)?),
            created_at: Timestamp::from_millis(number(self.fields.created_at)?),
            decision: number(self.fields.kind)? == schema::KIND_DECISION,
        })
    }
}

/// The index's state, for `parleyd status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchStatus {
    /// Documents in the index (posts and decisions).
    pub documents: u64,
    /// Threads folded but not yet committed to the index.
    pub waiting: u64,
    /// Whether a rebuild is under way.
    pub building: bool,
    /// The index's size on disk.
    pub size_bytes: u64,
    /// The last failure to write the index, until a write succeeds.
    pub failure: Option<String>,
}

/// A reader of `index` that sees a commit once told to (the indexer reloads it).
fn manual_reader(index: &Index) -> tantivy::Result<IndexReader> {
    index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()
}

/// The existing index in `dir` and its reader, if it opens, has this schema and says it
/// is of this format and language; else why not.
fn open_existing(
    dir: &Path,
    schema: &tantivy::schema::Schema,
    payload: &str,
) -> Result<(Index, IndexReader), String> {
    if !dir.join("meta.json").exists() {
        return Err("there is none".into());
    }
    let index = Index::open_in_dir(dir).map_err(|error| format!("it does not open: {error}"))?;
    if index.schema() != *schema {
        return Err("its documents are of another format".into());
    }
    let metas = index
        .load_metas()
        .map_err(|error| format!("its state does not read: {error}"))?;
    if metas.payload.as_deref() != Some(payload) {
        return Err(format!(
            "it was built as {}, not {payload}",
            metas.payload.as_deref().unwrap_or("(nothing)")
        ));
    }
    // A reader opens every segment: damage shows here rather than in a search.
    let reader = manual_reader(&index).map_err(|error| format!("it does not read: {error}"))?;
    Ok((index, reader))
}

/// A new empty index in `dir`, replacing whatever was there.
fn create(dir: &Path, schema: tantivy::schema::Schema) -> Result<Index, SearchError> {
    let io = |source| SearchError::Io {
        path: dir.to_path_buf(),
        source,
    };
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(io(error)),
    }
    std::fs::create_dir_all(dir).map_err(io)?;
    Ok(Index::create_in_dir(dir, schema)?)
}

/// Bytes of the files in `dir` (not recursive: tantivy keeps one flat folder).
fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| entry.metadata().ok())
                .filter(std::fs::Metadata::is_file)
                .map(|metadata| metadata.len())
                .sum()
        })
        .unwrap_or(0)
}
