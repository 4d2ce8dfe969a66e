//! Rule 5 of `spec/06-views.md`: which retractions are effective.
//!
//! Retraction is monotone, so it is final: once a retraction counts, no later post (and
//! no post that arrives later) can make it stop counting. That is why a moderator's
//! right to retract is judged against the *ever-moderators*, not the timeline: a
//! revoked moderator still holds their key and chooses their own `created_at`, so they
//! could always date a retraction before their revocation. Without causal references,
//! a revocation cannot bind retractions; the spec says so rather than pretend.

use std::collections::{BTreeMap, BTreeSet};

use super::history::{History, SortKey};
use crate::content::Content;
use crate::envelope::Post;
use crate::id::{PostId, UserId};

/// The ids of the posts of `posts` (sorted, with `by_id` their index) that an effective
/// retraction among them withdraws, given the ever-moderators of the space.
pub(super) fn effective(
    posts: &[&Post],
    by_id: &BTreeMap<PostId, &Post>,
    ever: &EverModerators,
) -> BTreeSet<PostId> {
    let mut retracted = BTreeSet::new();
    for post in posts {
        let Content::Retraction(retraction) = post.content() else {
            continue;
        };
        let Some(target) = by_id.get(&retraction.target) else {
            continue;
        };
        if !is_retractable(target) {
            continue;
        }
        let by_author = post.author() == target.author();
        let by_moderator = ever
            .get(&post.author())
            .is_some_and(|since| *since <= post.sort_key());
        if by_author || by_moderator {
            retracted.insert(target.id());
        }
    }
    retracted
}

/// Every user who was ever a moderator, with the first point from which they were.
pub(super) type EverModerators = BTreeMap<UserId, SortKey>;

/// Every user who was ever a moderator, with the first point from which they were:
/// the founder from the genesis, then each grant by an ever-moderator of that time.
/// Revocations do not remove anyone.
pub(super) fn ever_moderators(history: &History<'_>) -> EverModerators {
    let mut since = BTreeMap::new();
    since.insert(history.genesis.author(), history.genesis.sort_key());
    for post in &history.posts {
        let Content::GrantModerator(grant) = post.content() else {
            continue;
        };
        let key = post.sort_key();
        if since.get(&post.author()).is_some_and(|from| *from <= key) {
            // Posts come in order, so an existing entry is already the minimum.
            since.entry(grant.user).or_insert(key);
        }
    }
    since
}

