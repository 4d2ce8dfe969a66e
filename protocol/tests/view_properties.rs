//! Properties of the views (`spec/06-views.md`): a view is a function of the *set* of
//! posts, so arrival order, duplicates, other spaces' posts and the bytes of retracted
//! posts change nothing, and a non-member's posts never show.
//!
//! Each case signs a *world*: a seeded random history of 5 to 30 posts by 5 users with
//! colliding timestamps, backdated posts, edits, retractions, reactions, resolves,
//! membership and replica changes, and references to posts that never arrive (about
//! 90 µs per post with the workspace's optimized dev dependencies). The case then takes
//! a random subset of it (so membership changes, roots, parents and retraction targets
//! go missing in many combinations), adds duplicates and another space's posts, and
//! permutes it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use parley_protocol::content::Content;
use parley_protocol::id::{PostId, UserId};
use parley_protocol::view::fixture::{
    SpaceFixture, add, edit, grant, key, profile, react, remove, reopen, reply, resolve, retract,
    revoke, share, thread, unshare,
};
use parley_protocol::view::{Decision, ReadCursor, SpaceView, UnreadThread, anchor, is_spine};
use parley_protocol::{Post, SecretKey};
use proptest::prelude::*;

/// Users 1 to 4 take part in membership changes; user 5 (Eve) is never added.
const EVE: u8 = 5;
/// Most posts in a world (before the subset is taken).
const MAX_WORLD_LEN: usize = 30;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Style {
    /// Mostly discussion: threads, replies, edits, reactions, retractions, decisions.
    Discussion,
    /// Several moderators changing membership concurrently, dates colliding.
    Concurrent,
}

/// A signed history of one space.
struct World {
    style: Style,
    genesis: Post,
    posts: Vec<Post>,
}

/// Posts of another space, to be ignored.
fn foreign() -> &'static [Post] {
    static FOREIGN: OnceLock<Vec<Post>> = OnceLock::new();
    FOREIGN.get_or_init(|| {
        let fx = SpaceFixture::new(1, "elsewhere");
        let root = fx.post(&key(1), 5, thread("elsewhere", ""));
        let answer = fx.post(&key(1), 6, reply(root.id(), root.id(), "not here"));
        vec![fx.genesis.clone(), root, answer]
    })
}

/// A small deterministic generator (SplitMix64), so worlds are the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        (!items.is_empty()).then(|| items[self.below(items.len())])
    }
}

