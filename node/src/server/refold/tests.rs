//! The read model agrees with the fold (spec 6.16). Each case stores a random history
//! (the worlds of the view properties) in random groups and a random order, with
//! duplicates, restarts, the bytes of retracted posts dropped, and the model built again
//! from scratch. At random points and at the end, every query the node answers from
//! the model is compared with the whole fold of what was stored: the thread list (read
//! in pages of three, whole and filtered), the decision log, the counts, each thread
//! and the spine's members, moderators, replicas and names.

use std::collections::BTreeMap;
use std::sync::Mutex;

use parley_protocol::api::{DecisionCursor, ThreadCursor, ThreadFilter};
use parley_protocol::view::fixture::key;
use parley_protocol::view::fixture::world::{EVE, MAX_WORLD_LEN, Rng, Style, World};
use parley_protocol::view::{Decision, ReadCursor, SpaceView, ThreadSummary, UnreadThread};
use parley_protocol::{Post, PostId, SpaceId, UserId};
use proptest::prelude::*;

use super::Refolding;
use crate::server::spaces::Spaces;
use crate::server::unread::{UnreadCount, unread_counts};
use crate::storage::testing::reopen;
use crate::storage::{Inserted, Page, PageLimits, Storage};

/// A store with the node's in-memory spines, as the node keeps them.
struct Model {
    dir: tempfile::TempDir,
    storage: Option<Storage>,
    spaces: Mutex<Spaces>,
    lock: Mutex<()>,
    space: SpaceId,
    /// What each user has marked read.
    read: BTreeMap<UserId, ReadCursor>,
}

