//! Rule 2 of `spec/06-views.md`: the membership timeline. Membership changes apply in
//! the total order, each only if its author is a moderator just before it; every change
//! of a user's status is kept, so "was `u` a member just before sort key `k`" is a
//! binary search.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::history::{History, SortKey};
use super::text;
use crate::content::Content;
use crate::envelope::Post;
use crate::id::UserId;

/// Who belongs to a space and who moderates it, now and at any point of the total order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Timeline {
    /// The founder (the genesis author), whom nothing removes.
    #[serde(skip)]
    founder: Option<UserId>,
    /// Current members.
    #[serde(serialize_with = "text::set::serialize")]
    members: BTreeSet<UserId>,
    /// Current moderators (always members).
    #[serde(serialize_with = "text::set::serialize")]
    moderators: BTreeSet<UserId>,
    /// Per user, the points where their membership changed, in order.
    #[serde(skip)]
    member_changes: BTreeMap<UserId, Vec<Change>>,
    /// Per user, the points where their moderator status changed, in order.
    #[serde(skip)]
    moderator_changes: BTreeMap<UserId, Vec<Change>>,
}

/// A status change: from `at` on, the user is (or is not) a member or moderator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Change {
    at: SortKey,
    is: bool,
}

impl Timeline {
    /// The current members.
    pub fn members(&self) -> &BTreeSet<UserId> {
        &self.members
    }

    /// The current moderators.
    pub fn moderators(&self) -> &BTreeSet<UserId> {
        &self.moderators
    }

    /// The founder, if the space has a genesis.
    pub fn founder(&self) -> Option<UserId> {
        self.founder
    }

    /// Whether `user` was a member just before the point `key` of the total order.
    pub fn was_member(&self, user: &UserId, key: SortKey) -> bool {
        status_before(&self.member_changes, user, key)
    }

    /// Whether `user` was a moderator just before the point `key` of the total order.
    pub fn was_moderator(&self, user: &UserId, key: SortKey) -> bool {
        status_before(&self.moderator_changes, user, key)
    }

    /// Folds the membership changes of `history`, in order.
    pub(super) fn build(history: &History<'_>) -> Self {
        let founder = history.genesis.author();
        let start = history.genesis.sort_key();
        let mut timeline = Self {
            founder: Some(founder),
            ..Self::default()
        };
        timeline.set_member(founder, true, start);
        timeline.set_moderator(founder, true, start);
        for post in &history.posts {
            timeline.apply(post);
        }
        timeline
    }

    /// Applies one post if it is a membership change by a current moderator.
    fn apply(&mut self, post: &Post) {
        let key = post.sort_key();
        let is_founder = |user: &UserId| Some(*user) == self.founder;
        let (user, add_member, remove_member, add_moderator, remove_moderator) = match post
            .content()
        {
            Content::AddMember(m) => (m.user, true, false, false, false),
            Content::RemoveMember(m) if !is_founder(&m.user) => (m.user, false, true, false, true),
            Content::GrantModerator(m) => (m.user, true, false, true, false),
            Content::RevokeModerator(m) if !is_founder(&m.user) => {
                (m.user, false, false, false, true)
            }
            _ => return,
        };
        // Processing in order, the current state is the state just before this post.
        if !self.moderators.contains(&post.author()) {
            return;
        }
        if add_member {
            self.set_member(user, true, key);
        }
        if remove_member {
            self.set_member(user, false, key);
        }
        if add_moderator {
            self.set_moderator(user, true, key);
        }
        if remove_moderator {
            self.set_moderator(user, false, key);
        }
    }

    fn set_member(&mut self, user: UserId, is: bool, at: SortKey) {
        if set_status(&mut self.members, user, is) {
            self.member_changes
                .entry(user)
                .or_default()
                .push(Change { at, is });
        }
    }

    fn set_moderator(&mut self, user: UserId, is: bool, at: SortKey) {
        if set_status(&mut self.moderators, user, is) {
            self.moderator_changes
                .entry(user)
                .or_default()
                .push(Change { at, is });
        }
    }
}

/// Puts `user` in or out of `set`; whether that changed anything.
fn set_status(set: &mut BTreeSet<UserId>, user: UserId, is: bool) -> bool {
    if is {
        set.insert(user)
    } else {
        set.remove(&user)
    }
}

/// The status of `user` just before `key`: the last change strictly before it.
fn status_before(changes: &BTreeMap<UserId, Vec<Change>>, user: &UserId, key: SortKey) -> bool {
    let Some(changes) = changes.get(user) else {
        return false;
    };
    let after = changes.partition_point(|change| change.at < key);
    after
        .checked_sub(1)
        .and_then(|i| changes.get(i))
        .is_some_and(|change| change.is)
}

#[cfg(test)]
mod tests {
    use crate::view::fixture::{SpaceFixture, add, grant, key, remove, revoke, thread};

    #[test]
    fn the_founder_starts_as_the_only_member_and_moderator() {
        let fx = SpaceFixture::new(1, "m");
        let view = fx.view([]);
        let alice = key(1).user_id();
        assert_eq!(view.members().iter().collect::<Vec<_>>(), vec![&alice]);
        assert_eq!(view.moderators().iter().collect::<Vec<_>>(), vec![&alice]);
        assert_eq!(view.timeline().founder(), Some(alice));
    }