impl World {
    fn generate(style: Style, seed: u64, len: usize) -> Self {
        let fx = SpaceFixture::new(1, "world");
        let keys: Vec<SecretKey> = (1..=EVE).map(key).collect();
        let users: Vec<UserId> = keys.iter().map(SecretKey::user_id).collect();
        let mut rng = Rng(seed);
        let mut posts: Vec<Post> = Vec::new();
        // Threads and replies (with their roots), including ones that never arrive.
        let mut threads: Vec<PostId> = Vec::new();
        let mut replies: Vec<(PostId, PostId)> = Vec::new();
        let mut authors: BTreeMap<PostId, usize> = BTreeMap::new();
        let (pace, jitter, membership_percent) = match style {
            Style::Discussion => (1, 6, 10),
            Style::Concurrent => (3, 3, 40),
        };
        let setup: Vec<(usize, i64, Content)> = match style {
            Style::Discussion => vec![
                (0, 1, add(users[1])),
                (0, 2, add(users[2])),
                (0, 3, grant(users[3])),
            ],
            Style::Concurrent => vec![
                (0, 1, grant(users[1])),
                (0, 1, grant(users[2])),
                (0, 1, add(users[3])),
            ],
        };
        for (author, at, content) in setup {
            posts.push(fx.post(&keys[author], at, content));
        }
        while posts.len() < len {
            // Eve writes now and then; nobody ever adds her.
            let author = if rng.chance(10) {
                EVE as usize - 1
            } else {
                rng.below(4)
            };
            // Mostly in step order, with jitter: some posts are backdated before what
            // they refer to, some collide, a few predate the genesis.
            let step = posts.len() as i64;
            let at = if rng.chance(3) {
                -1 - rng.below(5) as i64
            } else {
                step / pace + rng.below(jitter) as i64
            };
            let all_ids: Vec<PostId> = posts.iter().map(Post::id).collect();
            let texts: Vec<PostId> = threads
                .iter()
                .copied()
                .chain(replies.iter().map(|r| r.1))
                .collect();
            let roll = rng.below(100);
            let (author, content, phantom) = if roll < membership_percent {
                let target = users[rng.below(4)];
                let content = match rng.below(4) {
                    0 => add(target),
                    1 => remove(target),
                    2 => grant(target),
                    _ => revoke(target),
                };
                (author, content, false)
            } else {
                let roll = rng.below(100);
                match roll {
                    0..16 => (
                        author,
                        thread(&format!("t{}", posts.len()), "body"),
                        rng.chance(10),
                    ),
                    16..46 => {
                        let recent = &threads[threads.len().saturating_sub(3)..];
                        let Some(root) = rng.pick(recent) else {
                            continue;
                        };
                        let root = if rng.chance(5) {
                            rng.pick(&texts).unwrap_or(root)
                        } else {
                            root
                        };
                        let same: Vec<PostId> = replies
                            .iter()
                            .filter(|r| r.0 == root)
                            .map(|r| r.1)
                            .collect();
                        let parent = match rng.below(10) {
                            0..3 => root,
                            3..9 => rng.pick(&same).unwrap_or(root),
                            _ => rng.pick(&texts).unwrap_or(root),
                        };
                        (author, reply(root, parent, "reply"), rng.chance(10))
                    }
                    46..58 => {
                        let Some(target) = rng.pick(&texts) else {
                            continue;
                        };
                        let owner = authors.get(&target).copied().unwrap_or(author);
                        let by = if rng.chance(80) { owner } else { author };
                        let is_thread = threads.contains(&target);
                        let title =
                            (rng.chance(if is_thread { 50 } else { 15 })).then_some("edited title");
                        (
                            by,
                            edit(target, title, &format!("edit {}", posts.len())),
                            false,
                        )
                    }
                    58..68 => {
                        let pool = if rng.chance(75) { &texts } else { &all_ids };
                        let Some(target) = rng.pick(pool) else {
                            continue;
                        };
                        let owner = authors.get(&target).copied().unwrap_or(author);
                        let by = match rng.below(10) {
                            0..3 => owner,
                            3..5 => 0,
                            _ => author,
                        };
                        (by, retract(target), false)
                    }
                    68..78 => {
                        let Some(target) = rng.pick(&texts) else {
                            continue;
                        };
                        let text = ["+1", "eyes", "tada"][rng.below(3)];
                        (author, react(target, text), false)
                    }
                    78..90 => {
                        let Some(target) = rng.pick(&threads) else {
                            continue;
                        };
                        let owner = authors.get(&target).copied().unwrap_or(author);
                        let by = if rng.chance(50) { owner } else { author };
                        let content = if rng.chance(65) {
                            resolve(target, "decided")
                        } else {
                            reopen(target)
                        };
                        (by, content, false)
                    }
                    90..95 => (author, profile(["Ann", "Bo", "Cy"][rng.below(3)]), false),
                    _ => {
                        let node = key(200 + rng.below(3) as u8).node_id();
                        (
                            author,
                            if rng.chance(60) {
                                share(node)
                            } else {
                                unshare(node)
                            },
                            false,
                        )
                    }
                }
            };
            let post = fx.post(&keys[author], at, content);
            authors.insert(post.id(), author);
            match post.content() {
                Content::Thread(_) => threads.push(post.id()),
                Content::Reply(r) => replies.push((r.root, post.id())),
                _ => {}
            }
            if !phantom {
                posts.push(post);
            }
        }
        Self {
            style,
            genesis: fx.genesis,
            posts,
        }
    }
}

/// One case: which world, which of its posts, and how to shuffle.
#[derive(Clone, Debug)]
struct Case {
    style: Style,
    seed: u64,
    len: usize,
    keep_percent: u64,
    keep: Vec<u64>,
    keep_genesis: bool,
    duplicates: Vec<usize>,
    order_a: u64,
    order_b: u64,
}

