//! The client API: what `parley` asks its node and what the node answers. One request per
//! QUIC stream (`watch` keeps its stream and receives events), each message framed by the
//! transport and encoded with the protocol's canonical codec.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::codec::{self, DecodeError};
use crate::encoding::{BoundedVec, ByteString};
use crate::id::{NodeId, PostId, SpaceId, UserId};
use crate::limits::MAX_IDS_PER_MESSAGE;
use crate::time::Timestamp;
use crate::view::{Decision, GenesisInfo, ThreadSummary, ThreadView, UnreadThread};

use super::address::InviteToken;
use super::page::{DecisionCursor, ThreadCursor, ThreadFilter};
use super::search::{SearchHit, SearchQuery, SearchSort};

/// ALPN of the client API. Its version changes whenever the encoding of requests or
/// answers does, so that a client and a node of different versions refuse each other at
/// the handshake, saying so, instead of misreading each other (2: unread news, counts,
/// mentions, id prefixes, whole-space marks).
pub const CLIENT_ALPN: &[u8] = b"parley-client/2";
/// ALPN of the admin API (the local `parleyd` CLI, authenticated by the node's own key).
pub const ADMIN_ALPN: &[u8] = b"parley-admin/1";

/// A request from a user's client. The client's TLS key is the user; only `Join` is
/// served to a key the node has not registered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Request {
    /// Tag 0: register the connecting key with an invite.
    Join {
        /// The invite's token.
        token: InviteToken,
    },
    /// Tag 1: who am I to this node.
    WhoAmI,
    /// Tag 2: store and share a post the client signed. Answered once it is durable.
    Publish {
        /// The envelope's canonical bytes.
        envelope: ByteString,
    },
    /// Tag 3: the spaces the user is a member of.
    Spaces,
    /// Tag 4: one page of the thread list of a space, latest activity first.
    Threads {
        /// The space.
        space: SpaceId,
        /// The most threads wanted (at most [`MAX_PAGE_LINES`](crate::api::MAX_PAGE_LINES)).
        limit: u32,
        /// Start just after this thread; `None` starts at the newest.
        before: Option<ThreadCursor>,
        /// Only threads with activity at or after this time.
        since: Option<Timestamp>,
        /// Which threads.
        filter: ThreadFilter,
    },
    /// Tag 5: one thread, as a tree in display order, a page of its posts at a time.
    Thread {
        /// The thread's root post (or any post in it).
        id: PostId,
        /// The place in display order of the first post wanted (0: from the root).
        from: u32,
    },
    /// Tag 6: where a post is: its space, thread and author (to reply, edit or react).
    Locate {
        /// The post.
        id: PostId,
    },
    /// Tag 7: members, moderators and replica set of a space.
    Members {
        /// The space.
        space: SpaceId,
    },
    /// Tag 8: what the user has not read, across their spaces.
    Unread {
        /// Mark everything returned as read.
        mark_read: bool,
    },
    /// Tag 9: mark posts read.
    MarkRead {
        /// The posts.
        ids: BoundedVec<PostId, MAX_IDS_PER_MESSAGE>,
    },
    /// Tag 10: stream new posts as they arrive, in one space or all the user's spaces.
    Watch {
        /// The space, or all.
        space: Option<SpaceId>,
    },
    /// Tag 11: one page of the decision log of a space, newest first.
    Decisions {
        /// The space.
        space: SpaceId,
        /// The most decisions wanted (at most [`MAX_PAGE_LINES`](crate::api::MAX_PAGE_LINES)).
        limit: u32,
        /// Start just after this decision; `None` starts at the newest.
        before: Option<DecisionCursor>,
    },
    /// Tag 12: mark read every post of a space the node holds now. Answered `Done`.
    MarkSpaceRead {
        /// The space.
        space: SpaceId,
    },
    /// Tag 13: the posts the user may read whose ids start with a prefix people typed
    /// (`post1tsmpe33x`, see [`IdPrefix`](crate::IdPrefix)). Answered `Found`.
    FindPosts {
        /// The prefix's text.
        prefix: String,
    },
    /// Tag 14: the user's own reactions with this text to a post, held in full (not
    /// retracted), so that they can be taken back. Answered `Found`.
    OwnReactions {
        /// The post reacted to.
        target: PostId,
        /// The reaction's text.
        reaction: String,
    },
    /// Tag 15: full-text search of what the user may read (informative, spec 8.4).
    /// Answered `Hits`.
    Search {
        /// What to match.
        query: SearchQuery,
        /// In which order.
        sort: SearchSort,
        /// The most hits wanted (at most [`MAX_HITS`](crate::api::search::MAX_HITS)).
        limit: u32,
        /// How many hits to skip (at most
        /// [`MAX_SEARCH_OFFSET`](crate::api::search::MAX_SEARCH_OFFSET)).
        offset: u32,
    },
}