impl Model {
    fn new(space: SpaceId) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path()).unwrap();
        let spaces = Mutex::new(Spaces::load(&storage).unwrap());
        Self {
            dir,
            storage: Some(storage),
            spaces,
            lock: Mutex::new(()),
            space,
            read: BTreeMap::new(),
        }
    }

    fn storage(&self) -> &Storage {
        self.storage.as_ref().unwrap()
    }

    fn refolding(&self) -> Refolding<'_> {
        Refolding {
            storage: self.storage(),
            spaces: &self.spaces,
            lock: &self.lock,
            search: None,
        }
    }

    /// Stores a group as the node does: the store, then the in-memory spine.
    fn store(&self, group: &[&Post]) -> Vec<Post> {
        let posts: Vec<Post> = group.iter().map(|p| (*p).clone()).collect();
        let outcomes = self.storage().insert(&posts).unwrap();
        let mut stored = Vec::new();
        for (post, outcome) in posts.into_iter().zip(outcomes) {
            if outcome == Inserted::New {
                self.spaces.lock().unwrap().record(&post);
                stored.push(post);
            }
        }
        stored
    }

    /// Stops and starts again: the store reopened, the spines loaded from it.
    fn restart(&mut self) {
        self.storage = None;
        let storage = reopen(self.dir.path());
        self.spaces = Mutex::new(Spaces::load(&storage).unwrap());
        self.storage = Some(storage);
    }

    /// Drops the bytes of every post `stored` retracts, as the node does.
    fn drop_retracted(&self, stored: &[Post]) {
        let retracted = SpaceView::retracted(self.space, stored);
        self.storage()
            .drop_retracted(&self.space, &retracted)
            .unwrap();
    }

    /// Marks `ids` read for `user`, in the store and the model.
    fn mark_read(&mut self, user: UserId, ids: &[PostId]) {
        self.storage().mark_read(&user, &self.space, ids).unwrap();
        let cursor = self.read.entry(user).or_default();
        ids.iter().for_each(|id| cursor.mark(*id));
    }

    /// Marks every post held now read for `user`, in the store and the model.
    fn mark_space_read(&mut self, user: UserId, stored: &[Post]) {
        self.storage().mark_space_read(&user, &self.space).unwrap();
        let cursor = self.read.entry(user).or_default();
        stored.iter().for_each(|post| cursor.mark(post.id()));
    }

    /// Catches `user` up in answers of at most `budget` posts (whole threads at a time),
    /// marking each answer read, until the node says nothing more remains; checks that
    /// the answers together list exactly what the fold says was unread.
    fn catch_up_in_steps(
        &mut self,
        user: UserId,
        budget: usize,
        stored: &[Post],
    ) -> Result<(), TestCaseError> {
        let whole = SpaceView::fold(self.space, stored);
        let cursor = self.read.get(&user).cloned().unwrap_or_default();
        let want: Vec<PostId> = whole
            .unread(&user, &cursor)
            .into_iter()
            .flat_map(|thread| thread.all_posts())
            .collect();
        let mut listed = Vec::new();
        for _ in 0..=want.len() + 1 {
            let (threads, complete) = self.count(user, true, budget);
            listed.extend(threads.into_iter().flat_map(|thread| thread.all_posts()));
            if complete {
                listed.sort();
                let mut want = want;
                want.sort();
                prop_assert_eq!(listed, want);
                return Ok(());
            }
        }
        prop_assert!(false, "catching up never ended");
        Ok(())
    }

    /// `user`'s unread threads as the node counts them; with `mark`, what is listed is
    /// marked read (in the model too).
    fn unread(&mut self, user: UserId, mark: bool) -> Vec<UnreadThread> {
        let (threads, complete) = self.count(user, mark, usize::MAX);
        assert!(complete);
        threads
    }

    /// One count of at most `budget` posts: the threads listed and whether it was
    /// complete.
    fn count(&mut self, user: UserId, mark: bool, budget: usize) -> (Vec<UnreadThread>, bool) {
        let refolding = self.refolding();
        refolding.refresh(&self.space, None).unwrap();
        let Some(spine) = refolding.spine(&self.space).unwrap() else {
            return (Vec::new(), true);
        };
        let mut budget = budget;
        let mut found = Vec::new();
        let complete = UnreadCount {
            refolding,
            user: &user,
            space: &self.space,
            spine: &spine,
            mark,
            budget: &mut budget,
            found: &mut found,
            order: 0,
        }
        .run()
        .unwrap();
        found.sort_by_key(|(order, _)| *order);
        let threads: Vec<UnreadThread> = found.into_iter().map(|(_, t)| t.thread).collect();
        if mark {
            let cursor = self.read.entry(user).or_default();
            for thread in &threads {
                thread
                    .all_posts()
                    .into_iter()
                    .for_each(|id| cursor.mark(id));
            }
        }
        (threads, complete)
    }

    /// Every line of the thread list `filter` admits, read three at a time.
    fn lines(&self, spine: &SpaceView, filter: ThreadFilter) -> Vec<ThreadSummary> {
        let mut lines = Vec::new();
        let mut before: Option<ThreadCursor> = None;
        for _ in 0..1000 {
            let page = self
                .storage()
                .lines(&self.space, before, None, filter, small())
                .unwrap();
            lines.extend(page.lines.into_iter().map(|mut line| {
                line.author_name = spine.display_name(&line.author).map(str::to_owned);
                line
            }));
            match page.next {
                Some(next) => before = Some(next),
                None => return lines,
            }
        }
        panic!("the thread list never ended");
    }

    /// The whole decision log, read three at a time.
    fn decisions(&self) -> Vec<Decision> {
        let mut decisions = Vec::new();
        let mut before: Option<DecisionCursor> = None;
        for _ in 0..1000 {
            let page: Page<Decision, DecisionCursor> = self
                .storage()
                .decision_lines(&self.space, before, small())
                .unwrap();
            decisions.extend(page.lines);
            match page.next {
                Some(next) => before = Some(next),
                None => return decisions,
            }
        }
        panic!("the decision log never ended");
    }

    /// Brings the model up to date and compares every query with the whole fold.
    fn agrees_with(&mut self, stored: &[Post]) -> Result<(), TestCaseError> {
        let whole = SpaceView::fold(self.space, stored);
        for n in 1..=EVE {
            let user = key(n).user_id();
            let cursor = self.read.get(&user).cloned().unwrap_or_default();
            // The thread list's counts, from whatever the last count left.
            let refolding = self.refolding();
            refolding.refresh(&self.space, None).unwrap();
            if let Some(spine) = refolding.spine(&self.space).unwrap() {
                let roots: Vec<PostId> = whole.threads().iter().map(|t| t.id).collect();
                let counts = unread_counts(&refolding, &user, &self.space, &spine, &roots).unwrap();
                let want: BTreeMap<PostId, u32> = whole
                    .unread(&user, &cursor)
                    .iter()
                    .map(|u| (u.thread, (u.posts.len() + u.news.len()) as u32))
                    .collect();
                prop_assert_eq!(counts, want);
            }
            prop_assert_eq!(self.unread(user, false), whole.unread(&user, &cursor));
        }
        self.lines_agree(stored)
    }

    fn lines_agree(&self, stored: &[Post]) -> Result<(), TestCaseError> {
        let whole = SpaceView::fold(self.space, stored);
        let refolding = self.refolding();
        prop_assert!(!refolding.refresh(&self.space, None).unwrap());
        let storage = self.storage();
        let count = storage.line_count(&self.space).unwrap();
        prop_assert_eq!(count, whole.threads().len() as u64);
        prop_assert_eq!(
            storage.latest_activity(&self.space).unwrap(),
            whole.threads().first().map(|t| t.last_activity)
        );
        let Some(spine) = refolding.spine(&self.space).unwrap() else {
            prop_assert!(whole.genesis().is_none());
            prop_assert!(self.decisions().is_empty());
            return Ok(());
        };
        prop_assert_eq!(spine.genesis(), whole.genesis());
        prop_assert_eq!(spine.timeline(), whole.timeline());
        prop_assert_eq!(spine.replicas(), whole.replicas());
        prop_assert_eq!(spine.display_names(), whole.display_names());
        prop_assert_eq!(self.lines(&spine, ThreadFilter::All), whole.threads());
        for (filter, resolved) in [(ThreadFilter::Open, false), (ThreadFilter::Resolved, true)] {
            let want: Vec<ThreadSummary> = whole
                .threads()
                .iter()
                .filter(|t| t.resolution.is_some() == resolved)
                .cloned()
                .collect();
            prop_assert_eq!(self.lines(&spine, filter), want);
        }
        prop_assert_eq!(self.decisions(), whole.decisions());
        for summary in whole.threads() {
            let thread = refolding
                .fold_thread(&self.space, &spine, &summary.id)
                .unwrap();
            prop_assert_eq!(thread.as_ref(), whole.thread(&summary.id));
        }
        Ok(())
    }
}