/// Whether a retraction of `post` can have any effect: only content is withdrawn; the
/// genesis, membership and replica changes and retractions themselves stay.
fn is_retractable(post: &Post) -> bool {
    match post.content() {
        Content::Thread(_)
        | Content::Reply(_)
        | Content::Edit(_)
        | Content::Reaction(_)
        | Content::Resolve(_)
        | Content::Reopen(_)
        | Content::Profile(_) => true,
        Content::Genesis(_)
        | Content::Retraction(_)
        | Content::AddMember(_)
        | Content::RemoveMember(_)
        | Content::GrantModerator(_)
        | Content::RevokeModerator(_)
        | Content::ShareReplica(_)
        | Content::UnshareReplica(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use crate::envelope::Post;
    use crate::view::SpaceView;
    use crate::view::fixture::{
        SpaceFixture, add, edit, grant, key, profile, react, remove, reopen, reply, resolve,
        retract, revoke, thread,
    };

    /// A space where Alice founded, Bob and Carol are members, and Bob started a thread.
    fn space() -> (SpaceFixture, Vec<Post>, Post) {
        let fx = SpaceFixture::new(1, "retractions");
        let alice = key(1);
        let base = vec![
            fx.post(&alice, 10, add(key(2).user_id())),
            fx.post(&alice, 11, add(key(3).user_id())),
        ];
        let root = fx.post(&key(2), 100, thread("plan", "draft"));
        (fx, base, root)
    }

    fn view(fx: &SpaceFixture, posts: &[&Post]) -> SpaceView {
        fx.view(posts.iter().copied())
    }

    #[test]
    fn a_self_retracted_thread_hides_the_whole_thread() {
        let (fx, base, root) = space();
        let answer = fx.post(&key(3), 110, reply(root.id(), root.id(), "yes"));
        let withdraw = fx.post(&key(2), 120, retract(root.id()));
        let all: Vec<&Post> = base.iter().chain([&root, &answer, &withdraw]).collect();
        let view = view(&fx, &all);
        assert!(view.threads().is_empty());
        assert!(view.thread(&root.id()).is_none());
        assert_eq!(
            SpaceView::retracted(fx.space(), all.iter().copied().chain([&fx.genesis])).len(),
            1
        );
    }

    #[test]
    fn a_moderator_retracts_a_reply_and_its_answers_move_to_the_root() {
        let (fx, base, root) = space();
        let first = fx.post(&key(3), 110, reply(root.id(), root.id(), "spam"));
        let second = fx.post(&key(2), 120, reply(root.id(), first.id(), "answer to spam"));
        let withdraw = fx.post(&key(1), 130, retract(first.id()));
        let all: Vec<&Post> = base
            .iter()
            .chain([&root, &first, &second, &withdraw])
            .collect();
        let view = view(&fx, &all);
        let thread = view.thread(&root.id()).unwrap();
        assert_eq!(thread.posts.len(), 2);
        assert_eq!(thread.posts[1].id, second.id());
        assert!(thread.posts[1].parent_missing);
        assert_eq!(thread.posts[1].parent, Some(root.id()));
        assert_eq!(thread.posts[1].depth, 1);
    }

    #[test]
    fn a_member_cannot_retract_another_s_post() {
        let (fx, base, root) = space();
        let withdraw = fx.post(&key(3), 120, retract(root.id()));
        let all: Vec<&Post> = base.iter().chain([&root, &withdraw]).collect();
        assert_eq!(view(&fx, &all).threads().len(), 1);
    }

    #[test]
    fn a_revoked_moderator_s_retraction_stays_final() {
        // Carol was a moderator from 20 to 200. Her retraction dated 300 still counts
        // (she could always have dated it 150), but her add of Dave at 300 does not.
        let (fx, base, root) = space();
        let (alice, carol, dave) = (key(1), key(3), key(4).user_id());
        let grant_carol = fx.post(&alice, 20, grant(carol.user_id()));
        let revoke_carol = fx.post(&alice, 200, revoke(carol.user_id()));
        let withdraw = fx.post(&carol, 300, retract(root.id()));
        let add_dave = fx.post(&carol, 300, add(dave));
        let all: Vec<&Post> = base
            .iter()
            .chain([&root, &grant_carol, &revoke_carol, &withdraw, &add_dave])
            .collect();
        let view = view(&fx, &all);
        assert!(view.threads().is_empty());
        assert!(!view.is_member(&dave));
    }

    #[test]
    fn a_retraction_dated_before_the_retractor_became_moderator_is_not_effective() {
        let (fx, base, root) = space();
        let carol = key(3);
        let withdraw = fx.post(&carol, 150, retract(root.id()));
        let grant_carol = fx.post(&key(1), 160, grant(carol.user_id()));
        let all: Vec<&Post> = base
            .iter()
            .chain([&root, &withdraw, &grant_carol])
            .collect();
        assert_eq!(view(&fx, &all).threads().len(), 1);
    }

    #[test]
    fn grants_by_a_revoked_moderator_still_make_ever_moderators() {
        // Carol (moderator 20..50) grants Dave at 60: the grant does not apply to the
        // timeline, but Dave's retractions count, since Carol could have dated it 40.
        let (fx, base, root) = space();
        let (alice, carol, dave) = (key(1), key(3), key(4));
        let posts = [
            fx.post(&alice, 20, grant(carol.user_id())),
            fx.post(&alice, 50, revoke(carol.user_id())),
            fx.post(&carol, 60, grant(dave.user_id())),
            fx.post(&dave, 70, retract(root.id())),
        ];
        let all: Vec<&Post> = base.iter().chain([&root]).chain(&posts).collect();
        let view = view(&fx, &all);
        assert!(!view.is_member(&dave.user_id()));
        assert!(view.threads().is_empty());
    }

    #[test]
    fn a_removed_author_can_still_retract_their_own_post() {
        let (fx, base, root) = space();
        let remove_bob = fx.post(&key(1), 200, remove(key(2).user_id()));
        let withdraw = fx.post(&key(2), 300, retract(root.id()));
        let all: Vec<&Post> = base.iter().chain([&root, &remove_bob, &withdraw]).collect();
        assert!(view(&fx, &all).threads().is_empty());
    }

    #[test]
    fn retracting_membership_replica_genesis_or_retraction_posts_does_nothing() {
        let (fx, base, root) = space();
        let alice = key(1);
        let first = fx.post(&alice, 150, retract(root.id()));
        let posts = [
            fx.post(&alice, 160, retract(base[0].id())),
            fx.post(&alice, 161, retract(fx.genesis.id())),
            fx.post(&alice, 162, retract(first.id())),
        ];
        let all: Vec<&Post> = base.iter().chain([&root, &first]).chain(&posts).collect();
        let view = view(&fx, &all);
        assert!(view.is_member(&key(2).user_id()));
        assert!(view.genesis().is_some());
        assert!(
            view.threads().is_empty(),
            "a retraction cannot be retracted"
        );
    }

    #[test]
    fn retracted_edits_reactions_resolves_and_profiles_no_longer_count() {
        let (fx, base, root) = space();
        let (alice, bob, carol) = (key(1), key(2), key(3));
        let fix = fx.post(&bob, 110, edit(root.id(), Some("plan v2"), "better"));
        let like = fx.post(&carol, 111, react(root.id(), "+1"));
        let done = fx.post(&bob, 112, resolve(root.id(), "ship it"));
        let name = fx.post(&carol, 113, profile("Caz"));
        let withdrawn = [
            fx.post(&bob, 120, retract(fix.id())),
            fx.post(&carol, 121, retract(like.id())),
            fx.post(&alice, 122, retract(done.id())),
            fx.post(&carol, 123, retract(name.id())),
        ];
        let all: Vec<&Post> = base
            .iter()
            .chain([&root, &fix, &like, &done, &name])
            .chain(&withdrawn)
            .collect();
        let view = view(&fx, &all);
        let thread = view.thread(&root.id()).unwrap();
        assert_eq!(thread.title, "plan");
        assert_eq!(thread.posts[0].revisions.len(), 1);
        assert!(thread.posts[0].reactions.is_empty());
        assert!(thread.resolution.is_none());
        assert!(view.decisions().is_empty());
        assert_eq!(view.display_name(&carol.user_id()), None);
        assert_eq!(thread.last_activity, root.created_at());
    }

    #[test]
    fn dropping_the_bytes_of_retracted_posts_changes_no_view() {
        let (fx, base, root) = space();
        let (alice, bob, carol) = (key(1), key(2), key(3));
        let first = fx.post(&carol, 110, reply(root.id(), root.id(), "first"));
        let second = fx.post(&bob, 111, reply(root.id(), first.id(), "second"));
        let fix = fx.post(&bob, 112, edit(second.id(), None, "second, fixed"));
        let withdraw_first = fx.post(&alice, 130, retract(first.id()));
        let withdraw_fix = fx.post(&bob, 131, retract(fix.id()));
        let all: Vec<&Post> = base
            .iter()
            .chain([&root, &first, &second, &fix, &withdraw_first, &withdraw_fix])
            .collect();
        let retracted = SpaceView::retracted(fx.space(), all.iter().copied().chain([&fx.genesis]));
        assert_eq!(retracted.len(), 2);
        let kept: Vec<&Post> = all
            .iter()
            .copied()
            .filter(|p| !retracted.contains(&p.id()))
            .collect();
        assert_eq!(view(&fx, &all), view(&fx, &kept));
    }

    #[test]
    fn a_reopen_retracted_leaves_the_resolve_in_force() {
        let (fx, base, root) = space();
        let bob = key(2);
        let done = fx.post(&bob, 110, resolve(root.id(), "ship it"));
        let undo = fx.post(&bob, 120, reopen(root.id()));
        let withdraw = fx.post(&bob, 130, retract(undo.id()));
        let all: Vec<&Post> = base
            .iter()
            .chain([&root, &done, &undo, &withdraw])
            .collect();
        let view = view(&fx, &all);
        assert_eq!(
            view.thread(&root.id())
                .unwrap()
                .resolution
                .as_ref()
                .unwrap()
                .resolve,
            done.id()
        );
    }
}
