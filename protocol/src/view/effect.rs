//! Whether a post about to be made would change anything: the rules of 6.3–6.10 asked
//! before the post exists, so that a client refuses, before signing, a post the views
//! would ignore, and a node turns such a post away when a user publishes it, both with
//! the same reason.
//!
//! The question is asked of the space as it is now, for a post dated now (after
//! everything held). What the asker knows of the space is a [`Standing`] and, for a
//! post about another post, that post's [`Target`].

use crate::content::Content;
use crate::id::UserId;

use super::SpaceView;

/// Where a user stands in a space now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Standing {
    /// A member now.
    pub member: bool,
    /// A moderator now.
    pub moderator: bool,
    /// Ever a moderator (6.6), which lets one retract anyone's content; `None` when the
    /// asker cannot tell (a client knows only the current moderators).
    pub ever_moderator: Option<bool>,
    /// The space's founder, when known.
    pub founder: Option<UserId>,
}

/// The post another post is about: its author and kind (wire tag). For a resolve or a
/// reopen, the thread's root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    /// Who wrote it.
    pub author: UserId,
    /// Its kind's wire tag.
    pub kind: u32,
}

/// Why a post would change nothing: its message says what the rule is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Ignored {
    /// Content by someone who is not a member never shows (6.5).
    #[error("you are not a member of this space, so your posts would not show")]
    NotMember,
    /// Membership and replica changes apply only by a moderator (6.3, 6.4).
    #[error("only a moderator of the space can {action}")]
    NotModerator {
        /// What the post would do.
        action: &'static str,
    },
    /// The founder stays a member and a moderator (6.3).
    #[error("the space's founder cannot {what}")]
    Founder {
        /// What the post would do to the founder.
        what: &'static str,
    },
    /// Only the thread's author or a moderator resolves or reopens it (6.10).
    #[error("only the thread's author or a moderator can {action} it")]
    NotThreadAuthorOrModerator {
        /// `resolve` or `reopen`.
        action: &'static str,
    },
    /// Only its author edits a post (6.8).
    #[error("only its author can edit a post")]
    NotAuthor,
    /// Edits are of threads and replies (6.8).
    #[error("only threads and replies can be edited")]
    NotEditable,
    /// Only its author, or someone who was ever a moderator, retracts a post (6.6).
    #[error("only its author or a moderator can retract a post")]
    NotRetractable,
    /// Only content can be retracted (6.6).
    #[error(
        "a {kind} post cannot be retracted; only content (threads, replies, edits, reactions, resolves, reopens, profiles) can"
    )]
    NotContent {
        /// The target's kind.
        kind: &'static str,
    },
}

/// Why `content` by `author`, who stands as `standing`, would be ignored by the views if
/// posted now; `None` when it would count (or when what decides it is not known:
/// a target not given, a former moderator not known to be one).
pub fn ignored(
    standing: &Standing,
    author: &UserId,
    content: &Content,
    target: Option<&Target>,
) -> Option<Ignored> {
    let moderator_only = |action| (!standing.moderator).then_some(Ignored::NotModerator { action });
    let founder = |user: &UserId, what| {
        (standing.founder.as_ref() == Some(user)).then_some(Ignored::Founder { what })
    };
    match content {
        Content::Genesis(_) => None,
        Content::AddMember(_) => moderator_only("add members"),
        Content::RemoveMember(m) => {
            moderator_only("remove members").or_else(|| founder(&m.user, "be removed"))
        }
        // A grant by a former moderator still extends who may retract for good (6.6):
        // only one by someone never a moderator changes nothing at all.
        Content::GrantModerator(_) => (!standing.moderator
            && standing.ever_moderator == Some(false))
        .then_some(Ignored::NotModerator {
            action: "make moderators",
        }),
        Content::RevokeModerator(m) => moderator_only("revoke moderators")
            .or_else(|| founder(&m.user, "lose moderator rights")),
        Content::ShareReplica(_) => moderator_only("share the space with a node"),
        Content::UnshareReplica(_) => moderator_only("stop sharing the space with a node"),
        Content::Retraction(_) => {
            let target = target?;
            if !is_content(target.kind) {
                let kind = crate::content::KIND_NAMES
                    .get(target.kind as usize)
                    .copied()
                    .unwrap_or("unknown");
                return Some(Ignored::NotContent { kind });
            }
            let own = target.author == *author;
            (!own && standing.ever_moderator == Some(false)).then_some(Ignored::NotRetractable)
        }
        _ if !standing.member => Some(Ignored::NotMember),
        Content::Edit(_) => {
            let target = target?;
            if !matches!(target.kind, THREAD | REPLY) {
                Some(Ignored::NotEditable)
            } else if target.author != *author {
                Some(Ignored::NotAuthor)
            } else {
                None
            }
        }
        Content::Resolve(_) | Content::Reopen(_) => {
            let target = target?;
            let action = if matches!(content, Content::Resolve(_)) {
                "resolve"
            } else {
                "reopen"
            };
            (target.author != *author && !standing.moderator)
                .then_some(Ignored::NotThreadAuthorOrModerator { action })
        }
        Content::Thread(_) | Content::Reply(_) | Content::Reaction(_) | Content::Profile(_) => None,
    }
}