/// Pages of three lines, however long.
fn small() -> PageLimits {
    PageLimits {
        lines: 3,
        bytes: usize::MAX,
        scan: usize::MAX,
    }
}

/// What happens after a group is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Then {
    Nothing,
    Check,
    Restart,
    DropRetracted,
    Rebuild,
    MarkRead,
    MarkSpaceRead,
    CatchUp,
    CatchUpInSteps,
}

fn run(style: Style, seed: u64, len: usize, plan: u64) -> Result<(), TestCaseError> {
    let world = World::generate(style, seed, len);
    let mut rng = Rng(plan);
    // Most of the world, in a random order, sometimes without the genesis for a while.
    let posts = world.arrival(&mut rng);
    let mut model = Model::new(world.genesis.space());
    let mut stored: Vec<Post> = Vec::new();
    let mut rest = posts.as_slice();
    while !rest.is_empty() {
        let (group, after) = rest.split_at((1 + rng.below(4)).min(rest.len()));
        rest = after;
        stored.extend(model.store(group));
        let then = match rng.below(21) {
            0..3 => Then::Check,
            3 => Then::Restart,
            4 => Then::DropRetracted,
            5 => Then::Rebuild,
            6..8 => Then::MarkRead,
            8..10 => Then::CatchUp,
            10 => Then::CatchUpInSteps,
            11 => Then::MarkSpaceRead,
            _ => Then::Nothing,
        };
        match then {
            Then::Nothing => {}
            Then::Check => model.agrees_with(&stored)?,
            Then::Restart => model.restart(),
            Then::DropRetracted => model.drop_retracted(&stored),
            Then::Rebuild => {
                model.storage().forget_read_model().unwrap();
                model.restart();
            }
            Then::MarkRead => {
                let user = key(1 + rng.below(EVE as usize) as u8).user_id();
                let ids: Vec<PostId> = stored
                    .iter()
                    .filter(|_| rng.chance(30))
                    .map(Post::id)
                    .collect();
                model.mark_read(user, &ids);
            }
            Then::MarkSpaceRead => {
                let user = key(1 + rng.below(EVE as usize) as u8).user_id();
                model.mark_space_read(user, &stored);
            }
            Then::CatchUp => {
                let user = key(1 + rng.below(EVE as usize) as u8).user_id();
                let mark = rng.chance(50);
                model.unread(user, mark);
            }
            Then::CatchUpInSteps => {
                let user = key(1 + rng.below(EVE as usize) as u8).user_id();
                model.catch_up_in_steps(user, 1 + rng.below(3), &stored)?;
            }
        }
    }
    model.agrees_with(&stored)?;
    model.restart();
    model.agrees_with(&stored)
}

/// A store written before the read model existed builds it when opened, and building
/// it again over a finished or half-finished build changes nothing.
#[test]
fn a_store_without_the_model_builds_it_when_opened() {
    for seed in 0..24 {
        let style = if seed % 2 == 0 {
            Style::Discussion
        } else {
            Style::Concurrent
        };
        let world = World::generate(style, seed, MAX_WORLD_LEN);
        let mut model = Model::new(world.genesis.space());
        let all: Vec<&Post> = std::iter::once(&world.genesis)
            .chain(&world.posts)
            .collect();
        let stored = model.store(&all);
        model.drop_retracted(&stored);
        model.storage().strip_read_model().unwrap();
        model.restart();
        model.agrees_with(&stored).unwrap();
        // Started over after a crash: the build runs again over what it wrote.
        model.storage().forget_read_model().unwrap();
        model.restart();
        model.agrees_with(&stored).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(1000) })]

    /// Whatever the order, grouping, restarts and rebuilds, the model answers what the
    /// fold shows.
    #[test]
    fn the_read_model_answers_what_the_fold_shows(
        concurrent in any::<bool>(),
        seed in any::<u64>(),
        len in 5..=MAX_WORLD_LEN,
        plan in any::<u64>(),
    ) {
        let style = if concurrent { Style::Concurrent } else { Style::Discussion };
        run(style, seed, len, plan)?;
    }
}
