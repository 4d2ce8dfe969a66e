//! An in-memory node for testing commands: it validates and stores published posts and
//! answers from the protocol's own views, as the real node does, without QUIC or disk.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use parley_protocol::api::{
    ApiErrorCode, DecisionCursor, MAX_PAGE_LINES, NodeAddress, Request, Response, SpaceSummary,
    ThreadCursor, UnreadInSpace,
};
use parley_protocol::content::Content;
use parley_protocol::view::{Decision, ReadCursor, SpaceView, ThreadSummary};
use parley_protocol::{NodeId, Post, PostId, SpaceId, UserId};

use super::Context;
use crate::error::ClientError;
use crate::home::Home;
use crate::node_client::{Api, Watch};
use crate::render::fixtures::NOW;

/// A context on a fresh temporary home, at the fixtures' fixed now, with no editor.
pub(crate) fn context() -> (tempfile::TempDir, Context) {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::locate(Some(dir.path().join("home"))).unwrap();
    let ctx = Context::new(home, 80, None, || NOW);
    (dir, ctx)
}

/// A context whose user has joined `node`.
pub(crate) fn joined() -> (tempfile::TempDir, Context, FakeNode) {
    let (dir, ctx) = context();
    let (key, _) = ctx.home.key_or_create().unwrap();
    let node = FakeNode::new(key.user_id());
    ctx.home.set_node(&node.address()).unwrap();
    (dir, ctx, node)
}

/// The in-memory node.
#[derive(Debug)]
pub(crate) struct FakeNode {
    /// Its id.
    pub(crate) id: NodeId,
    /// The connected user.
    pub(crate) user: UserId,
    /// Every stored post.
    pub(crate) posts: Vec<Post>,
    /// Posts the user has read.
    pub(crate) read: ReadCursor,
    /// Answer `Join` with `InviteUsed`.
    pub(crate) refuse_join: bool,
    /// Every request received.
    pub(crate) requests: Vec<Request>,
    /// What a watch streams after it is established.
    pub(crate) events: Vec<Response>,
    /// How many times the connection was let go.
    pub(crate) pauses: usize,
    /// Keep a watch open after its events, as a live node does, instead of ending it.
    pub(crate) hold_open: bool,
}

impl FakeNode {
    /// A node serving `user`.
    pub(crate) fn new(user: UserId) -> Self {
        Self {
            id: NodeId([200; 32]),
            user,
            posts: Vec::new(),
            read: ReadCursor::new(),
            refuse_join: false,
            requests: Vec::new(),
            events: Vec::new(),
            pauses: 0,
            hold_open: false,
        }
    }

    /// Its address.
    pub(crate) fn address(&self) -> NodeAddress {
        NodeAddress {
            node: self.id,
            host_port: "127.0.0.1:7447".to_owned(),
        }
    }

    /// Stores a post as if published by anyone (e.g. another user).
    pub(crate) fn insert(&mut self, post: Post) {
        self.posts.push(post);
    }

    /// The view of `space`.
    pub(crate) fn view(&self, space: &SpaceId) -> SpaceView {
        SpaceView::fold(*space, self.posts.iter())
    }

    fn spaces(&self) -> BTreeSet<SpaceId> {
        self.posts.iter().map(Post::space).collect()
    }

