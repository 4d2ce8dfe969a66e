//! What an envelope says: one variant per kind of post. The variant order is the wire
//! tag (`spec/04-kinds.md`); never reorder, only append.

use serde::{Deserialize, Serialize};

use crate::encoding::{BoundedVec, fixed_bytes};
use crate::id::{NodeId, PostId, UserId};
use crate::limits::MAX_MENTIONS;

/// Users a thread or reply mentions, at most [`MAX_MENTIONS`].
pub type Mentions = BoundedVec<UserId, MAX_MENTIONS>;

/// The kind-specific content of an envelope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Content {
    /// Tag 0: creates a space. Its author is the founder.
    Genesis(Genesis),
    /// Tag 1: starts a thread.
    Thread(Thread),
    /// Tag 2: replies within a thread.
    Reply(Reply),
    /// Tag 3: replaces the text of the author's own thread or reply.
    Edit(Edit),
    /// Tag 4: withdraws a post's content from every view, for good.
    Retraction(Retraction),
    /// Tag 5: reacts to a thread or reply.
    Reaction(Reaction),
    /// Tag 6: resolves a thread with a written decision.
    Resolve(Resolve),
    /// Tag 7: reopens a resolved thread.
    Reopen(Reopen),
    /// Tag 8: makes a user a member of the space.
    AddMember(Member),
    /// Tag 9: removes a member from the space.
    RemoveMember(Member),
    /// Tag 10: makes a member a moderator.
    GrantModerator(Member),
    /// Tag 11: takes moderator rights away.
    RevokeModerator(Member),
    /// Tag 12: lets a node hold a replica of the space.
    ShareReplica(Replica),
    /// Tag 13: stops a node from holding a replica of the space.
    UnshareReplica(Replica),
    /// Tag 14: sets the author's display name in the space.
    Profile(Profile),
}

impl Content {
    /// The wire tag of this kind.
    pub fn tag(&self) -> u32 {
        match self {
            Self::Genesis(_) => 0,
            Self::Thread(_) => 1,
            Self::Reply(_) => 2,
            Self::Edit(_) => 3,
            Self::Retraction(_) => 4,
            Self::Reaction(_) => 5,
            Self::Resolve(_) => 6,
            Self::Reopen(_) => 7,
            Self::AddMember(_) => 8,
            Self::RemoveMember(_) => 9,
            Self::GrantModerator(_) => 10,
            Self::RevokeModerator(_) => 11,
            Self::ShareReplica(_) => 12,
            Self::UnshareReplica(_) => 13,
            Self::Profile(_) => 14,
        }
    }

    /// Whether this post decides who belongs to the space or which nodes hold it
    /// (genesis, members, moderators, replicas): see [`is_governance_tag`].
    pub fn is_governance(&self) -> bool {
        is_governance_tag(self.tag())
    }

    /// The lower-case name of this kind, as the spec and the JSON forms use it.
    pub fn kind_name(&self) -> &'static str {
        KIND_NAMES[self.tag() as usize]
    }

    /// The post this content refers to, if any (the target of an edit, a retraction or
    /// a reaction, the thread of a resolve or reopen, the parent of a reply).
    pub fn target(&self) -> Option<PostId> {
        match self {
            Self::Reply(r) => Some(r.parent),
            Self::Edit(e) => Some(e.target),
            Self::Retraction(r) => Some(r.target),
            Self::Reaction(r) => Some(r.target),
            Self::Resolve(r) => Some(r.thread),
            Self::Reopen(r) => Some(r.thread),
            _ => None,
        }
    }
}

/// Whether the kind with wire tag `tag` decides who belongs to a space or which nodes
/// hold it: genesis (0), add/remove member (8, 9), grant/revoke moderator (10, 11),
/// share/unshare replica (12, 13).
pub const fn is_governance_tag(tag: u32) -> bool {
    matches!(tag, 0 | 8..=13)
}

/// The names of the kinds, indexed by tag.
pub const KIND_NAMES: [&str; 15] = [
    "genesis",
    "thread",
    "reply",
    "edit",
    "retraction",
    "reaction",
    "resolve",
    "reopen",
    "add_member",
    "remove_member",
    "grant_moderator",
    "revoke_moderator",
    "share_replica",
    "unshare_replica",
    "profile",
];

/// Creates a space. The space id is derived from this content, the founder and the
/// time (`spec/03-ids-and-signatures.md`), so a genesis cannot be forged for an id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Genesis {
    /// Short name of the space.
    pub name: String,
    /// What the space is for.
    pub description: String,
    /// The node that hosts the space first; it is in the replica set from the start.
    pub home_node: NodeId,
    /// Random bytes from the founder, so two spaces created alike still differ.
    #[serde(with = "fixed_bytes")]
    pub nonce: [u8; 16],
}

/// Starts a thread.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thread {
    /// One-line title.
    pub title: String,
    /// Markdown body.
    pub body: String,
    /// Users mentioned.
    pub mentions: Mentions,
}

/// Replies within a thread.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    /// The thread's root post.
    pub root: PostId,
    /// The post replied to: the root or another reply in the same thread.
    pub parent: PostId,
    /// Markdown body.
    pub body: String,
    /// Users mentioned.
    pub mentions: Mentions,
}

/// Replaces the text of a thread or reply. Only its author's edits count.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edit {
    /// The thread or reply edited.
    pub target: PostId,
    /// The new title, for a thread; `None` keeps the title (and is required for a reply).
    pub title: Option<String>,
    /// The new Markdown body.
    pub body: String,
}

/// Withdraws a post's content for good. Counts when by the post's author or by a
/// moderator (`spec/06-views.md`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retraction {
    /// The post retracted.
    pub target: PostId,
}

/// Reacts to a thread or reply. Retracting the reaction removes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    /// The post reacted to.
    pub target: PostId,
    /// An emoji sequence or a short word, without whitespace.
    pub reaction: String,
}

/// Resolves a thread with a written decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolve {
    /// The thread's root post.
    pub thread: PostId,
    /// The decision, in Markdown.
    pub decision: String,
}

/// Reopens a resolved thread.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reopen {
    /// The thread's root post.
    pub thread: PostId,
}

/// The user a membership change is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The user.
    pub user: UserId,
}

/// The node a replica-set change is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replica {
    /// The node.
    pub node: NodeId,
}

/// The author's display name in this space.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// The name shown beside the author's posts.
    pub display_name: String,
}