/// A space as listed for its members.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpaceSummary {
    /// The space.
    pub space: SpaceId,
    /// Its genesis: name, description, founder, home node.
    pub genesis: GenesisInfo,
    /// Number of members.
    pub members: u64,
    /// Number of threads shown.
    pub threads: u64,
    /// Latest activity in the space.
    pub last_activity: Timestamp,
    /// Posts and news (6.14) the user has not read here, counted up to a bound.
    pub unread: u32,
    /// Whether more are unread than `unread` says (the count stopped at its bound).
    pub unread_more: bool,
}

/// Unread posts of one thread, with the space they belong to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnreadInSpace {
    /// The space.
    pub space: SpaceId,
    /// Its name.
    pub space_name: String,
    /// The thread and its unread posts.
    pub thread: UnreadThread,
}

/// Something that happened, streamed to a `watch`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Event {
    /// A post arrived: its envelope, as stored.
    Post {
        /// The envelope's canonical bytes (the client validates and renders it).
        envelope: ByteString,
    },
}

/// A node's answer.
// One answer is alive at a time, moved once: its size does not matter, and boxing the
// thread would only add an allocation to every `Thread` answer.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Response {
    /// Tag 0: the key is registered.
    Joined {
        /// The user.
        user: UserId,
        /// The node.
        node: NodeId,
    },
    /// Tag 1: the answer to `WhoAmI`.
    Me {
        /// The user.
        user: UserId,
        /// The node.
        node: NodeId,
        /// When the user joined this node.
        joined_at: Timestamp,
    },
    /// Tag 2: the post is stored durably.
    Published {
        /// Its id.
        id: PostId,
    },
    /// Tag 3: the user's spaces.
    Spaces {
        /// The spaces, by name.
        spaces: Vec<SpaceSummary>,
    },
    /// Tag 4: a page of a thread list.
    Threads {
        /// The space.
        space: SpaceId,
        /// Display names of the page's authors, keyed by user id text.
        names: BTreeMap<String, String>,
        /// The threads, latest activity first.
        threads: Vec<ThreadSummary>,
        /// Where the next page starts, if there is one.
        next: Option<ThreadCursor>,
        /// How many threads the space shows in all (whatever the filter).
        total: u64,
        /// How many posts and news (6.14) of each thread of the page the user has not
        /// read; threads with none are left out.
        unread: BTreeMap<PostId, u32>,
    },
    /// Tag 5: one thread, with a page of its posts.
    Thread {
        /// The space.
        space: SpaceId,
        /// Display names of the space's users, keyed by user id text.
        names: BTreeMap<String, String>,
        /// The thread; `posts` holds the page's posts, from the place asked for.
        thread: ThreadView,
        /// The place of the next page's first post, if the thread has more.
        next: Option<u32>,
    },
    /// Tag 6: where a post is.
    Located {
        /// Its space.
        space: SpaceId,
        /// The thread it is in, if it is a thread or a reply.
        thread: Option<PostId>,
        /// Its author.
        author: UserId,
        /// Its kind tag.
        kind: u32,
    },
    /// Tag 7: who belongs to a space.
    Members {
        /// The space.
        space: SpaceId,
        /// Members.
        members: Vec<UserId>,
        /// Moderators.
        moderators: Vec<UserId>,
        /// Nodes holding the space.
        replicas: Vec<NodeId>,
        /// Display names, keyed by user id text.
        names: BTreeMap<String, String>,
        /// Users who were moderators once and are not now: they can still retract any
        /// content for good (6.6).
        former_moderators: Vec<UserId>,
    },
    /// Tag 8: unread posts, grouped by thread.
    Unread {
        /// The threads with unread posts.
        threads: Vec<UnreadInSpace>,
        /// Whether more unread posts remain than one answer lists: ask again once
        /// these are read.
        more: bool,
    },
    /// Tag 9: done.
    Done,
    /// Tag 10: a watch event.
    Event(Event),
    /// Tag 11: a page of the decision log of a space.
    Decisions {
        /// The space.
        space: SpaceId,
        /// Newest first.
        decisions: Vec<Decision>,
        /// Where the next page starts, if there is one.
        next: Option<DecisionCursor>,
    },
    /// Tag 12: the request was refused.
    Error {
        /// Why, for programs.
        code: ApiErrorCode,
        /// Why, for people: what to do about it.
        message: String,
    },
    /// Tag 13: posts whose ids start with the prefix asked for, in id order (retracted
    /// ones included, so that asking for them says so).
    Found {
        /// The posts, at most [`MAX_FOUND`](crate::api::MAX_FOUND).
        ids: Vec<PostId>,
        /// Whether others start so too.
        more: bool,
    },
    /// Tag 14: a page of search hits.
    Hits {
        /// The hits, in the order asked for.
        hits: Vec<SearchHit>,
        /// How many hits the query has in all, in the spaces the user may read.
        total: u64,
        /// The offset of the next page, if there is one.
        next: Option<u32>,
        /// Whether the index is still being built, so older posts may be missing.
        indexing: bool,
    },
}

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ApiErrorCode {
    /// The key is not registered with this node (join with an invite first).
    NotRegistered,
    /// The invite is unknown to this node.
    InviteUnknown,
    /// The invite has no uses left.
    InviteUsed,
    /// The invite has expired.
    InviteExpired,
    /// The user is not a member of the space.
    NotMember,
    /// No such post or space here.
    Unknown,
    /// The post is invalid (the message carries the validation error).
    InvalidPost,
    /// The request is not allowed (e.g. posting as someone else).
    Forbidden,
    /// The request could not be decoded.
    Malformed,
    /// The node failed; the request may be retried.
    Internal,
    /// The node's disk is (nearly) full: it takes no posts until space is freed; reads
    /// go on. Retry later.
    DiskFull,
}

