//! Rules 11 and 12 of `spec/06-views.md`: the thread list and the decision log.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::text;
use super::thread::{Resolution, ThreadView};
use crate::id::{PostId, UserId};
use crate::time::Timestamp;

/// One line of the thread list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadSummary {
    /// The thread's id (its root post).
    #[serde(with = "text::id")]
    pub id: PostId,
    /// The current title.
    pub title: String,
    /// Who started the thread.
    #[serde(with = "text::id")]
    pub author: UserId,
    /// The author's display name, if they set one.
    pub author_name: Option<String>,
    /// When the root was written.
    pub created_at: Timestamp,
    /// How many replies are shown.
    pub reply_count: usize,
    /// See [`ThreadView::last_activity`].
    pub last_activity: Timestamp,
    /// Whether the root was edited.
    pub edited: bool,
    /// The decision, when the thread is resolved.
    pub resolution: Option<Resolution>,
}

/// One entry of the decision log: a thread that is currently resolved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// The thread.
    #[serde(with = "text::id")]
    pub thread: PostId,
    /// Its current title.
    pub title: String,
    /// The decision text.
    pub decision: String,
    /// Who resolved it.
    #[serde(with = "text::id")]
    pub decided_by: UserId,
    /// When the resolve was written.
    pub decided_at: Timestamp,
    /// The resolve post.
    #[serde(with = "text::id")]
    pub resolve: PostId,
}

/// The thread list: newest activity first, then by id.
pub(super) fn thread_list(
    threads: &BTreeMap<PostId, ThreadView>,
    names: &BTreeMap<UserId, String>,
) -> Vec<ThreadSummary> {
    let mut list: Vec<ThreadSummary> = threads
        .values()
        .map(|thread| summary(thread, names))
        .collect();
    list.sort_by(|a, b| b.last_activity.cmp(&a.last_activity).then(a.id.cmp(&b.id)));
    list
}

impl Decision {
    /// The decision-log entry of `thread`, if it is resolved.
    pub fn of(thread: &ThreadView) -> Option<Self> {
        let resolution = thread.resolution.as_ref()?;
        Some(Self {
            thread: thread.id,
            title: thread.title.clone(),
            decision: resolution.decision.clone(),
            decided_by: resolution.by,
            decided_at: resolution.at,
            resolve: resolution.resolve,
        })
    }
}

impl ThreadSummary {
    /// The decision-log entry of this thread, if it is resolved.
    pub fn decision(&self) -> Option<Decision> {
        let resolution = self.resolution.as_ref()?;
        Some(Decision {
            thread: self.id,
            title: self.title.clone(),
            decision: resolution.decision.clone(),
            decided_by: resolution.by,
            decided_at: resolution.at,
            resolve: resolution.resolve,
        })
    }
}

/// The thread-list line of one thread.
pub(super) fn summary(thread: &ThreadView, names: &BTreeMap<UserId, String>) -> ThreadSummary {
    ThreadSummary {
        id: thread.id,
        title: thread.title.clone(),
        author: thread.author,
        author_name: names.get(&thread.author).cloned(),
        created_at: thread.created_at,
        reply_count: thread.reply_count,
        last_activity: thread.last_activity,
        edited: thread.posts.first().is_some_and(|root| root.edited),
        resolution: thread.resolution.clone(),
    }
}

/// The decision log: currently resolved threads, newest resolve (by sort key) first.
pub(super) fn decisions(threads: &BTreeMap<PostId, ThreadView>) -> Vec<Decision> {
    let mut list: Vec<Decision> = threads.values().filter_map(Decision::of).collect();
    list.sort_by_key(|d| std::cmp::Reverse((d.decided_at, d.resolve)));
    list
}

#[cfg(test)]
mod tests {
    use crate::view::fixture::{SpaceFixture, add, edit, key, profile, reply, resolve, thread};

    #[test]
    fn threads_list_by_latest_activity_then_id() {
        let fx = SpaceFixture::new(1, "list");
        let (alice, bob) = (key(1), key(2));
        let add_bob = fx.post(&alice, 1, add(bob.user_id()));
        let name = fx.post(&bob, 2, profile("Bob"));
        let old = fx.post(&bob, 100, thread("old", ""));
        let new = fx.post(&alice, 200, thread("new", ""));
        let tie_a = fx.post(&alice, 150, thread("tie a", ""));
        let tie_b = fx.post(&alice, 150, thread("tie b", ""));
        let bump = fx.post(&alice, 300, reply(old.id(), old.id(), "bump"));
        let view = fx.view([&add_bob, &name, &old, &new, &tie_a, &tie_b, &bump]);
        let order: Vec<_> = view.threads().iter().map(|t| t.id).collect();
        let (first_tie, second_tie) = if tie_a.id() < tie_b.id() {
            (tie_a.id(), tie_b.id())
        } else {
            (tie_b.id(), tie_a.id())
        };
        assert_eq!(order, vec![old.id(), new.id(), first_tie, second_tie]);
        let summary = &view.threads()[0];
        assert_eq!(summary.author_name.as_deref(), Some("Bob"));
        assert_eq!(
            (summary.reply_count, summary.last_activity),
            (1, bump.created_at())
        );
        assert_eq!(view.threads()[1].author_name, None);
    }

    #[test]
    fn decisions_list_resolved_threads_newest_first_with_current_titles() {
        let fx = SpaceFixture::new(1, "decisions");
        let alice = key(1);
        let one = fx.post(&alice, 100, thread("one", ""));
        let two = fx.post(&alice, 101, thread("two", ""));
        let three = fx.post(&alice, 102, thread("three", ""));
        let posts = [
            fx.post(&alice, 200, resolve(two.id(), "second decision")),
            fx.post(&alice, 150, resolve(one.id(), "first decision")),
            fx.post(&alice, 160, edit(one.id(), Some("one, renamed"), "")),
        ];
        let view = fx.view([&one, &two, &three].into_iter().chain(&posts));
        let decisions: Vec<_> = view
            .decisions()
            .iter()
            .map(|d| (d.title.as_str(), d.decision.as_str()))
            .collect();
        assert_eq!(
            decisions,
            vec![
                ("two", "second decision"),
                ("one, renamed", "first decision")
            ]
        );
        assert_eq!(view.decisions()[0].decided_by, alice.user_id());
        let summary = view.threads().iter().find(|t| t.id == one.id()).unwrap();
        assert!(summary.edited && summary.resolution.is_some());
    }
}
