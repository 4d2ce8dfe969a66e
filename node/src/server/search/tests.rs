//! The search index agrees with the fold. Each case stores a random history (the
//! worlds of the view properties, where every text has a word of its own) in random
//! groups and a random order, with duplicates, restarts, the bytes of retracted posts
//! dropped, folds whose documents never reach the index (a crash, or a full queue:
//! the marks in the store must bring them back), and the index deleted and rebuilt. At
//! random points and at the end, a search for each post's own word must find exactly
//! what the fold shows with that word: the post whose current text it is (an edit's
//! word finds the post it edits), the decision whose text it is, a title's word in
//! titles only; nothing retracted, hidden or replaced.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use parley_protocol::api::search::{SearchQuery, SearchSort};
use parley_protocol::content::Content;
use parley_protocol::view::fixture::world::{Rng, Style, World};
use parley_protocol::view::{SpaceView, fixture::world::MAX_WORLD_LEN};
use parley_protocol::{Post, PostId, SpaceId, Timestamp};
use proptest::prelude::*;

use crate::search::{Fold, Indexer, Scope, SearchIndex, SearchSettings};
use crate::server::refold::Refolding;
use crate::server::spaces::Spaces;
use crate::storage::testing::reopen;
use crate::storage::{Inserted, SEARCH_DIR, Storage};

/// How long a case waits for the indexer to catch up.
const CATCH_UP: Duration = Duration::from_secs(20);

/// A store, its spines and its search index, as the node keeps them.
struct Model {
    dir: tempfile::TempDir,
    storage: Option<Storage>,
    spaces: Arc<Mutex<Spaces>>,
    lock: Arc<Mutex<()>>,
    index: Option<Arc<SearchIndex>>,
    indexer: Option<Indexer>,
    space: SpaceId,
}

impl Model {
    fn new(space: SpaceId) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut model = Self {
            dir,
            storage: None,
            spaces: Arc::default(),
            lock: Arc::default(),
            index: None,
            indexer: None,
            space,
        };
        model.open();
        model
    }

    fn storage(&self) -> &Storage {
        self.storage.as_ref().unwrap()
    }

    /// Opens the store and the index, and starts the indexer.
    fn open(&mut self) {
        let storage = reopen(self.dir.path());
        self.spaces = Arc::new(Mutex::new(Spaces::load(&storage).unwrap()));
        let (index, writing) = SearchIndex::open(&storage, &SearchSettings::default()).unwrap();
        let index = Arc::new(index);
        let (folder, spaces, lock) = (storage.clone(), self.spaces.clone(), self.lock.clone());
        let fold: Fold = Box::new(move |space, root| {
            let refolding = Refolding {
                storage: &folder,
                spaces: &spaces,
                lock: &lock,
                search: None,
            };
            match refolding.spine(space)? {
                Some(spine) => refolding.fold_thread(space, &spine, root),
                None => Ok(None),
            }
        });
        self.indexer = Some(Indexer::spawn(index.clone(), writing, storage.clone(), fold).unwrap());
        self.index = Some(index);
        self.storage = Some(storage);
    }

    /// Stops the indexer (it commits what it holds) and closes everything.
    fn close(&mut self) {
        if let Some(indexer) = self.indexer.take() {
            indexer.stop();
        }
        self.index = None;
        self.storage = None;
    }

    /// Stores a group as the node does, then folds the marked threads: handing them
    /// to the index, or (`offered` false) not, as when the node stopped before.
    fn store(&self, group: &[&Post], offered: bool) -> Vec<Post> {
        let posts: Vec<Post> = group.iter().map(|p| (*p).clone()).collect();
        let outcomes = self.storage().insert(&posts).unwrap();
        let mut stored = Vec::new();
        for (post, outcome) in posts.into_iter().zip(outcomes) {
            if outcome == Inserted::New {
                self.spaces.lock().unwrap().record(&post);
                stored.push(post);
            }
        }
        let refolding = Refolding {
            storage: self.storage(),
            spaces: &self.spaces,
            lock: &self.lock,
            search: if offered { self.index.as_deref() } else { None },
        };
        refolding.refresh(&self.space, None).unwrap();
        stored
    }

    /// Drops the bytes of every post `stored` retracts, as the node does.
    fn drop_retracted(&self, stored: &[Post]) {
        let retracted = SpaceView::retracted(self.space, stored);
        self.storage()
            .drop_retracted(&self.space, &retracted)
            .unwrap();
    }

    /// Waits until every fold is committed to the index.
    fn caught_up(&self) -> Result<(), TestCaseError> {
        let index = self.index.as_ref().unwrap();
        let deadline = Instant::now() + CATCH_UP;
        loop {
            index.flush(Duration::from_secs(1));
            if self.storage().search_mark_count(1).unwrap() == 0 && !index.building() {
                return Ok(());
            }
            prop_assert!(Instant::now() < deadline, "the index did not catch up");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The posts (or decisions) a search for `text` finds.
    fn found(&self, text: &str) -> BTreeSet<PostId> {
        let query = SearchQuery::parse(text, Timestamp::from_millis(0)).unwrap();
        let scope = Scope {
            spaces: vec![self.space],
            authors: None,
        };
        let found = self
            .index
            .as_ref()
            .unwrap()
            .search(&query, &scope, SearchSort::Relevance, 50, 0)
            .unwrap();
        found.hits.iter().map(|hit| hit.id).collect()
    }

    /// Every post's own word finds what the fold of `stored` shows with it.
    fn agrees_with(&self, world: &World, stored: &[Post]) -> Result<(), TestCaseError> {
        self.caught_up()?;
        let view = SpaceView::fold(self.space, stored.iter());
        for (place, post) in world.posts.iter().enumerate() {
            let word = format!("w{place}");
            let mut expected = BTreeSet::new();
            for thread in view
                .threads()
                .iter()
                .filter_map(|line| view.thread(&line.id))
            {
                for shown in &thread.posts {
                    if shown.revisions.last().map(|r| r.id) == Some(post.id())
                        && shown.body.contains(&word)
                    {
                        expected.insert(shown.id);
                    }
                }
                if let Some(resolution) = &thread.resolution
                    && resolution.resolve == post.id()
                {
                    expected.insert(resolution.resolve);
                }
            }
            let has_word = matches!(
                post.content(),
                Content::Thread(_) | Content::Reply(_) | Content::Edit(_) | Content::Resolve(_)
            );
            if !has_word {
                continue;
            }
            prop_assert_eq!(
                self.found(&word),
                expected,
                "`{}` ({:?})",
                word,
                post.content()
            );
            if let Content::Thread(thread) = post.content() {
                let titled: BTreeSet<PostId> = view
                    .threads()
                    .iter()
                    .filter(|t| t.id == post.id() && t.title == thread.title)
                    .map(|t| t.id)
                    .collect();
                prop_assert_eq!(
                    self.found(&format!("{} in:title", thread.title)),
                    titled,
                    "title {}",
                    thread.title
                );
            }
        }
        Ok(())
    }
}

impl Drop for Model {
    fn drop(&mut self) {
        self.close();
    }
}

/// What happens after a group is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Then {
    Nothing,
    Check,
    Restart,
    DropRetracted,
    RebuildIndex,
}