    #[test]
    fn moderators_add_and_remove_members_and_others_cannot() {
        let fx = SpaceFixture::new(1, "m");
        let (alice, bob, carol) = (key(1), key(2), key(3));
        let add_bob = fx.post(&alice, 10, add(bob.user_id()));
        let bob_adds_carol = fx.post(&bob, 20, add(carol.user_id()));
        let view = fx.view([&add_bob, &bob_adds_carol]);
        assert!(view.is_member(&bob.user_id()));
        assert!(!view.is_member(&carol.user_id()), "bob is no moderator");
        let remove_bob = fx.post(&alice, 30, remove(bob.user_id()));
        let view = fx.view([&add_bob, &bob_adds_carol, &remove_bob]);
        assert!(!view.is_member(&bob.user_id()));
    }

    #[test]
    fn the_founder_cannot_be_removed_or_revoked() {
        let fx = SpaceFixture::new(1, "m");
        let (alice, bob) = (key(1), key(2));
        let grant_bob = fx.post(&alice, 10, grant(bob.user_id()));
        let remove_alice = fx.post(&bob, 20, remove(alice.user_id()));
        let revoke_alice = fx.post(&bob, 30, revoke(alice.user_id()));
        let view = fx.view([&grant_bob, &remove_alice, &revoke_alice]);
        assert!(view.is_member(&alice.user_id()));
        assert!(view.is_moderator(&alice.user_id()));
    }

    #[test]
    fn a_grant_to_a_non_member_makes_them_member_and_moderator() {
        let fx = SpaceFixture::new(1, "m");
        let bob = key(2).user_id();
        let grant_bob = fx.post(&key(1), 10, grant(bob));
        let view = fx.view([&grant_bob]);
        assert!(view.is_member(&bob) && view.is_moderator(&bob));
    }

    #[test]
    fn removal_ends_moderation_and_revocation_keeps_membership() {
        let fx = SpaceFixture::new(1, "m");
        let (alice, bob, carol) = (key(1), key(2).user_id(), key(3).user_id());
        let posts = [
            fx.post(&alice, 10, grant(bob)),
            fx.post(&alice, 11, grant(carol)),
            fx.post(&alice, 20, remove(bob)),
            fx.post(&alice, 21, revoke(carol)),
        ];
        let view = fx.view(&posts);
        assert!(!view.is_member(&bob) && !view.is_moderator(&bob));
        assert!(view.is_member(&carol) && !view.is_moderator(&carol));
    }

    #[test]
    fn a_backdated_op_is_judged_at_its_date() {
        // Bob is made a moderator at 100 but dates his add of Carol at 50.
        let fx = SpaceFixture::new(1, "m");
        let (bob, carol) = (key(2), key(3).user_id());
        let grant_bob = fx.post(&key(1), 100, grant(bob.user_id()));
        let backdated = fx.post(&bob, 50, add(carol));
        let view = fx.view([&backdated, &grant_bob]);
        assert!(!view.is_member(&carol));
    }

    #[test]
    fn a_revoked_moderator_s_later_ops_are_ignored() {
        let fx = SpaceFixture::new(1, "m");
        let (alice, bob, carol) = (key(1), key(2), key(3).user_id());
        let posts = [
            fx.post(&alice, 10, grant(bob.user_id())),
            fx.post(&alice, 20, revoke(bob.user_id())),
            fx.post(&bob, 30, add(carol)),
        ];
        assert!(!fx.view(&posts).is_member(&carol));
    }

    #[test]
    fn ops_dated_before_the_genesis_are_ignored() {
        let fx = SpaceFixture::new(1, "m");
        let bob = key(2).user_id();
        let early = fx.post(&key(1), -10, add(bob));
        assert!(!fx.view([&early]).is_member(&bob));
    }

    #[test]
    fn membership_at_a_point_is_the_state_just_before_it() {
        let fx = SpaceFixture::new(1, "m");
        let (alice, bob) = (key(1), key(2));
        let add_bob = fx.post(&alice, 10, add(bob.user_id()));
        let remove_bob = fx.post(&alice, 20, remove(bob.user_id()));
        let view = fx.view([&remove_bob, &add_bob]);
        let timeline = view.timeline();
        let user = bob.user_id();
        assert!(
            !timeline.was_member(&user, add_bob.sort_key()),
            "not yet at the add itself"
        );
        assert!(timeline.was_member(&user, fx.post(&bob, 15, thread("t", "")).sort_key()));
        assert!(
            timeline.was_member(&user, remove_bob.sort_key()),
            "still just before the removal"
        );
        assert!(!timeline.was_member(&user, fx.post(&bob, 25, thread("t", "")).sort_key()));
    }

    #[test]
    fn mutual_revocations_at_the_same_time_resolve_by_id() {
        // Bob and Carol revoke each other at the same millisecond: the one with the
        // smaller id applies first, and the other is no longer by a moderator.
        let fx = SpaceFixture::new(1, "m");
        let (alice, bob, carol) = (key(1), key(2), key(3));
        let grant_bob = fx.post(&alice, 10, grant(bob.user_id()));
        let grant_carol = fx.post(&alice, 10, grant(carol.user_id()));
        let bob_revokes = fx.post(&bob, 50, revoke(carol.user_id()));
        let carol_revokes = fx.post(&carol, 50, revoke(bob.user_id()));
        let forward = fx.view([&grant_bob, &grant_carol, &bob_revokes, &carol_revokes]);
        let backward = fx.view([&carol_revokes, &bob_revokes, &grant_carol, &grant_bob]);
        assert_eq!(forward, backward);
        let bob_first = bob_revokes.id() < carol_revokes.id();
        assert_eq!(forward.is_moderator(&bob.user_id()), bob_first);
        assert_eq!(forward.is_moderator(&carol.user_id()), !bob_first);
    }
}