fn cases(style: Style) -> impl Strategy<Value = Case> {
    (
        (any::<u64>(), 5..=MAX_WORLD_LEN),
        30u64..=100,
        prop::collection::vec(0u64..100, MAX_WORLD_LEN),
        prop::bool::weighted(0.97),
        prop::collection::vec(0..MAX_WORLD_LEN, 0..4),
        any::<u64>(),
        any::<u64>(),
    )
        .prop_map(
            move |((seed, len), keep_percent, keep, keep_genesis, duplicates, order_a, order_b)| {
                Case {
                    style,
                    seed,
                    len,
                    keep_percent,
                    keep,
                    keep_genesis,
                    duplicates,
                    order_a,
                    order_b,
                }
            },
        )
}

impl Case {
    fn world(&self) -> World {
        World::generate(self.style, self.seed, self.len)
    }

    /// The subset of the world this case holds (genesis first, if kept).
    fn subset<'w>(&self, world: &'w World) -> Vec<&'w Post> {
        let kept = world
            .posts
            .iter()
            .zip(&self.keep)
            .filter(|(_, roll)| **roll < self.keep_percent)
            .map(|(p, _)| p);
        self.keep_genesis
            .then_some(&world.genesis)
            .into_iter()
            .chain(kept)
            .collect()
    }

    /// The subset with duplicates and foreign posts, shuffled.
    fn noisy<'w>(&self, subset: &[&'w Post]) -> Vec<&'w Post> {
        let mut posts = subset.to_vec();
        posts.extend(self.duplicates.iter().filter_map(|i| subset.get(*i)));
        posts.extend(foreign());
        shuffle(posts, self.order_a)
    }
}

/// A seeded Fisher-Yates shuffle.
fn shuffle<T>(mut items: Vec<T>, seed: u64) -> Vec<T> {
    let mut rng = Rng(seed);
    for i in (1..items.len()).rev() {
        items.swap(i, rng.below(i + 1));
    }
    items
}

fn fold(world: &World, posts: &[&Post]) -> SpaceView {
    SpaceView::fold(world.genesis.space(), posts.iter().copied())
}

/// Everything a view shows, including each user's unread posts, as one comparable value.
fn everything(view: &SpaceView) -> (SpaceView, Vec<Vec<UnreadThread>>) {
    let unread = (1..=EVE)
        .map(|n| view.unread(&key(n).user_id(), &ReadCursor::new()))
        .collect();
    (view.clone(), unread)
}

/// The posts shown anywhere in `view`: roots, replies and revisions.
fn shown_ids(view: &SpaceView) -> BTreeSet<PostId> {
    view.threads()
        .iter()
        .filter_map(|summary| view.thread(&summary.id))
        .flat_map(|thread| thread.posts.iter())
        .flat_map(|post| std::iter::once(post.id).chain(post.revisions.iter().map(|r| r.id)))
        .collect()
}

/// An independent, quadratic model of rule 2: was `user` a member just before `post`?
fn model_was_member(subset: &[&Post], genesis: &Post, post: &Post) -> bool {
    let founder = genesis.author();
    let mut ops: Vec<&Post> = subset
        .iter()
        .copied()
        .filter(|p| {
            p.space() == genesis.space()
                && p.sort_key() > genesis.sort_key()
                && p.sort_key() < post.sort_key()
        })
        .collect();
    ops.sort_by_key(|p| p.sort_key());
    ops.dedup_by_key(|p| p.id());
    let mut members = BTreeSet::from([founder]);
    let mut moderators = BTreeSet::from([founder]);
    for op in ops {
        if !moderators.contains(&op.author()) {
            continue;
        }
        match op.content() {
            Content::AddMember(m) => {
                members.insert(m.user);
            }
            Content::GrantModerator(m) => {
                members.insert(m.user);
                moderators.insert(m.user);
            }
            Content::RemoveMember(m) if m.user != founder => {
                members.remove(&m.user);
                moderators.remove(&m.user);
            }
            Content::RevokeModerator(m) if m.user != founder => {
                moderators.remove(&m.user);
            }
            _ => {}
        }
    }
    members.contains(&post.author())
}

fn permutation_property(case: &Case) -> Result<(), TestCaseError> {
    let world = case.world();
    let subset = case.subset(&world);
    let reference = fold(&world, &subset);
    let noisy = fold(&world, &case.noisy(&subset));
    let shuffled = fold(&world, &shuffle(subset.clone(), case.order_b));
    prop_assert_eq!(everything(&reference), everything(&noisy));
    prop_assert_eq!(everything(&reference), everything(&shuffled));
    Ok(())
}

