//! Output: text for people (trees, lists, relative times, wrapped bodies, all untrusted
//! text cleaned of terminal controls) and `--json` documents for scripts. Nothing here
//! talks to the node or decides anything; it only shows what it is given.

pub(crate) mod json;
pub(crate) mod lists;
pub(crate) mod paint;
pub(crate) mod text;
pub(crate) mod thread;

use std::collections::BTreeMap;

use parley_protocol::{Timestamp, UserId};

use self::text::{clean_line, short_id};

/// How text output is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Style {
    /// Columns to wrap to.
    pub(crate) width: usize,
    /// Now, for relative times.
    pub(crate) now: Timestamp,
    /// Whether to colour the text (see the `paint` module).
    pub(crate) colour: bool,
}

/// Display names keyed by user id text, as the node sends them; a user without one is
/// shown by a short id.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Names<'a>(pub(crate) &'a BTreeMap<String, String>);

impl Names<'_> {
    /// What to call `user`.
    pub(crate) fn of(&self, user: &UserId) -> String {
        let id = user.to_string();
        self.0
            .get(&id)
            .map(|name| clean_line(name))
            .filter(|name| !name.trim().is_empty())
            .unwrap_or_else(|| short_id(&id))
    }

    /// `user`'s display name, if they set one (for JSON; not cleaned, JSON escapes).
    pub(crate) fn name(&self, user: &UserId) -> Option<&str> {
        self.0.get(&user.to_string()).map(String::as_str)
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Views to render in tests, built by hand so each test shows what it renders.

    use std::collections::{BTreeMap, BTreeSet};

    use parley_protocol::view::{Resolution, Revision, ThreadPost, ThreadView};
    use parley_protocol::{PostId, Timestamp, UserId};

    /// A fixed "now": 2027-01-15 08:00 UTC.
    pub(crate) const NOW: Timestamp = Timestamp(1_800_000_000_000);
    /// An hour in milliseconds.
    pub(crate) const HOUR: u64 = 3_600_000;

    pub(crate) fn user(n: u8) -> UserId {
        UserId([n; 32])
    }

    pub(crate) fn post_id(n: u8) -> PostId {
        PostId([n; 32])
    }

    pub(crate) fn hours_ago(h: u64) -> Timestamp {
        Timestamp(NOW.0 - h * HOUR)
    }

    /// A shown post.
    pub(crate) fn post(
        id: u8,
        author: u8,
        parent: Option<u8>,
        depth: usize,
        body: &str,
        age_hours: u64,
    ) -> ThreadPost {
        ThreadPost {
            id: post_id(id),
            author: user(author),
            created_at: hours_ago(age_hours),
            parent: parent.map(post_id),
            depth,
            parent_missing: false,
            title: parent.is_none().then(|| "Release plan".to_owned()),
            body: body.to_owned(),
            edited: false,
            revisions: vec![Revision {
                id: post_id(id),
                created_at: hours_ago(age_hours),
                title: None,
                body: body.to_owned(),
            }],
            reactions: BTreeMap::new(),
            mentions: Vec::new(),
        }
    }

    /// A thread: a root by user 1 with two nested replies by user 2 and user 3.
    pub(crate) fn thread() -> ThreadView {
        let mut root = post(1, 1, None, 0, "Can we ship on Friday?", 3);
        root.reactions
            .insert("👍".to_owned(), BTreeSet::from([user(2), user(3)]));
        root.reactions
            .insert("🎉".to_owned(), BTreeSet::from([user(3)]));
        let mut reply = post(2, 2, Some(1), 1, "Yes, after QA signs off.", 2);
        reply.edited = true;
        let nested = post(3, 3, Some(2), 2, "QA is done.", 1);
        ThreadView {
            id: post_id(1),
            title: "Release plan".to_owned(),
            author: user(1),
            created_at: hours_ago(3),
            last_activity: hours_ago(1),
            reply_count: 2,
            resolution: None,
            reopened: None,
            posts: vec![root, reply, nested],
        }
    }

    /// The same thread, resolved by user 2.
    pub(crate) fn resolved_thread() -> ThreadView {
        let mut thread = thread();
        thread.resolution = Some(Resolution {
            decision: "Ship on Friday.".to_owned(),
            by: user(2),
            at: hours_ago(1),
            resolve: post_id(9),
        });
        thread
    }

    /// Names: user 1 is "alice", user 2 "bob"; user 3 has none.
    pub(crate) fn names() -> BTreeMap<String, String> {
        BTreeMap::from([
            (user(1).to_string(), "alice".to_owned()),
            (user(2).to_string(), "bob".to_owned()),
        ])
    }
}