const THREAD: u32 = 1;
const REPLY: u32 = 2;

/// Whether the kind with wire tag `kind` is content (6.5).
fn is_content(kind: u32) -> bool {
    matches!(kind, 1..=7 | 14)
}

impl SpaceView {
    /// Users who were ever moderators and are not now (6.6): they can still retract any
    /// content.
    pub fn former_moderators(&self) -> impl Iterator<Item = &UserId> {
        self.ever_moderators
            .keys()
            .filter(|user| !self.is_moderator(user))
    }

    /// Where `user` stands in the space now, all of it known.
    pub fn standing(&self, user: &UserId) -> Standing {
        Standing {
            member: self.is_member(user),
            moderator: self.is_moderator(user),
            ever_moderator: Some(self.ever_moderators.contains_key(user)),
            founder: self.genesis().map(|genesis| genesis.founder),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::{Member, Reopen, Resolve, Retraction};
    use crate::id::PostId;

    fn user(n: u8) -> UserId {
        UserId::from_bytes([n; 32])
    }

    const MEMBER: Standing = Standing {
        member: true,
        moderator: false,
        ever_moderator: Some(false),
        founder: None,
    };

    #[test]
    fn members_who_are_not_moderators_change_no_membership() {
        let add = Content::AddMember(Member { user: user(3) });
        assert_eq!(
            ignored(&MEMBER, &user(2), &add, None),
            Some(Ignored::NotModerator {
                action: "add members"
            })
        );
        let moderator = Standing {
            moderator: true,
            founder: Some(user(1)),
            ..MEMBER
        };
        assert_eq!(ignored(&moderator, &user(2), &add, None), None);
        let remove_founder = Content::RemoveMember(Member { user: user(1) });
        assert_eq!(
            ignored(&moderator, &user(2), &remove_founder, None),
            Some(Ignored::Founder { what: "be removed" })
        );
    }

    #[test]
    fn resolving_and_retracting_depend_on_whose_the_target_is() {
        let thread = PostId::from_bytes([9; 32]);
        let theirs = Target {
            author: user(1),
            kind: THREAD,
        };
        let resolve = Content::Resolve(Resolve {
            thread,
            decision: "yes".into(),
        });
        assert_eq!(
            ignored(&MEMBER, &user(2), &resolve, Some(&theirs)),
            Some(Ignored::NotThreadAuthorOrModerator { action: "resolve" })
        );
        let mine = Target {
            author: user(2),
            kind: THREAD,
        };
        assert_eq!(ignored(&MEMBER, &user(2), &resolve, Some(&mine)), None);
        let reopen = Content::Reopen(Reopen { thread });
        let moderator = Standing {
            moderator: true,
            ever_moderator: Some(true),
            ..MEMBER
        };
        assert_eq!(ignored(&moderator, &user(2), &reopen, Some(&theirs)), None);
        let retract = Content::Retraction(Retraction { target: thread });
        assert_eq!(
            ignored(&MEMBER, &user(2), &retract, Some(&theirs)),
            Some(Ignored::NotRetractable)
        );
        assert_eq!(ignored(&MEMBER, &user(2), &retract, Some(&mine)), None);
        // Not knowing of a former moderator, nothing is refused.
        let unknown = Standing {
            ever_moderator: None,
            ..MEMBER
        };
        assert_eq!(ignored(&unknown, &user(2), &retract, Some(&theirs)), None);
        let genesis = Target {
            author: user(2),
            kind: 0,
        };
        assert_eq!(
            ignored(&MEMBER, &user(2), &retract, Some(&genesis)),
            Some(Ignored::NotContent { kind: "genesis" })
        );
        // A removed member may still retract their own posts (6.6).
        let former = Standing {
            member: false,
            ..MEMBER
        };
        assert_eq!(ignored(&former, &user(2), &retract, Some(&mine)), None);
        assert_eq!(
            ignored(&former, &user(2), &resolve, Some(&mine)),
            Some(Ignored::NotMember)
        );
    }
}