proptest! {
    // Integration tests have no `lib.rs` beside them for proptest to persist failures
    // next to; a failure prints its minimal case instead.
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(1000) })]

    /// (a) The same history in any order, with duplicates and other spaces' posts, gives
    /// an equal view.
    #[test]
    fn any_arrival_order_gives_the_same_view(case in cases(Style::Discussion)) {
        permutation_property(&case)?;
    }

    /// (b) Concurrent membership changes by several moderators, with colliding dates,
    /// mixed with discussion: any arrival order gives the same view.
    #[test]
    fn concurrent_membership_changes_converge(case in cases(Style::Concurrent)) {
        permutation_property(&case)?;
    }

    /// (c) Dropping the bytes of effectively retracted posts changes no view, and
    /// nothing retracted is shown.
    #[test]
    fn dropping_retracted_posts_changes_nothing(
        case in prop_oneof![cases(Style::Discussion), cases(Style::Concurrent)],
    ) {
        let world = case.world();
        let subset = case.subset(&world);
        let retracted = SpaceView::retracted(world.genesis.space(), subset.iter().copied());
        let kept: Vec<&Post> = subset.iter().copied().filter(|p| !retracted.contains(&p.id())).collect();
        let view = fold(&world, &subset);
        prop_assert_eq!(everything(&view), everything(&fold(&world, &shuffle(kept, case.order_a))));
        prop_assert!(shown_ids(&view).is_disjoint(&retracted));
    }

    /// (d) A non-member's posts never show: Eve is never added, so the view is the same
    /// without her posts, and every shown post's author was a member just before it
    /// (by an independent model of the membership rule).
    #[test]
    fn non_members_never_show(
        case in prop_oneof![cases(Style::Discussion), cases(Style::Concurrent)],
    ) {
        let world = case.world();
        let subset = case.subset(&world);
        let eve = key(EVE).user_id();
        let view = fold(&world, &subset);
        let without_eve: Vec<&Post> = subset.iter().copied().filter(|p| p.author() != eve).collect();
        prop_assert_eq!(everything(&view), everything(&fold(&world, &without_eve)));
        prop_assert!(!view.is_member(&eve));
        prop_assert!(view.display_name(&eve).is_none());
        let by_id: BTreeMap<PostId, &Post> = subset.iter().map(|p| (p.id(), *p)).collect();
        for summary in view.threads() {
            let thread = view.thread(&summary.id).unwrap();
            for post in &thread.posts {
                prop_assert!(post.author != eve);
                prop_assert!(post.reactions.values().all(|users| !users.contains(&eve)));
                for id in std::iter::once(&post.id).chain(post.revisions.iter().map(|r| &r.id)) {
                    prop_assert!(model_was_member(&subset, &world.genesis, by_id[id]));
                }
            }
            if let Some(resolution) = &thread.resolution {
                prop_assert!(resolution.by != eve);
                prop_assert!(model_was_member(&subset, &world.genesis, by_id[&resolution.resolve]));
            }
        }
    }
}

/// The spine of `posts`: what decides membership, moderators, replicas and names.
fn spine<'w>(posts: &[&'w Post]) -> Vec<&'w Post> {
    let profiles: BTreeSet<PostId> = posts
        .iter()
        .filter(|p| matches!(p.content(), Content::Profile(_)))
        .map(|p| p.id())
        .collect();
    posts
        .iter()
        .copied()
        .filter(|p| {
            let retracts_a_profile = matches!(p.content(),
                Content::Retraction(r) if profiles.contains(&r.target));
            is_spine(p, retracts_a_profile)
        })
        .collect()
}

