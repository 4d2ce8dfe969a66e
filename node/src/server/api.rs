//! Serving the client API: one request, one response, as `spec`-free node policy over
//! the protocol's validation and views.

use std::collections::BTreeMap;
use std::sync::Arc;

use parley_protocol::api::{
    ApiErrorCode, DecisionCursor, MAX_FOUND, MAX_PAGE_LINES, Request, Response, SpaceSummary,
    ThreadCursor, ThreadFilter,
};
use parley_protocol::content::Content;
use parley_protocol::encoding::ByteString;
use parley_protocol::view::{self, SpaceView, Target, ThreadPost, ThreadView};
use parley_protocol::{IdPrefix, Post, PostId, SpaceId, UserId};

use crate::clock;
use crate::storage::{InviteError, PageLimits};

use super::unread::{MAX_UNREAD_POSTS, SPACE_UNREAD_BOUND, UnreadCount, unread_counts};
use super::{Node, refold, spaces};

/// The answer to `request` from `user`, registered or not.
pub(crate) async fn handle(node: &Arc<Node>, user: UserId, request: Request) -> Response {
    let registered = match node.storage.is_registered(&user) {
        Ok(registered) => registered,
        Err(error) => return internal(error),
    };
    if let Request::Join { token } = request {
        return join(node, user, registered, token).await;
    }
    if !registered {
        return not_registered(&user);
    }
    match request {
        Request::Publish { envelope } => publish(node, user, &envelope).await,
        // Reads fold views and walk the store: off the async threads, so one large
        // space does not hold up everyone else's requests.
        request => {
            let node = node.clone();
            tokio::task::spawn_blocking(move || read(&node, user, request))
                .await
                .unwrap_or_else(|error| internal(format!("a read failed: {error}")))
        }
    }
}

