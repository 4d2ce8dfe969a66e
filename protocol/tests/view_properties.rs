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

use parley_protocol::Post;
use parley_protocol::content::Content;
use parley_protocol::id::PostId;
use parley_protocol::view::fixture::world::{EVE, MAX_WORLD_LEN, Style, World, shuffle};
use parley_protocol::view::fixture::{SpaceFixture, key, reply, thread};
use parley_protocol::view::{Decision, ReadCursor, SpaceView, UnreadThread, anchor, is_spine};
use proptest::prelude::*;

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

// ---------------------------------------------------------------------------------
// (f) What `view::ignored` refuses changes nothing.

/// Candidate posts of a case: membership and replica changes about every user and a
/// node, and retractions, edits, resolves and reopens of every post held, by every user.
fn candidates(subset: &[&Post]) -> Vec<(u8, Content)> {
    use parley_protocol::NodeId;
    use parley_protocol::view::fixture::{
        add, edit, grant, remove, reopen, resolve, retract, revoke, share, unshare,
    };
    let mut out = Vec::new();
    for author in 1..=EVE {
        for user in 1..=EVE {
            let user = key(user).user_id();
            out.extend([add(user), remove(user), grant(user), revoke(user)].map(|c| (author, c)));
        }
        out.push((author, share(NodeId::from_bytes([7; 32]))));
        out.push((author, unshare(NodeId::from_bytes([7; 32]))));
        for post in subset {
            let id = post.id();
            out.extend(
                [
                    retract(id),
                    edit(id, None, "changed"),
                    resolve(id, "decided"),
                    reopen(id),
                ]
                .map(|c| (author, c)),
            );
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(300) })]

    /// A post the rule says would be ignored, dated after everything, leaves every view
    /// as it was: a client that refuses it before signing, and a node that turns it
    /// away, lose nothing anyone would see.
    #[test]
    fn what_is_refused_as_ignored_changes_nothing(
        case in prop_oneof![cases(Style::Concurrent), cases(Style::Discussion)],
        picks in prop::collection::vec(any::<usize>(), 24),
    ) {
        use parley_protocol::view::{Target, ignored};
        let world = case.world();
        let subset = case.subset(&world);
        let view = fold(&world, &subset);
        let before = everything(&view);
        let fx = SpaceFixture::new(1, "world");
        let all = candidates(&subset);
        let mut refused = 0;
        for pick in picks {
            let (author, content) = &all[pick % all.len()];
            let key = key(*author);
            let user = key.user_id();
            let target = content.target().and_then(|id| {
                subset.iter().find(|post| post.id() == id).map(|post| Target {
                    author: post.author(),
                    kind: post.content().tag(),
                })
            });
            if ignored(&view.standing(&user), &user, content, target.as_ref()).is_none() {
                continue;
            }
            refused += 1;
            let late = fx.post(&key, 10_000_000, content.clone());
            let mut with = subset.clone();
            with.push(&late);
            prop_assert_eq!(&everything(&fold(&world, &with)), &before, "{:?} by {}", content, author);
        }
        let _ = refused;
    }
}