/// The closure of `root` in `posts`: the root and every post whose anchor is in it.
fn closure<'w>(posts: &[&'w Post], root: PostId) -> Vec<&'w Post> {
    let mut inside = BTreeSet::from([root]);
    loop {
        let before = inside.len();
        for post in posts {
            if anchor(post.content()).is_some_and(|a| inside.contains(&a)) {
                inside.insert(post.id());
            }
        }
        if inside.len() == before {
            break;
        }
    }
    posts
        .iter()
        .copied()
        .filter(|p| inside.contains(&p.id()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(1000) })]

    /// (e) A view kept in parts agrees with the whole fold: the spine alone folds to the
    /// same membership, replicas and names, and each thread folded alone against it (in
    /// any order) is the whole fold's thread, with the same list line and decision.
    #[test]
    fn threads_folded_alone_agree_with_the_whole(
        case in prop_oneof![cases(Style::Discussion), cases(Style::Concurrent)],
    ) {
        let world = case.world();
        let subset = case.subset(&world);
        let whole = fold(&world, &subset);
        let spine_view = fold(&world, &shuffle(spine(&subset), case.order_a));
        prop_assert_eq!(whole.genesis(), spine_view.genesis());
        prop_assert_eq!(whole.timeline(), spine_view.timeline());
        prop_assert_eq!(whole.replicas(), spine_view.replicas());
        prop_assert_eq!(whole.display_names(), spine_view.display_names());
        let mut summaries = Vec::new();
        let mut decisions = Vec::new();
        for root in subset.iter().filter(|p| matches!(p.content(), Content::Thread(_))) {
            let alone = spine_view.fold_thread(&root.id(), shuffle(closure(&subset, root.id()), case.order_b));
            prop_assert_eq!(alone.as_ref(), whole.thread(&root.id()));
            if let Some(thread) = alone {
                summaries.push(spine_view.summary_of(&thread));
                decisions.extend(Decision::of(&thread));
            }
        }
        summaries.sort_by(|a, b| b.last_activity.cmp(&a.last_activity).then(a.id.cmp(&b.id)));
        decisions.sort_by_key(|d| std::cmp::Reverse((d.decided_at, d.resolve)));
        prop_assert_eq!(summaries.as_slice(), whole.threads());
        prop_assert_eq!(decisions.as_slice(), whole.decisions());
    }
}

/// The worlds are not vacuous: folded whole, they exercise every rule the properties
/// are about.
#[test]
fn worlds_exercise_every_rule() {
    let mut seen = BTreeMap::<&str, usize>::new();
    let mut count = |what, n: usize| *seen.entry(what).or_default() += n;
    let worlds = (0..8).flat_map(|seed| {
        [Style::Discussion, Style::Concurrent]
            .map(|style| World::generate(style, seed, MAX_WORLD_LEN))
    });
    for world in worlds {
        let all: Vec<&Post> = std::iter::once(&world.genesis)
            .chain(&world.posts)
            .collect();
        let view = fold(&world, &all);
        let retracted = SpaceView::retracted(world.genesis.space(), all.iter().copied());
        count("effective retractions", retracted.len());
        let threads: Vec<_> = view
            .threads()
            .iter()
            .filter_map(|t| view.thread(&t.id))
            .collect();
        let posts: Vec<_> = threads.iter().flat_map(|t| t.posts.iter()).collect();
        count(
            "parent missing",
            posts.iter().filter(|p| p.parent_missing).count(),
        );
        count(
            "nested replies",
            posts.iter().filter(|p| p.depth >= 2).count(),
        );
        count("edited", posts.iter().filter(|p| p.edited).count());
        count("reactions", posts.iter().map(|p| p.reactions.len()).sum());
        count("resolved", view.decisions().len());
        count(
            "eve's posts",
            world
                .posts
                .iter()
                .filter(|p| p.author() == key(EVE).user_id())
                .count(),
        );
        count("display names", view.display_names().len());
        count("extra replicas", view.replicas().len().saturating_sub(1));
        count(
            "concurrent worlds",
            usize::from(world.style == Style::Concurrent),
        );
        let shown = shown_ids(&view);
        let hidden_replies = world
            .posts
            .iter()
            .filter(|p| matches!(p.content(), Content::Reply(_)) && !shown.contains(&p.id()))
            .count();
        count("replies not shown", hidden_replies);
        let removed = [2u8, 3, 4]
            .iter()
            .filter(|n| !view.is_member(&key(**n).user_id()))
            .count();
        count("users not members at the end", removed);
    }
    for (what, n) in &seen {
        assert!(*n > 0, "no world exercises {what}: {seen:?}");
    }
}