impl ApiErrorCode {
    /// A stable snake_case name, for JSON output.
    pub fn name(&self) -> &'static str {
        match self {
            Self::NotRegistered => "not_registered",
            Self::InviteUnknown => "invite_unknown",
            Self::InviteUsed => "invite_used",
            Self::InviteExpired => "invite_expired",
            Self::NotMember => "not_member",
            Self::Unknown => "unknown",
            Self::InvalidPost => "invalid_post",
            Self::Forbidden => "forbidden",
            Self::Malformed => "malformed",
            Self::Internal => "internal",
            Self::DiskFull => "disk_full",
        }
    }
}

impl Request {
    /// The first page of `space`'s thread list: up to `limit` threads, all of them.
    pub fn threads(space: SpaceId, limit: u32) -> Self {
        Self::Threads {
            space,
            limit,
            before: None,
            since: None,
            filter: ThreadFilter::All,
        }
    }

    /// The first page of `space`'s decision log: up to `limit` decisions.
    pub fn decisions(space: SpaceId, limit: u32) -> Self {
        Self::Decisions {
            space,
            limit,
            before: None,
        }
    }

    /// The canonical bytes.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes a request, bounded by `MAX_MESSAGE_BYTES`.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        codec::decode_message(bytes)
    }
}

impl Response {
    /// The canonical bytes.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes a response, bounded by `MAX_MESSAGE_BYTES`.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        codec::decode_message(bytes)
    }

    /// An error response.
    pub fn error(code: ApiErrorCode, message: impl Into<String>) -> Self {
        Self::Error {
            code,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_responses_round_trip() {
        let requests = [
            Request::Join {
                token: InviteToken([1; 16]),
            },
            Request::WhoAmI,
            Request::Publish {
                envelope: ByteString(vec![1, 2, 3]),
            },
            Request::Watch { space: None },
            Request::Threads {
                space: SpaceId([2; 32]),
                limit: 20,
                before: Some(ThreadCursor {
                    last_activity: Timestamp::from_millis(7),
                    id: PostId([3; 32]),
                }),
                since: None,
                filter: ThreadFilter::Open,
            },
            Request::MarkRead {
                ids: BoundedVec::try_from_vec(vec![PostId([4; 32])]).unwrap(),
            },
            Request::MarkSpaceRead {
                space: SpaceId([6; 32]),
            },
            Request::FindPosts {
                prefix: "post1tsmp".to_owned(),
            },
            Request::OwnReactions {
                target: PostId([8; 32]),
                reaction: "👍".to_owned(),
            },
        ];
        for request in requests {
            assert_eq!(Request::decode(&request.encode()), Ok(request));
        }
        let responses = [
            Response::Published {
                id: PostId([5; 32]),
            },
            Response::error(ApiErrorCode::NotMember, "not a member of space x"),
            Response::Done,
            Response::Found {
                ids: vec![PostId([7; 32])],
                more: true,
            },
        ];
        for response in responses {
            assert_eq!(Response::decode(&response.encode()), Ok(response));
        }
    }

    #[test]
    fn views_travel_in_responses() {
        let posts = crate::test_vectors::sample_posts();
        let space = posts[0].space();
        let view = crate::view::SpaceView::fold(space, posts.iter());
        let response = Response::Threads {
            space,
            names: BTreeMap::new(),
            threads: view.threads().to_vec(),
            next: Some(ThreadCursor {
                last_activity: Timestamp::from_millis(3),
                id: PostId([1; 32]),
            }),
            total: 9,
            unread: BTreeMap::from([(PostId([1; 32]), 2)]),
        };
        assert_eq!(Response::decode(&response.encode()), Ok(response));
        let thread = view.thread(&view.threads()[0].id).cloned().unwrap();
        let response = Response::Thread {
            space,
            names: BTreeMap::new(),
            thread,
            next: Some(3),
        };
        assert_eq!(Response::decode(&response.encode()), Ok(response));
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(Request::decode(&[99, 0, 0, 0]).is_err());
        assert!(Request::decode(&[]).is_err());
    }
}