/// The answer to a request that only reads.
fn read(node: &Node, user: UserId, request: Request) -> Response {
    match request {
        Request::WhoAmI => match node.storage.user_joined_at(&user) {
            Ok(joined_at) => Response::Me {
                user,
                node: node.id(),
                joined_at: joined_at.unwrap_or_default(),
            },
            Err(error) => internal(error),
        },
        Request::Spaces => spaces(node, &user),
        Request::Threads {
            space,
            limit,
            before,
            since,
            filter,
        } => threads(node, &user, space, limit, before, since, filter),
        Request::Thread { id, from } => thread(node, &user, &id, from),
        Request::Locate { id } => locate(node, &user, &id),
        Request::Members { space } => with_view(node, &user, &space, |view| Response::Members {
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
        } => decisions(node, &user, space, limit, before),
        Request::Unread { mark_read } => unread(node, &user, mark_read),
        Request::MarkRead { ids } => mark_read(node, &user, ids.as_slice()),
        Request::MarkSpaceRead { space } => mark_space_read(node, &user, &space),
        Request::FindPosts { prefix } => find_posts(node, &user, &prefix),
        Request::OwnReactions { target, reaction } => {
            own_reactions(node, &user, &target, &reaction)
        }
        Request::Search {
            query,
            sort,
            limit,
            offset,
        } => super::search::search(node, &user, &query, sort, limit, offset),
        Request::Join { .. } | Request::Watch { .. } | Request::Publish { .. } => {
            Response::error(ApiErrorCode::Malformed, "this request is not served here")
        }
        _ => Response::error(ApiErrorCode::Malformed, "unknown request"),
    }
}

/// The answer to every request but `Join` from a key the node does not serve.
pub(crate) fn not_registered(user: &UserId) -> Response {
    Response::error(
        ApiErrorCode::NotRegistered,
        format!(
            "{user} is not registered with this node: ask its admin for an invite (`parleyd invite`) and run `parley join INVITE`"
        ),
    )
}

async fn join(
    node: &Node,
    user: UserId,
    registered: bool,
    token: parley_protocol::api::InviteToken,
) -> Response {
    if registered {
        return Response::Joined {
            user,
            node: node.id(),
        };
    }
    match node.storage.redeem_invite(&token, &user, clock::now()) {
        Ok(()) => {
            tracing::info!(%user, "user joined with an invite");
            Response::Joined {
                user,
                node: node.id(),
            }
        }
        Err(InviteError::Unknown) => Response::error(
            ApiErrorCode::InviteUnknown,
            "this node knows no such invite: check it was copied whole, or ask for a new one",
        ),
        Err(InviteError::Used) => Response::error(
            ApiErrorCode::InviteUsed,
            "this invite has been used up: ask the node's admin for a new one",
        ),
        Err(InviteError::Expired) => Response::error(
            ApiErrorCode::InviteExpired,
            "this invite has expired: ask the node's admin for a new one",
        ),
        Err(InviteError::Storage(error)) => internal(error),
    }
}

async fn publish(node: &Arc<Node>, user: UserId, envelope: &ByteString) -> Response {
    let post = match Post::decode(&envelope.0, clock::now()) {
        Ok(post) => post,
        Err(error) => {
            return Response::error(
                ApiErrorCode::InvalidPost,
                format!("invalid post ({}): {error}", error.code()),
            );
        }
    };
    if post.author() != user {
        return Response::error(
            ApiErrorCode::Forbidden,
            "a client may only publish posts signed by its own key",
        );
    }
    let space = post.space();
    {
        let mut spaces = node.spaces();
        match post.content() {
            Content::Genesis(genesis) if genesis.home_node != node.id() => {
                return Response::error(
                    ApiErrorCode::Forbidden,
                    format!(
                        "a space created here must name this node ({}) as its home",
                        node.id()
                    ),
                );
            }
            Content::Genesis(_) => {}
            // A space the user may not read is answered as one the node does not hold.
            _ if !spaces.is_member(&space, &user) => return no_such_space(&space),
            _ if !spaces::is_governance(&post)
                && spaces
                    .membership(&space)
                    .is_some_and(|view| !view.replicas().contains(&node.id())) =>
            {
                return Response::error(
                    ApiErrorCode::Forbidden,
                    format!(
                        "this node no longer holds a replica of space {space}: ask one of its moderators to share it with {} again",
                        node.id()
                    ),
                );
            }
            _ => {}
        }
        drop(spaces);
    }
    if let Some(refusal) = ignored(node, &post) {
        return refusal;
    }
    let id = post.id();
    match node.commit.commit(vec![post.clone()]).await {
        Ok(_) => {}
        Err(error @ crate::storage::StorageError::DiskFull { .. }) => {
            return Response::error(ApiErrorCode::DiskFull, error.to_string());
        }
        Err(error) => return internal(error),
    }
    node.stored(space, &[post], None).await;
    Response::Published { id }
}

/// The refusal of a post a user publishes that the views would ignore (as the client
/// refuses it before signing: `view::ignored`), judged from the space as it is now.
fn ignored(node: &Node, post: &Post) -> Option<Response> {
    let view = node.spaces().membership(&post.space())?;
    let target = match post.content() {
        Content::Edit(_) | Content::Retraction(_) | Content::Resolve(_) | Content::Reopen(_) => {
            let id = post.content().target()?;
            match node.storage.get(&id) {
                Ok(Some(target)) => Some(Target {
                    author: target.author(),
                    kind: target.content().tag(),
                }),
                Ok(None) => None,
                Err(error) => return Some(internal(error)),
            }
        }
        _ => None,
    };
    let author = post.author();
    let why = view::ignored(
        &view.standing(&author),
        &author,
        post.content(),
        target.as_ref(),
    )?;
    Some(Response::error(
        ApiErrorCode::Forbidden,
        format!("{why}: the post was not stored"),
    ))
}

fn spaces(node: &Node, user: &UserId) -> Response {
    let mut summaries = Vec::new();
    let ids = match node.storage.spaces() {
        Ok(ids) => ids,
        Err(error) => return internal(error),
    };
    for space in ids {
        // Only spaces the user belongs to are read (a membership check reads no post).
        if !may_read(node, user, &space) {
            continue;
        }
        let Ok(spine) = open_space(node, user, &space) else {
            continue;
        };
        let Some(genesis) = spine.genesis() else {
            continue;
        };
        let (threads, latest) = match (
            node.storage.line_count(&space),
            node.storage.latest_activity(&space),
        ) {
            (Ok(threads), Ok(latest)) => (threads, latest),
            (Err(error), _) | (_, Err(error)) => return internal(error),
        };
        // What the user has not read here, counted up to a bound.
        let mut budget = SPACE_UNREAD_BOUND;
        let mut found = Vec::new();
        let complete = UnreadCount {
            refolding: node.refolding(),
            user,
            space: &space,
            spine: &spine,
            mark: false,
            budget: &mut budget,
            found: &mut found,
            order: 0,
        }
        .run();
        let complete = match complete {
            Ok(complete) => complete,
            Err(error) => return internal(error),
        };
        let unread: usize = found
            .iter()
            .map(|(_, entry)| entry.thread.posts.len() + entry.thread.news.len())
            .sum();
        summaries.push(SpaceSummary {
            space,
            genesis: genesis.clone(),
            members: spine.members().len() as u64,
            threads,
            last_activity: latest.unwrap_or(genesis.created_at),
            unread: u32::try_from(unread).unwrap_or(u32::MAX),
            unread_more: !complete,
        });
    }
    summaries.sort_by(|a, b| {
        a.genesis
            .name
            .cmp(&b.genesis.name)
            .then(a.space.cmp(&b.space))
    });
    Response::Spaces { spaces: summaries }
}

/// A page of the thread list, from the read model.
fn threads(
    node: &Node,
    user: &UserId,
    space: SpaceId,
    limit: u32,
    before: Option<ThreadCursor>,
    since: Option<parley_protocol::Timestamp>,
    filter: ThreadFilter,
) -> Response {
    let spine = match open_space(node, user, &space) {
        Ok(spine) => spine,
        Err(response) => return *response,
    };
    let limits = page_limits(limit);
    let (page, total) = match (
        node.storage.lines(&space, before, since, filter, limits),
        node.storage.line_count(&space),
    ) {
        (Ok(page), Ok(total)) => (page, total),
        (Err(error), _) | (_, Err(error)) => return internal(error),
    };
    let mut threads = page.lines;
    let mut names = BTreeMap::new();
    for line in &mut threads {
        line.author_name = spine.display_name(&line.author).map(str::to_owned);
        for who in std::iter::once(line.author).chain(line.resolution.as_ref().map(|r| r.by)) {
            if let Some(name) = spine.display_name(&who) {
                names.insert(who.to_string(), name.to_owned());
            }
        }
    }
    let roots: Vec<PostId> = threads.iter().map(|line| line.id).collect();
    let unread = match unread_counts(&node.refolding(), user, &space, &spine, &roots) {
        Ok(unread) => unread,
        Err(error) => return internal(error),
    };
    Response::Threads {
        space,
        names,
        threads,
        next: page.next,
        total,
        unread,
    }
}

/// A page of the decision log, from the read model.
fn decisions(
    node: &Node,
    user: &UserId,
    space: SpaceId,
    limit: u32,
    before: Option<DecisionCursor>,
) -> Response {
    if let Err(response) = open_space(node, user, &space) {
        return *response;
    }
    match node
        .storage
        .decision_lines(&space, before, page_limits(limit))
    {
        Ok(page) => Response::Decisions {
            space,
            decisions: page.lines,
            next: page.next,
        },
        Err(error) => internal(error),
    }
}

/// What a page answered to a client holds at most: `limit` lines (at least one, at
/// most [`MAX_PAGE_LINES`]), well inside one message.
fn page_limits(limit: u32) -> PageLimits {
    let lines = limit.clamp(1, MAX_PAGE_LINES) as usize;
    PageLimits {
        lines,
        bytes: PAGE_BYTES,
        scan: lines * SCAN_PER_LINE + SCAN_PER_LINE * 32,
    }
}

/// Keeps the posts of `thread` from place `from` on that fit a page (at least one,
/// then up to [`PAGE_BYTES`] of text); returns the place where the next page starts.
fn page_of_posts(thread: &mut ThreadView, from: u32) -> Option<u32> {
    let from = (from as usize).min(thread.posts.len());
    let mut end = from;
    let mut bytes = 0;
    while let Some(post) = thread.posts.get(end) {
        let size = post_bytes(post);
        if end > from && bytes + size > PAGE_BYTES {
            break;
        }
        bytes += size;
        end += 1;
    }
    let more = end < thread.posts.len();
    thread.posts.truncate(end);
    thread.posts.drain(..from);
    more.then(|| u32::try_from(end).unwrap_or(u32::MAX))
}

/// Roughly how many bytes a shown post takes in an answer: its text and revisions.
fn post_bytes(post: &ThreadPost) -> usize {
    let revisions: usize = post
        .revisions
        .iter()
        .map(|r| r.body.len() + r.title.as_ref().map_or(0, String::len) + 100)
        .sum();
    post.body.len() + post.title.as_ref().map_or(0, String::len) + revisions + 300
}

/// Bytes of titles, decisions and names a page carries at most (a message is 4 MiB).
const PAGE_BYTES: usize = 1024 * 1024;
/// Entries a filtered page looks at per line asked for before answering short.
const SCAN_PER_LINE: usize = 8;

/// The spine view of a space `user` may read now, its marked threads folded first; the
/// answer for an unknown space otherwise.
fn open_space(
    node: &Node,
    user: &UserId,
    space: &SpaceId,
) -> Result<Arc<SpaceView>, Box<Response>> {
    if !may_read(node, user, space) {
        return Err(Box::new(no_such_space(space)));
    }
    let refolding = node.refolding();
    if let Err(error) = refolding.refresh(space, Some(refold::READ_BUDGET)) {
        return Err(Box::new(internal(error)));
    }
    match refolding.spine(space) {
        Ok(Some(spine)) if spine.is_member(user) => Ok(spine),
        Ok(_) => Err(Box::new(no_such_space(space))),
        Err(error) => Err(Box::new(internal(error))),
    }
}

/// The answer about a space the user may not read: the same whether the node holds it
/// or not, so a non-member learns nothing of which spaces exist.
pub(crate) fn no_such_space(space: &SpaceId) -> Response {
    Response::error(
        ApiErrorCode::Unknown,
        format!("this node holds no space {space} that you are a member of"),
    )
}

/// The answer about a post the user may not read: the same whether the node holds it
/// or not.
fn no_such_post(id: &PostId) -> Response {
    Response::error(
        ApiErrorCode::Unknown,
        format!("this node holds no post {id} in a space you are a member of"),
    )
}

/// The answer about a post `user` cannot read: it was retracted, when that is so in a
/// space the user may read (a member sees that the post is gone for good); else the
/// same answer as for a post the node never held.
fn missing_post(node: &Node, user: &UserId, id: &PostId) -> Response {
    match node.storage.retracted_from(id) {
        Ok(Some(space)) if may_read(node, user, &space) => Response::error(
            ApiErrorCode::Unknown,
            format!("{id} was retracted: it is gone for good"),
        ),
        _ => no_such_post(id),
    }
}

/// Whether `user` may read `space` now: a current member. Checked against the
/// membership view alone, before any of the space is read.
fn may_read(node: &Node, user: &UserId, space: &SpaceId) -> bool {
    node.spaces().is_member(space, user)
}

fn with_view(
    node: &Node,
    user: &UserId,
    space: &SpaceId,
    answer: impl FnOnce(&SpaceView) -> Response,
) -> Response {
    match open_space(node, user, space) {
        Ok(spine) => answer(&spine),
        Err(response) => *response,
    }
}

fn thread(node: &Node, user: &UserId, id: &PostId, from: u32) -> Response {
    let (space, root) = match where_is(node, user, id) {
        Ok(Some((space, Some(root), _))) => (space, root),
        Ok(Some(_)) => {
            return Response::error(
                ApiErrorCode::Unknown,
                format!("{id} is not a thread or a reply"),
            );
        }
        Ok(None) => return missing_post(node, user, id),
        Err(error) => return internal(error),
    };
    let spine = match open_space(node, user, &space) {
        Ok(spine) => spine,
        Err(response) => return *response,
    };
    match node.refolding().fold_thread(&space, &spine, &root) {
        Ok(Some(mut thread)) => {
            let next = page_of_posts(&mut thread, from);
            Response::Thread {
                space,
                names: names(&spine),
                thread,
                next,
            }
        }
        Ok(None) => Response::error(
            ApiErrorCode::Unknown,
            format!("thread {root} is not shown (retracted, or its author is not a member)"),
        ),
        Err(error) => internal(error),
    }
}

fn locate(node: &Node, user: &UserId, id: &PostId) -> Response {
    match readable(node, user, id) {
        Ok(Some(post)) => Response::Located {
            space: post.space(),
            thread: thread_of(&post),
            author: post.author(),
            kind: post.content().tag(),
        },
        Ok(None) => missing_post(node, user, id),
        Err(error) => internal(error),
    }
}

/// The post `id` if it is held in full in a space `user` may read now; `None` for a
/// post not held and for one the user may not read alike.
fn readable(
    node: &Node,
    user: &UserId,
    id: &PostId,
) -> Result<Option<Post>, crate::storage::StorageError> {
    Ok(node
        .storage
        .get(id)?
        .filter(|post| may_read(node, user, &post.space())))
}

/// The thread a post belongs to: itself for a thread, its root for a reply.
fn thread_of(post: &Post) -> Option<PostId> {
    match post.content() {
        Content::Thread(_) => Some(post.id()),
        Content::Reply(reply) => Some(reply.root),
        _ => None,
    }
}

type Located = Option<(SpaceId, Option<PostId>, UserId)>;

/// Where the post `id` is, if `user` may read it.
fn where_is(
    node: &Node,
    user: &UserId,
    id: &PostId,
) -> Result<Located, crate::storage::StorageError> {
    Ok(readable(node, user, id)?.map(|post| (post.space(), thread_of(&post), post.author())))
}

fn unread(node: &Node, user: &UserId, mark: bool) -> Response {
    let ids = match node.storage.spaces() {
        Ok(ids) => ids,
        Err(error) => return internal(error),
    };
    let mut found = Vec::new();
    let mut budget = MAX_UNREAD_POSTS;
    let mut more = false;
    for (order, space) in ids.iter().enumerate() {
        if !may_read(node, user, space) {
            continue;
        }
        let Ok(spine) = open_space(node, user, space) else {
            continue;
        };
        let mut count = UnreadCount {
            refolding: node.refolding(),
            user,
            space,
            spine: &spine,
            mark,
            budget: &mut budget,
            found: &mut found,
            order,
        };
        match count.run() {
            Ok(complete) => more |= !complete,
            Err(error) => return internal(error),
        }
    }
    // Spaces in store order, each's threads in thread-list order.
    found.sort_by_key(|(order, _)| *order);
    Response::Unread {
        threads: found.into_iter().map(|(_, thread)| thread).collect(),
        more,
    }
}

fn mark_read(node: &Node, user: &UserId, ids: &[PostId]) -> Response {
    let mut by_space: BTreeMap<SpaceId, Vec<PostId>> = BTreeMap::new();
    // Only posts the user may read are recorded; any other id is refused as unknown.
    for id in ids {
        match where_is(node, user, id) {
            Ok(Some((space, _, _))) => by_space.entry(space).or_default().push(*id),
            Ok(None) => return missing_post(node, user, id),
            Err(error) => return internal(error),
        }
    }
    for (space, ids) in by_space {
        if let Err(error) = node.storage.mark_read(user, &space, &ids) {
            return internal(error);
        }
    }
    Response::Done
}

/// Marks every post of `space` the node holds now read by `user`, a member.
fn mark_space_read(node: &Node, user: &UserId, space: &SpaceId) -> Response {
    if let Err(response) = open_space(node, user, space) {
        return *response;
    }
    match node.storage.mark_space_read(user, space) {
        Ok(()) => Response::Done,
        Err(error) => internal(error),
    }
}

/// The posts `user` may read whose ids start with `prefix`: only spaces the user is a
/// member of count, so the answer says nothing of any other.
fn find_posts(node: &Node, user: &UserId, prefix: &str) -> Response {
    let prefix = match IdPrefix::parse(PostId::PREFIX, prefix) {
        Ok(prefix) => prefix,
        Err(error) => return Response::error(ApiErrorCode::Malformed, error.to_string()),
    };
    let candidates = match node.storage.posts_starting(&prefix) {
        Ok(candidates) => candidates,
        Err(error) => return internal(error),
    };
    if candidates.cut_short {
        return Response::error(
            ApiErrorCode::Malformed,
            format!("{prefix} is too short to look for: give more of the id"),
        );
    }
    let mut ids: Vec<PostId> = candidates
        .posts
        .into_iter()
        .filter(|(_, space)| may_read(node, user, space))
        .map(|(id, _)| id)
        .collect();
    let more = ids.len() > MAX_FOUND;
    ids.truncate(MAX_FOUND);
    Response::Found { ids, more }
}

/// `user`'s own reactions with text `reaction` to `target`, a post they may read.
fn own_reactions(node: &Node, user: &UserId, target: &PostId, reaction: &str) -> Response {
    let space = match where_is(node, user, target) {
        Ok(Some((space, _, _))) => space,
        Ok(None) => return missing_post(node, user, target),
        Err(error) => return internal(error),
    };
    let filed = match node.storage.reactions_to(&space, target) {
        Ok(filed) => filed,
        Err(error) => return internal(error),
    };
    let mut ids: Vec<PostId> = filed
        .iter()
        .filter(|post| post.author() == *user)
        .filter(|post| {
            matches!(post.content(), Content::Reaction(r) if r.target == *target && r.reaction == reaction)
        })
        .map(Post::id)
        .collect();
    let more = ids.len() > MAX_FOUND;
    ids.truncate(MAX_FOUND);
    Response::Found { ids, more }
}

/// Display names of a space's users, keyed by user id text.
fn names(view: &SpaceView) -> BTreeMap<String, String> {
    view.display_names()
        .iter()
        .map(|(user, name)| (user.to_string(), name.clone()))
        .collect()
}

pub(super) fn internal(error: impl std::fmt::Display) -> Response {
    tracing::error!(%error, "request failed");
    Response::error(ApiErrorCode::Internal, format!("the node failed: {error}"))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use parley_protocol::view::{Revision, ThreadPost, ThreadView};
    use parley_protocol::{PostId, Timestamp, UserId};

    use super::{PAGE_BYTES, page_of_posts};

    fn thread(sizes: &[usize]) -> ThreadView {
        let posts: Vec<ThreadPost> = sizes
            .iter()
            .enumerate()
            .map(|(i, size)| ThreadPost {
                id: PostId([i as u8; 32]),
                author: UserId([1; 32]),
                created_at: Timestamp::from_millis(i as u64),
                parent: None,
                depth: 0,
                parent_missing: false,
                title: None,
                body: "x".repeat(*size),
                edited: false,
                revisions: vec![Revision {
                    id: PostId([i as u8; 32]),
                    created_at: Timestamp::from_millis(i as u64),
                    title: None,
                    body: "x".repeat(*size),
                }],
                reactions: BTreeMap::new(),
                mentions: Vec::new(),
            })
            .collect();
        ThreadView {
            id: PostId([0; 32]),
            title: "t".into(),
            author: UserId([1; 32]),
            created_at: Timestamp::from_millis(0),
            last_activity: Timestamp::from_millis(0),
            reply_count: posts.len() - 1,
            resolution: None,
            reopened: None,
            posts,
        }
    }

    /// Pages of a long thread stay under the page size and cover every post once.
    #[test]
    fn long_threads_come_in_pages_that_cover_every_post_once() {
        let sizes = [200_000; 12];
        let whole = thread(&sizes);
        let mut seen = Vec::new();
        let mut from = 0;
        for _ in 0..20 {
            let mut page = whole.clone();
            let next = page_of_posts(&mut page, from);
            let bytes: usize = page.posts.iter().map(|p| p.body.len() * 2).sum();
            assert!(bytes <= PAGE_BYTES, "a page of {bytes} bytes");
            assert!(!page.posts.is_empty());
            seen.extend(page.posts.iter().map(|p| p.id));
            match next {
                Some(next) => from = next,
                None => break,
            }
        }
        let all: Vec<PostId> = whole.posts.iter().map(|p| p.id).collect();
        assert_eq!(seen, all);
        // One post larger than a page still comes, alone.
        let mut huge = thread(&[PAGE_BYTES, 10]);
        assert_eq!(page_of_posts(&mut huge, 0), Some(1));
        assert_eq!(huge.posts.len(), 1);
        // Past the end: no posts, no next page.
        let mut past = thread(&[10, 10]);
        assert_eq!(page_of_posts(&mut past, 7), None);
        assert!(past.posts.is_empty());
    }
}