fn run(style: Style, seed: u64, len: usize, plan: u64) -> Result<(), TestCaseError> {
    let world = World::generate(style, seed, len);
    let mut rng = Rng(plan);
    let posts = world.arrival(&mut rng);
    let mut model = Model::new(world.genesis.space());
    let mut stored: Vec<Post> = Vec::new();
    let mut rest = posts.as_slice();
    while !rest.is_empty() {
        let (group, after) = rest.split_at((1 + rng.below(4)).min(rest.len()));
        rest = after;
        // Now and then the folds never reach the index: their marks must.
        stored.extend(model.store(group, !rng.chance(15)));
        let then = match rng.below(16) {
            0..3 => Then::Check,
            3 => Then::Restart,
            4 => Then::DropRetracted,
            5 => Then::RebuildIndex,
            _ => Then::Nothing,
        };
        match then {
            Then::Nothing => {}
            Then::Check => model.agrees_with(&world, &stored)?,
            Then::Restart => {
                model.close();
                model.open();
            }
            Then::DropRetracted => model.drop_retracted(&stored),
            Then::RebuildIndex => {
                model.close();
                let dir = model.dir.path().join(SEARCH_DIR);
                if rng.chance(50) {
                    std::fs::remove_dir_all(&dir).unwrap();
                } else {
                    // Damaged: its state file unreadable.
                    std::fs::write(dir.join("meta.json"), b"{ not json").unwrap();
                }
                model.open();
            }
        }
    }
    model.agrees_with(&world, &stored)?;
    model.close();
    model.open();
    model.agrees_with(&world, &stored)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn searches_find_what_the_fold_shows(
        concurrent in any::<bool>(),
        seed in any::<u64>(),
        len in 5..=MAX_WORLD_LEN,
        plan in any::<u64>(),
    ) {
        let style = if concurrent { Style::Concurrent } else { Style::Discussion };
        run(style, seed, len, plan)?;
    }
}