    pub(crate) fn answer(&mut self, request: Request) -> Response {
        match request {
            Request::Join { .. } if self.refuse_join => Response::error(
                ApiErrorCode::InviteUsed,
                "this invite has been used up: ask the node's admin for a new one",
            ),
            Request::Join { .. } => Response::Joined {
                user: self.user,
                node: self.id,
            },
            Request::WhoAmI => Response::Me {
                user: self.user,
                node: self.id,
                joined_at: NOW,
            },
            Request::Publish { envelope } => self.publish(&envelope.0),
            Request::Spaces => {
                let spaces = self
                    .spaces()
                    .into_iter()
                    .filter_map(|space| {
                        let view = self.view(&space);
                        let genesis = view.genesis()?.clone();
                        view.is_member(&self.user).then(|| SpaceSummary {
                            space,
                            last_activity: genesis.created_at,
                            genesis,
                            members: view.members().len() as u64,
                            threads: view.threads().len() as u64,
                            unread: view
                                .unread(&self.user, &self.read)
                                .iter()
                                .map(|u| (u.posts.len() + u.news.len()) as u32)
                                .sum(),
                            unread_more: false,
                        })
                    })
                    .collect();
                Response::Spaces { spaces }
            }
            Request::Threads {
                space,
                limit,
                before,
                since,
                filter,
            } => self.with_view(space, |view| {
                let after = |t: &ThreadSummary| {
                    before.is_none_or(|c| {
                        (Reverse(t.last_activity), t.id) > (Reverse(c.last_activity), c.id)
                    })
                };
                let lines: Vec<ThreadSummary> = view
                    .threads()
                    .iter()
                    .filter(|t| after(t) && since.is_none_or(|since| t.last_activity >= since))
                    .filter(|t| filter.admits(t.resolution.is_some()))
                    .cloned()
                    .collect();
                let (threads, next) = page(lines, limit, |t| ThreadCursor {
                    last_activity: t.last_activity,
                    id: t.id,
                });
                let unread = view
                    .unread(&self.user, &self.read)
                    .into_iter()
                    .filter(|u| threads.iter().any(|t| t.id == u.thread))
                    .map(|u| (u.thread, (u.posts.len() + u.news.len()) as u32))
                    .collect();
                Response::Threads {
                    space,
                    names: names(view),
                    threads,
                    next,
                    total: view.threads().len() as u64,
                    unread,
                }
            }),
            Request::Thread { id, from } => match self.locate(&id) {
                Some((space, Some(root), _, _)) => {
                    self.with_view(space, |view| match view.thread(&root) {
                        Some(thread) => {
                            // Two posts a page, so every command pages through threads.
                            let mut thread = thread.clone();
                            let from = (from as usize).min(thread.posts.len());
                            let end = (from + 2).min(thread.posts.len());
                            let next = (end < thread.posts.len()).then_some(end as u32);
                            thread.posts = thread.posts[from..end].to_vec();
                            Response::Thread {
                                space,
                                names: names(view),
                                thread,
                                next,
                            }
                        }
                        None => Response::error(ApiErrorCode::Unknown, "not shown"),
                    })
                }
                _ => Response::error(
                    ApiErrorCode::Unknown,
                    format!("this node holds no thread {id}"),
                ),
            },
            Request::Locate { id } => match self.locate(&id) {
                Some((space, thread, author, kind)) => {
                    self.with_view(space, |_| Response::Located {
                        space,
                        thread,
                        author,
                        kind,
                    })
                }
                None => Response::error(
                    ApiErrorCode::Unknown,
                    format!("this node holds no post {id}"),
                ),
            },
            Request::Members { space } => self.with_view(space, |view| Response::Members {
                space,
                members: view.members().iter().copied().collect(),
                moderators: view.moderators().iter().copied().collect(),
                replicas: view.replicas().iter().copied().collect(),
                names: names(view),
                former_moderators: view.former_moderators().copied().collect(),
            }),
            Request::Decisions {
                space,
                limit,
                before,
            } => self.with_view(space, |view| {
                let lines: Vec<Decision> = view
                    .decisions()
                    .iter()
                    .filter(|d| {
                        before.is_none_or(|c| {
                            Reverse((d.decided_at, d.resolve)) > Reverse((c.decided_at, c.resolve))
                        })
                    })
                    .cloned()
                    .collect();
                let (decisions, next) = page(lines, limit, |d| DecisionCursor {
                    decided_at: d.decided_at,
                    resolve: d.resolve,
                });
                Response::Decisions {
                    space,
                    decisions,
                    next,
                }
            }),
            Request::Unread { mark_read } => {
                let mut threads = Vec::new();
                for space in self.spaces() {
                    let view = self.view(&space);
                    if !view.is_member(&self.user) {
                        continue;
                    }
                    let name = view.genesis().map(|g| g.name.clone()).unwrap_or_default();
                    for thread in view.unread(&self.user, &self.read) {
                        threads.push(UnreadInSpace {
                            space,
                            space_name: name.clone(),
                            thread,
                        });
                    }
                }
                if mark_read {
                    for entry in &threads {
                        entry.thread.posts.iter().for_each(|id| self.read.mark(*id));
                    }
                }
                Response::Unread {
                    threads,
                    more: false,
                }
            }
            Request::MarkRead { ids } => {
                ids.iter().for_each(|id| self.read.mark(*id));
                Response::Done
            }
            Request::FindPosts { prefix } => {
                let prefix = match parley_protocol::IdPrefix::parse(PostId::PREFIX, &prefix) {
                    Ok(prefix) => prefix,
                    Err(error) => {
                        return Response::error(ApiErrorCode::Malformed, error.to_string());
                    }
                };
                let mut ids: Vec<PostId> = self
                    .posts
                    .iter()
                    .filter(|post| prefix.matches(post.id().as_bytes()))
                    .filter(|post| self.view(&post.space()).is_member(&self.user))
                    .map(Post::id)
                    .collect();
                ids.sort();
                ids.dedup();
                Response::Found { ids, more: false }
            }
            Request::OwnReactions { target, reaction } => {
                let retracted: Vec<PostId> = self
                    .posts
                    .iter()
                    .filter_map(|post| match post.content() {
                        Content::Retraction(r) if post.author() == self.user => Some(r.target),
                        _ => None,
                    })
                    .collect();
                let ids = self
                    .posts
                    .iter()
                    .filter(|post| post.author() == self.user && !retracted.contains(&post.id()))
                    .filter(|post| {
                        matches!(post.content(), Content::Reaction(r) if r.target == target && r.reaction == reaction)
                    })
                    .map(Post::id)
                    .collect();
                Response::Found { ids, more: false }
            }
            Request::MarkSpaceRead { space } => {
                if !self.view(&space).is_member(&self.user) {
                    return Response::error(ApiErrorCode::Unknown, "no such space");
                }
                let held: Vec<PostId> = self
                    .posts
                    .iter()
                    .filter(|post| post.space() == space)
                    .map(Post::id)
                    .collect();
                held.into_iter().for_each(|id| self.read.mark(id));
                Response::Done
            }
            _ => Response::error(ApiErrorCode::Malformed, "unknown request"),
        }
    }

