//! The order a node sends posts a peer lacks (`spec/07-sync-and-gossip.md` 7.12): state
//! that decides what the rest means (genesis, membership, moderators, replicas,
//! retractions, profiles) first, then the newest posts, older history last. A new or
//! returning replica can show a usable space long before it holds all of it.

use std::cmp::Reverse;

use crate::envelope::{Post, peek_header};
use crate::id::PostId;
use crate::time::Timestamp;

/// Which part of the catch-up a post belongs to. `State` sorts before `Content`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Class {
    /// Genesis, retractions, membership, moderators, replicas and profiles: what the
    /// views need to interpret everything else.
    State,
    /// Threads, replies, edits, reactions, resolves, reopens, and unknown kinds.
    Content,
}

/// The class of a kind tag (`spec/04-kinds.md` 4.2): `State` for 0 (genesis),
/// 4 (retraction), 8 to 13 (add/remove member, grant/revoke moderator, share/unshare
/// replica) and 14 (profile); everything else, unknown tags included, `Content`.
pub fn class_of_kind(tag: u32) -> Class {
    match tag {
        0 | 4 | 8..=14 => Class::State,
        _ => Class::Content,
    }
}

/// A post's place in the send order: `State` before `Content`, then newer `created_at`
/// first, then by id bytes ascending. Smaller sends first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Priority {
    class: Class,
    newest_first: Reverse<Timestamp>,
    id: PostId,
}

impl Priority {
    /// Orders `State` before `Content`, then newer `created_at` first, then by id bytes
    /// ascending.
    pub fn new(class: Class, created_at: Timestamp, id: PostId) -> Self {
        Self {
            class,
            newest_first: Reverse(created_at),
            id,
        }
    }

    /// The priority of a verified post.
    pub fn of_post(post: &Post) -> Self {
        Self::new(
            class_of_kind(post.content().tag()),
            post.created_at(),
            post.id(),
        )
    }

    /// From stored canonical envelope bytes, reading only the fixed-offset header
    /// ([`peek_header`]: `created_at` and the kind tag) and hashing the bytes for the id. `None` if the bytes are too short to hold the header. Does not
    /// validate: meant for bytes the node stored after validating them.
    pub fn of_envelope(bytes: &[u8]) -> Option<Self> {
        let (created_at, tag) = peek_header(bytes)?;
        Some(Self::new(
            class_of_kind(tag),
            created_at,
            PostId::of_bytes(bytes),
        ))
    }

    /// The post's id.
    pub fn id(&self) -> PostId {
        self.id
    }

    /// The post's class.
    pub fn class(&self) -> Class {
        self.class
    }

    /// The post's `created_at`.
    pub fn created_at(&self) -> Timestamp {
        self.newest_first.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::KIND_TAG_OFFSET;

    /// Bytes [`Priority::of_envelope`] reads: up to the end of the kind tag.
    const HEADER_LEN: usize = KIND_TAG_OFFSET + 4;
    use crate::test_vectors::sample_posts;
    use proptest::prelude::*;

    fn id(byte: u8) -> PostId {
        PostId::from_bytes([byte; 32])
    }

    #[test]
    fn kind_classes_follow_the_tags() {
        let state: Vec<u32> = (0..20)
            .filter(|&t| class_of_kind(t) == Class::State)
            .collect();
        assert_eq!(state, [0, 4, 8, 9, 10, 11, 12, 13, 14]);
        assert_eq!(class_of_kind(u32::MAX), Class::Content);
    }

    #[test]
    fn state_first_then_newest_then_id() {
        let old_state = Priority::new(Class::State, Timestamp(1), id(9));
        let new_content = Priority::new(Class::Content, Timestamp(100), id(1));
        let old_content = Priority::new(Class::Content, Timestamp(2), id(0));
        let twin = Priority::new(Class::Content, Timestamp(100), id(2));
        let mut order = vec![old_content, twin, new_content, old_state];
        order.sort();
        assert_eq!(order, [old_state, new_content, twin, old_content]);
        assert_eq!(twin.created_at(), Timestamp(100));
        assert_eq!(twin.id(), id(2));
        assert_eq!(twin.class(), Class::Content);
    }

    #[test]
    fn of_envelope_agrees_with_of_post_for_every_kind() {
        let posts = sample_posts();
        let mut tags: Vec<u32> = posts.iter().map(|p| p.content().tag()).collect();
        tags.sort_unstable();
        tags.dedup();
        assert_eq!(tags, (0..15).collect::<Vec<u32>>(), "a post of every kind");
        for post in &posts {
            let from_bytes = Priority::of_envelope(post.bytes());
            assert_eq!(
                from_bytes,
                Some(Priority::of_post(post)),
                "{:?}",
                post.content()
            );
        }
    }

    #[test]
    fn short_bytes_have_no_priority() {
        let post = &sample_posts()[0];
        for len in 0..HEADER_LEN {
            assert_eq!(Priority::of_envelope(&post.bytes()[..len]), None);
        }
        assert!(Priority::of_envelope(&post.bytes()[..HEADER_LEN]).is_some());
    }

    fn priorities() -> impl Strategy<Value = Priority> {
        (any::<bool>(), any::<u64>(), any::<[u8; 32]>()).prop_map(|(state, at, bytes)| {
            let class = if state { Class::State } else { Class::Content };
            Priority::new(class, Timestamp(at), PostId::from_bytes(bytes))
        })
    }

    proptest! {
        #[test]
        fn sorted_order_is_state_then_newest_then_id(mut list in proptest::collection::vec(priorities(), 0..50)) {
            list.sort();
            for pair in list.windows(2) {
                let (a, b) = (pair[0], pair[1]);
                prop_assert!(a.class() <= b.class());
                if a.class() == b.class() {
                    prop_assert!(a.created_at() >= b.created_at());
                    if a.created_at() == b.created_at() {
                        prop_assert!(a.id().as_bytes() <= b.id().as_bytes());
                    }
                }
            }
        }

        #[test]
        fn of_envelope_reads_any_header(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let priority = Priority::of_envelope(&bytes);
            prop_assert_eq!(priority.is_some(), bytes.len() >= HEADER_LEN);
            if let Some(p) = priority {
                prop_assert_eq!(p.id(), PostId::of_bytes(&bytes));
            }
        }
    }
}