    fn publish(&mut self, bytes: &[u8]) -> Response {
        let post = match Post::decode(bytes, NOW) {
            Ok(post) => post,
            Err(error) => return Response::error(ApiErrorCode::InvalidPost, error.to_string()),
        };
        if post.author() != self.user {
            return Response::error(ApiErrorCode::Forbidden, "not your key");
        }
        match post.content() {
            Content::Genesis(genesis) if genesis.home_node != self.id => {
                return Response::error(ApiErrorCode::Forbidden, "wrong home node");
            }
            Content::Genesis(_) => {}
            _ => {
                let view = self.view(&post.space());
                if view.genesis().is_none() || !view.is_member(&self.user) {
                    return no_such_space(&post.space());
                }
            }
        }
        let id = post.id();
        self.posts.push(post);
        Response::Published { id }
    }

    fn locate(&self, id: &PostId) -> Option<(SpaceId, Option<PostId>, UserId, u32)> {
        let post = self.posts.iter().find(|post| post.id() == *id)?;
        let thread = match post.content() {
            Content::Thread(_) => Some(post.id()),
            Content::Reply(reply) => Some(reply.root),
            _ => None,
        };
        Some((post.space(), thread, post.author(), post.content().tag()))
    }

    fn with_view(&self, space: SpaceId, answer: impl FnOnce(&SpaceView) -> Response) -> Response {
        let view = self.view(&space);
        if view.genesis().is_none() || !view.is_member(&self.user) {
            return no_such_space(&space);
        }
        answer(&view)
    }
}

/// The node's answer about a space the user may not read, held or not.
fn no_such_space(space: &SpaceId) -> Response {
    Response::error(
        ApiErrorCode::Unknown,
        format!("this node holds no space {space} that you are a member of"),
    )
}

fn names(view: &SpaceView) -> BTreeMap<String, String> {
    view.display_names()
        .iter()
        .map(|(user, name)| (user.to_string(), name.clone()))
        .collect()
}

impl Api for FakeNode {
    type Watch = FakeWatch;

    async fn call(&mut self, request: Request) -> Result<Response, ClientError> {
        self.requests.push(request.clone());
        Ok(self.answer(request))
    }

    async fn watch(&mut self, space: Option<SpaceId>) -> Result<FakeWatch, ClientError> {
        self.requests.push(Request::Watch { space });
        if let Some(space) = space
            && let Response::Error { code, message } = self.with_view(space, |_| Response::Done)
        {
            return Err(ClientError::Node { code, message });
        }
        Ok(FakeWatch {
            events: self.events.drain(..).collect(),
            hold_open: self.hold_open,
        })
    }

    fn pause(&mut self) {
        self.pauses += 1;
    }
}

/// A watch replaying prepared answers, then ending.
#[derive(Debug)]
pub(crate) struct FakeWatch {
    events: VecDeque<Response>,
    hold_open: bool,
}

impl Watch for FakeWatch {
    async fn next(&mut self) -> Result<Option<Response>, ClientError> {
        match self.events.pop_front() {
            None if self.hold_open => std::future::pending().await,
            next => Ok(next),
        }
    }
}

/// The first `limit` of `lines`, and the cursor of the last one shown when more follow.
fn page<T, C>(lines: Vec<T>, limit: u32, cursor: impl Fn(&T) -> C) -> (Vec<T>, Option<C>) {
    let limit = limit.clamp(1, MAX_PAGE_LINES) as usize;
    let more = lines.len() > limit;
    let shown: Vec<T> = lines.into_iter().take(limit).collect();
    let next = if more { shown.last().map(cursor) } else { None };
    (shown, next)
}
