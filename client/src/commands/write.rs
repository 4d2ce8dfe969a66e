//! Commands that write: `post`, `reply`, `edit`, `retract`, `react`, `resolve` and
//! `reopen`. The client signs every post with the user's key (which never leaves it),
//! dated by the system clock, and validates it as a receiver would before sending, so
//! a title, body or decision over its limit fails here with the limit in the message.

use parley_protocol::api::{Request, Response};
use parley_protocol::content::{
    Content, Edit, KIND_NAMES, Reaction, Reopen, Reply, Resolve, Retraction, Thread,
};
use parley_protocol::encoding::ByteString;
use parley_protocol::limits::MAX_BODY_BYTES;
use parley_protocol::view::{self, Standing, Target};
use parley_protocol::{Post, PostId, SpaceId, UserId};
use serde_json::json;

use super::body::{self, Body, BodyArgs};
use super::mentions;
use super::space::resolve;
use super::{Context, Outcome};
use crate::error::ClientError;
use crate::node_client::{Api, unexpected};
use crate::render::text::{clean_line, short_id, short_post};

/// Signs `content` for `space` with the user's key, now, and publishes it.
pub(crate) async fn publish(
    ctx: &Context,
    node: &mut impl Api,
    space: SpaceId,
    content: Content,
) -> Result<PostId, ClientError> {
    let post = sign(ctx, space, content)?;
    send(node, &post).await
}

/// Publishes a signed post and checks the node acknowledged that very post.
pub(crate) async fn send(node: &mut impl Api, post: &Post) -> Result<PostId, ClientError> {
    let response = node
        .ask(Request::Publish {
            envelope: ByteString(post.bytes().to_vec()),
        })
        .await?;
    match response {
        Response::Published { id } if id == post.id() => Ok(id),
        Response::Published { id } => Err(ClientError::Protocol(format!(
            "the node acknowledged {id}, not the post sent ({})",
            post.id()
        ))),
        other => Err(unexpected(&other)),
    }
}

/// `parley post SPACE --title T` with a body from the options or the editor.
pub(crate) async fn post(
    ctx: &Context,
    node: &mut impl Api,
    space: &str,
    title: &str,
    body_args: &BodyArgs,
) -> Result<Outcome, ClientError> {
    let given = body::given(body_args)?;
    let space = resolve(node, space).await?;
    let thread = |body: String, mentions: Vec<UserId>| {
        Content::Thread(Thread {
            title: title.to_owned(),
            body,
            mentions: mentions::bounded(mentions),
        })
    };
    // The title is checked before anyone spends time in the editor.
    sign(ctx, space.id, thread(String::new(), Vec::new()))?;
    let about = short_id(&space.id.to_string());
    let body = or_editor(ctx, node, given, "post", &about, "")?;
    let (mentioned, who) = mentioned_in(node, space.id, &body.text).await?;
    let content = thread(body.text.clone(), mentioned.clone());
    let id = publish_body(ctx, node, space.id, content, &body).await?;
    Ok(Outcome::ok(
        format!("Posted {} in {}{who}.\n", short_post(&id), space.label),
        json!({ "id": id.to_string(), "space": space.id.to_string(), "kind": "thread", "thread": id.to_string(), "parent": null, "mentions": mentioned.iter().map(ToString::to_string).collect::<Vec<_>>() }),
    ))
}

/// `parley reply POST_ID`: a reply under a thread or another reply.
pub(crate) async fn reply(
    ctx: &Context,
    node: &mut impl Api,
    parent: PostId,
    body_args: &BodyArgs,
) -> Result<Outcome, ClientError> {
    let given = body::given(body_args)?;
    let located = locate(node, parent).await?;
    let root = located.thread_or_refuse(parent, "reply to")?;
    let body = or_editor(ctx, node, given, "reply", &short_post(&parent), "")?;
    let (mentioned, who) = mentioned_in(node, located.space, &body.text).await?;
    let content = Content::Reply(Reply {
        root,
        parent,
        body: body.text.clone(),
        mentions: mentions::bounded(mentioned.clone()),
    });
    let id = publish_body(ctx, node, located.space, content, &body).await?;
    Ok(Outcome::ok(
        format!(
            "Replied {} to {}{who}.\n",
            short_post(&id),
            short_post(&parent)
        ),
        json!({
            "id": id.to_string(),
            "space": located.space.to_string(),
            "kind": "reply",
            "thread": root.to_string(),
            "parent": parent.to_string(),
            "mentions": mentioned.iter().map(ToString::to_string).collect::<Vec<_>>(),
        }),
    ))
}

/// The members `body` mentions (`@name`), and `, mentioning Ann and Bob` to say so.
async fn mentioned_in(
    node: &mut impl Api,
    space: SpaceId,
    body: &str,
) -> Result<(Vec<UserId>, String), ClientError> {
    if !body.contains('@') {
        return Ok((Vec::new(), String::new()));
    }
    let (names, members) = match node.ask(Request::Members { space }).await? {
        Response::Members { names, members, .. } => (names, members),
        other => return Err(unexpected(&other)),
    };
    let found = mentions::mentions(body, &names, &members);
    let shown: Vec<String> = found
        .iter()
        .map(|user| {
            names
                .get(&user.to_string())
                .map_or_else(|| short_id(&user.to_string()), |name| clean_line(name))
        })
        .collect();
    let who = match shown.as_slice() {
        [] => String::new(),
        [one] => format!(", mentioning {one}"),
        [first @ .., last] => format!(", mentioning {} and {last}", first.join(", ")),
    };
    Ok((found, who))
}

/// `parley edit POST_ID [--title T]` with a new body from the options, the editor (on
/// the current text), or, with only `--title`, the current body kept.
pub(crate) async fn edit(
    ctx: &Context,
    node: &mut impl Api,
    target: PostId,
    title: Option<&str>,
    body_args: &BodyArgs,
) -> Result<Outcome, ClientError> {
    let given = body::given(body_args)?;
    let located = locate(node, target).await?;
    let root = located.thread_or_refuse(target, "edit")?;
    let me = ctx.home.key()?.user_id();
    if located.author != me {
        return Err(ClientError::Usage(format!(
            "{target} is by {}; only its author can edit it",
            located.author
        )));
    }
    if title.is_some() && root != target {
        return Err(ClientError::Usage(format!(
            "{target} is a reply; only a thread's first post has a title"
        )));
    }
    let current = match super::read::whole_thread(node, root).await {
        Ok((_, _, thread)) => thread
            .posts
            .into_iter()
            .find(|post| post.id == target)
            .map(|post| post.body)
            .ok_or_else(|| {
                ClientError::Usage(format!(
                    "{target} is not shown (retracted?); it cannot be edited"
                ))
            })?,
        Err(error) => return Err(error),
    };
    let edit = |body: String| {
        Content::Edit(Edit {
            target,
            title: title.map(str::to_owned),
            body,
        })
    };
    sign(ctx, located.space, edit(String::new()))?;
    let body = match given {
        Some(body) => body,
        None if title.is_some() => Body {
            text: current,
            draft: None,
        },
        None => or_editor(ctx, node, None, "edit", &short_post(&target), &current)?,
    };
    let id = publish_body(ctx, node, located.space, edit(body.text.clone()), &body).await?;
    Ok(Outcome::ok(
        format!("Edited {} ({}).\n", short_post(&target), short_post(&id)),
        json!({ "id": id.to_string(), "space": located.space.to_string(), "kind": "edit", "target": target.to_string() }),
    ))
}

/// `parley retract POST_ID`.
pub(crate) async fn retract(
    ctx: &Context,
    node: &mut impl Api,
    target: PostId,
) -> Result<Outcome, ClientError> {
    let located = locate(node, target).await?;
    let content = Content::Retraction(Retraction { target });
    refuse_ignored(ctx, node, located.space, &content, Some(located.target())).await?;
    let id = publish(ctx, node, located.space, content).await?;
    Ok(Outcome::ok(
        format!("Retracted {} ({}).\n", short_post(&target), short_post(&id)),
        json!({ "id": id.to_string(), "space": located.space.to_string(), "kind": "retraction", "target": target.to_string() }),
    ))
}

/// Rounds of `parley react --undo` (each takes back up to the node's bound of
/// reactions): more than anyone reacts the same way to one post.
const UNDO_ROUNDS: usize = 8;

/// `parley react POST_ID EMOJI [--undo]`. One person's reaction counts once, so reacting
/// the same way again sends nothing; `--undo` retracts every such reaction of theirs.
pub(crate) async fn react(
    ctx: &Context,
    node: &mut impl Api,
    target: PostId,
    reaction: &str,
    undo: bool,
) -> Result<Outcome, ClientError> {
    let located = locate(node, target).await?;
    located.thread_or_refuse(target, "react to")?;
    let shown = clean_line(reaction);
    let short = short_post(&target);
    let space = located.space.to_string();
    let mine = own_reactions(node, target, reaction).await?;
    if undo {
        if mine.is_empty() {
            return Ok(Outcome::ok(
                format!("You have not reacted {shown} to {short}; nothing was sent.\n"),
                json!({ "ids": [], "space": space, "kind": "retraction", "target": target.to_string(), "reaction": reaction, "unchanged": true }),
            ));
        }
        let mut retractions = Vec::new();
        let mut batch = mine;
        for _ in 0..UNDO_ROUNDS {
            for reaction_id in &batch {
                let content = Content::Retraction(Retraction {
                    target: *reaction_id,
                });
                retractions.push(publish(ctx, node, located.space, content).await?);
            }
            batch = own_reactions(node, target, reaction).await?;
            if batch.is_empty() {
                break;
            }
        }
        let ids: Vec<String> = retractions.iter().map(ToString::to_string).collect();
        return Ok(Outcome::ok(
            format!("Took back {shown} from {short}.\n"),
            json!({ "ids": ids, "space": space, "kind": "retraction", "target": target.to_string(), "reaction": reaction }),
        ));
    }
    if !mine.is_empty() {
        return Ok(Outcome::ok(
            format!(
                "You reacted {shown} to {short} already; nothing was sent (take it back with --undo).\n"
            ),
            json!({ "id": null, "space": space, "kind": "reaction", "target": target.to_string(), "reaction": reaction, "unchanged": true }),
        ));
    }
    let content = Content::Reaction(Reaction {
        target,
        reaction: reaction.to_owned(),
    });
    let id = publish(ctx, node, located.space, content).await?;
    Ok(Outcome::ok(
        format!("Reacted {shown} to {short}.\n"),
        json!({ "id": id.to_string(), "space": space, "kind": "reaction", "target": target.to_string(), "reaction": reaction }),
    ))
}

/// The user's reactions with text `reaction` to `target` that still count.
async fn own_reactions(
    node: &mut impl Api,
    target: PostId,
    reaction: &str,
) -> Result<Vec<PostId>, ClientError> {
    match node
        .ask(Request::OwnReactions {
            target,
            reaction: reaction.to_owned(),
        })
        .await?
    {
        Response::Found { ids, .. } => Ok(ids),
        other => Err(unexpected(&other)),
    }
}

/// `parley resolve THREAD_ID --decision TEXT`. A reply's id resolves its thread.
pub(crate) async fn resolve_thread(
    ctx: &Context,
    node: &mut impl Api,
    thread: PostId,
    decision: &str,
) -> Result<Outcome, ClientError> {
    body::check_size("decision", decision.len(), MAX_BODY_BYTES)?;
    let located = locate(node, thread).await?;
    let root = located.thread_or_refuse(thread, "resolve")?;
    let content = Content::Resolve(Resolve {
        thread: root,
        decision: decision.to_owned(),
    });
    let (root_post, earlier) = thread_state(node, root).await?;
    refuse_ignored(ctx, node, located.space, &content, Some(root_post)).await?;
    let id = publish(ctx, node, located.space, content).await?;
    let replaces = earlier.map_or_else(String::new, |earlier| {
        format!(
            " It replaces the decision of {}: \"{}\"",
            crate::render::text::date(earlier.at),
            clean_line(&earlier.decision)
        )
    });
    Ok(Outcome::ok(
        format!(
            "Resolved {} ({}).{replaces}\n",
            short_post(&root),
            short_post(&id)
        ),
        json!({ "id": id.to_string(), "space": located.space.to_string(), "kind": "resolve", "thread": root.to_string(), "decision": decision }),
    ))
}

/// `parley reopen THREAD_ID`.
pub(crate) async fn reopen(
    ctx: &Context,
    node: &mut impl Api,
    thread: PostId,
) -> Result<Outcome, ClientError> {
    let located = locate(node, thread).await?;
    let root = located.thread_or_refuse(thread, "reopen")?;
    let content = Content::Reopen(Reopen { thread: root });
    let (root_post, resolution) = thread_state(node, root).await?;
    if resolution.is_none() {
        return Ok(Outcome::ok(
            format!("{} is open already; nothing was sent.\n", short_post(&root)),
            json!({ "id": null, "space": located.space.to_string(), "kind": "reopen", "thread": root.to_string(), "unchanged": true }),
        ));
    }
    refuse_ignored(ctx, node, located.space, &content, Some(root_post)).await?;
    let id = publish(ctx, node, located.space, content).await?;
    Ok(Outcome::ok(
        format!("Reopened {} ({}).\n", short_post(&root), short_post(&id)),
        json!({ "id": id.to_string(), "space": located.space.to_string(), "kind": "reopen", "thread": root.to_string() }),
    ))
}

/// Where a post is, as the node says.
#[derive(Debug)]
struct Located {
    space: SpaceId,
    thread: Option<PostId>,
    author: UserId,
    kind: u32,
}

impl Located {
    /// The post located, as a target of another post.
    fn target(&self) -> Target {
        Target {
            author: self.author,
            kind: self.kind,
        }
    }

    /// The thread of a thread or reply; anything else cannot be `verb`-ed.
    fn thread_or_refuse(&self, id: PostId, verb: &str) -> Result<PostId, ClientError> {
        self.thread.ok_or_else(|| {
            let kind = usize::try_from(self.kind)
                .ok()
                .and_then(|k| KIND_NAMES.get(k))
                .copied()
                .unwrap_or("unknown");
            ClientError::Usage(format!(
                "{id} is a {kind} post, not a thread or a reply; you can only {verb} those"
            ))
        })
    }
}

async fn locate(node: &mut impl Api, id: PostId) -> Result<Located, ClientError> {
    match node.ask(Request::Locate { id }).await? {
        Response::Located {
            space,
            thread,
            author,
            kind,
        } => Ok(Located {
            space,
            thread,
            author,
            kind,
        }),
        other => Err(unexpected(&other)),
    }
}

/// The thread `root` as a target (its root's author), and how it is resolved now.
async fn thread_state(
    node: &mut impl Api,
    root: PostId,
) -> Result<(Target, Option<view::Resolution>), ClientError> {
    match node.ask(Request::Thread { id: root, from: 0 }).await? {
        Response::Thread { thread, .. } => Ok((
            Target {
                author: thread.author,
                kind: 1,
            },
            thread.resolution,
        )),
        other => Err(unexpected(&other)),
    }
}

/// Who is what in a space, as the node's member list says.
#[derive(Debug)]
pub(crate) struct Roster {
    pub(crate) members: Vec<UserId>,
    pub(crate) moderators: Vec<UserId>,
    pub(crate) former_moderators: Vec<UserId>,
    pub(crate) replicas: Vec<parley_protocol::NodeId>,
}

impl Roster {
    /// Where `me` stands in the space now.
    pub(crate) fn standing(&self, me: &UserId, founder: Option<UserId>) -> Standing {
        let moderator = self.moderators.contains(me);
        Standing {
            member: self.members.contains(me),
            moderator,
            ever_moderator: Some(moderator || self.former_moderators.contains(me)),
            founder,
        }
    }
}

/// The member list of `space`.
pub(crate) async fn roster(node: &mut impl Api, space: SpaceId) -> Result<Roster, ClientError> {
    match node.ask(Request::Members { space }).await? {
        Response::Members {
            members,
            moderators,
            former_moderators,
            replicas,
            ..
        } => Ok(Roster {
            members,
            moderators,
            former_moderators,
            replicas,
        }),
        other => Err(unexpected(&other)),
    }
}

/// Refuses, before anything is signed, a post the space's rules would ignore.
pub(crate) async fn refuse_ignored(
    ctx: &Context,
    node: &mut impl Api,
    space: SpaceId,
    content: &Content,
    target: Option<Target>,
) -> Result<(), ClientError> {
    let me = ctx.home.key()?.user_id();
    let standing = roster(node, space).await?.standing(&me, None);
    match view::ignored(&standing, &me, content, target.as_ref()) {
        Some(why) => Err(why.into()),
        None => Ok(()),
    }
}

/// Signs `content` now, validating it; nothing is sent.
fn sign(ctx: &Context, space: SpaceId, content: Content) -> Result<Post, ClientError> {
    let key = ctx.home.key()?;
    let now = ctx.now();
    Ok(Post::sign(&key, space, now, content, now)?)
}

/// The body given on the command line, else one written in the editor (the connection
/// is let go meanwhile).
fn or_editor(
    ctx: &Context,
    node: &mut impl Api,
    given: Option<Body>,
    kind: &str,
    about: &str,
    initial: &str,
) -> Result<Body, ClientError> {
    if let Some(body) = given {
        return Ok(body);
    }
    node.pause();
    // Like git, wait for the editor through Ctrl-C: the terminal interrupts both, and
    // an editor that does not catch it exits, with its draft kept for the next time.
    #[cfg(unix)]
    let _interrupts =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
    Ok(body::edit(&ctx.editor_setup(), kind, about, initial)?)
}

/// Publishes a post whose body came from `body`; its draft goes once acknowledged, and
/// stays (and is named in the error) if not.
async fn publish_body(
    ctx: &Context,
    node: &mut impl Api,
    space: SpaceId,
    content: Content,
    body: &Body,
) -> Result<PostId, ClientError> {
    match publish(ctx, node, space, content).await {
        Ok(id) => {
            body.acknowledged();
            Ok(id)
        }
        Err(error) => match &body.draft {
            Some(draft) => Err(ClientError::DraftKept {
                error: Box::new(error),
                draft: draft.clone(),
            }),
            None => Err(error),
        },
    }
}

#[cfg(test)]
mod tests {
    use parley_protocol::SecretKey;
    use parley_protocol::content::Member;

    use super::*;
    use crate::commands::fake::{FakeNode, joined};
    use crate::commands::space;
    use crate::render::fixtures::NOW;

    fn body(text: &str) -> BodyArgs {
        BodyArgs {
            body: Some(text.to_owned()),
            body_file: None,
        }
    }

    async fn team(ctx: &Context, node: &mut FakeNode) -> SpaceId {
        let created = space::create(ctx, node, "team", "").await.unwrap();
        created.json["id"].as_str().unwrap().parse().unwrap()
    }

    fn id(outcome: &Outcome) -> PostId {
        outcome.json["id"].as_str().unwrap().parse().unwrap()
    }

    #[tokio::test]
    async fn a_thread_is_posted_replied_to_edited_reacted_to_and_resolved() {
        let (_dir, ctx, mut node) = joined();
        let space = team(&ctx, &mut node).await;
        let root = id(
            &post(&ctx, &mut node, "team", "Release plan", &body("Friday?"))
                .await
                .unwrap(),
        );
        let first = id(&reply(&ctx, &mut node, root, &body("Yes")).await.unwrap());
        let nested = reply(&ctx, &mut node, first, &body("Agreed"))
            .await
            .unwrap();
        assert_eq!(nested.json["thread"], root.to_string());
        assert_eq!(nested.json["parent"], first.to_string());
        edit(&ctx, &mut node, first, None, &body("Yes, after QA"))
            .await
            .unwrap();
        edit(
            &ctx,
            &mut node,
            root,
            Some("Release plan v2"),
            &BodyArgs::default(),
        )
        .await
        .unwrap();
        react(&ctx, &mut node, root, "👍", false).await.unwrap();
        let again = react(&ctx, &mut node, root, "👍", false).await.unwrap();
        assert!(
            again.text.contains("already; nothing was sent"),
            "{}",
            again.text
        );
        let resolved = resolve_thread(&ctx, &mut node, first, "Ship Friday")
            .await
            .unwrap();
        assert_eq!(
            resolved.json["thread"],
            root.to_string(),
            "a reply's id resolves its thread"
        );
        let view = node.view(&space);
        let thread = view.thread(&root).unwrap();
        assert_eq!(thread.title, "Release plan v2");
        assert_eq!(
            thread.posts[0].body, "Friday?",
            "a title-only edit keeps the body"
        );
        assert_eq!(thread.posts[1].body, "Yes, after QA");
        assert!(thread.posts[1].edited);
        assert_eq!(thread.posts[2].depth, 2);
        assert_eq!(thread.resolution.as_ref().unwrap().decision, "Ship Friday");
        assert_eq!(thread.posts[0].reactions["👍"].len(), 1);
        let undone = react(&ctx, &mut node, root, "👍", true).await.unwrap();
        assert!(undone.text.starts_with("Took back 👍"), "{}", undone.text);
        assert!(
            !node.view(&space).thread(&root).unwrap().posts[0]
                .reactions
                .contains_key("👍")
        );
        let nothing = react(&ctx, &mut node, root, "👍", true).await.unwrap();
        assert!(
            nothing.text.contains("have not reacted"),
            "{}",
            nothing.text
        );
        reopen(&ctx, &mut node, root).await.unwrap();
        assert!(
            node.view(&space)
                .thread(&root)
                .unwrap()
                .resolution
                .is_none()
        );
        retract(&ctx, &mut node, first).await.unwrap();
        let after = node.view(&space).thread(&root).cloned().unwrap();
        assert_eq!(
            after.posts.len(),
            2,
            "the nested reply stays, under the root"
        );
        assert!(after.posts[1].parent_missing);
        // Every post was signed by the user's key, dated by the context's clock, each
        // after the one before.
        let me = ctx.home.key().unwrap().user_id();
        assert!(
            node.posts
                .iter()
                .all(|p| p.author() == me && p.created_at() >= NOW)
        );
        assert!(
            node.posts
                .windows(2)
                .all(|w| w[0].created_at() < w[1].created_at())
        );
    }

    #[tokio::test]
    async fn a_body_over_the_limit_fails_locally_with_the_limit() {
        let (_dir, ctx, mut node) = joined();
        team(&ctx, &mut node).await;
        let sent = node.requests.len();
        let big = "x".repeat(300 * 1024);
        let error = post(&ctx, &mut node, "team", "Big", &body(&big))
            .await
            .unwrap_err();
        assert_eq!(error.code(), "too_large");
        assert!(error.to_string().contains("262144"), "{error}");
        assert_eq!(node.requests.len(), sent, "the node was not even asked");
        let error = resolve_thread(&ctx, &mut node, PostId([1; 32]), &big)
            .await
            .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("the decision is 307200 bytes; the limit is 262144"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_bad_title_fails_before_the_editor_opens() {
        let (_dir, mut ctx, mut node) = joined();
        team(&ctx, &mut node).await;
        ctx.editor = Some("false".to_owned());
        let error = post(&ctx, &mut node, "team", "two\nlines", &BodyArgs::default())
            .await
            .unwrap_err();
        assert_eq!(error.code(), "invalid_post");
        assert!(
            error.to_string().contains("title must be a single line"),
            "{error}"
        );
        assert!(error.to_string().ends_with("nothing was sent"), "{error}");
    }

    #[tokio::test]
    async fn the_editor_body_is_posted_and_its_draft_removed() {
        let (_dir, mut ctx, mut node) = joined();
        let space = team(&ctx, &mut node).await;
        ctx.editor = Some("printf 'from the editor\\n' >>".to_owned());
        let posted = post(&ctx, &mut node, "team", "Edited", &BodyArgs::default())
            .await
            .unwrap();
        let root = id(&posted);
        assert_eq!(
            node.view(&space).thread(&root).unwrap().posts[0].body,
            "from the editor"
        );
        assert_eq!(
            node.pauses, 1,
            "the connection is let go while the editor is open"
        );
        let drafts = ctx.home.drafts().unwrap();
        assert_eq!(std::fs::read_dir(drafts).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn a_refused_post_keeps_its_draft_and_says_where() {
        let (_dir, mut ctx, mut node) = joined();
        let other = SecretKey::from_seed(&[3; 32]);
        let genesis = parley_protocol::content::Genesis {
            name: "theirs".to_owned(),
            description: String::new(),
            home_node: node.id,
            nonce: [0; 16],
        };
        let genesis = Post::sign_genesis(&other, NOW, genesis, NOW).unwrap();
        let space = genesis.space();
        node.insert(genesis);
        ctx.editor = Some("printf 'precious words' >>".to_owned());
        let error = post(
            &ctx,
            &mut node,
            &space.to_string(),
            "T",
            &BodyArgs::default(),
        )
        .await
        .unwrap_err();
        assert_eq!(error.code(), "unknown");
        let message = error.to_string();
        assert!(message.contains("that you are a member of"), "{message}");
        assert!(message.contains("your text is kept in"), "{message}");
        let ClientError::DraftKept { draft, .. } = &error else {
            panic!("{error}")
        };
        assert_eq!(std::fs::read_to_string(draft).unwrap(), "precious words");
    }

    #[tokio::test]
    async fn only_threads_and_replies_take_replies_and_only_authors_edit() {
        let (_dir, ctx, mut node) = joined();
        let space = team(&ctx, &mut node).await;
        let genesis = node.posts[0].id();
        let error = reply(&ctx, &mut node, genesis, &body("hi"))
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "{genesis} is a genesis post, not a thread or a reply; you can only reply to those"
            )
        );
        let other = SecretKey::from_seed(&[5; 32]);
        publish(
            &ctx,
            &mut node,
            space,
            Content::AddMember(Member {
                user: other.user_id(),
            }),
        )
        .await
        .unwrap();
        let theirs = Post::sign(
            &other,
            space,
            NOW,
            Content::Thread(Thread {
                title: "theirs".to_owned(),
                body: String::new(),
                mentions: Default::default(),
            }),
            NOW,
        )
        .unwrap();
        let theirs_id = theirs.id();
        node.insert(theirs);
        let error = edit(&ctx, &mut node, theirs_id, None, &body("mine now"))
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("only its author can edit it"),
            "{error}"
        );
        let mine = id(&reply(&ctx, &mut node, theirs_id, &body("a reply"))
            .await
            .unwrap());
        let error = edit(&ctx, &mut node, mine, Some("title"), &BodyArgs::default())
            .await
            .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("only a thread's first post has a title"),
            "{error}"
        );
        let error = reply(&ctx, &mut node, PostId([9; 32]), &body("x"))
            .await
            .unwrap_err();
        assert_eq!(error.code(), "unknown");
    }

    /// A space founded by another user (key 3), with the user as a plain member and a
    /// thread of the founder's.
    fn theirs_with_me_in_it(node: &mut FakeNode, me: UserId) -> (SpaceId, PostId) {
        let founder = SecretKey::from_seed(&[3; 32]);
        let genesis = parley_protocol::content::Genesis {
            name: "theirs".to_owned(),
            description: String::new(),
            home_node: node.id,
            nonce: [0; 16],
        };
        let genesis = Post::sign_genesis(&founder, NOW, genesis, NOW).unwrap();
        let space = genesis.space();
        let at = |ms| parley_protocol::Timestamp::from_millis(NOW.as_millis() + ms);
        let add = Content::AddMember(Member { user: me });
        let added = Post::sign(&founder, space, at(1), add, NOW).unwrap();
        let thread = Content::Thread(Thread {
            title: "Theirs".to_owned(),
            body: "a question".to_owned(),
            mentions: Default::default(),
        });
        let thread = Post::sign(&founder, space, at(2), thread, NOW).unwrap();
        let root = thread.id();
        for post in [genesis, added, thread] {
            node.insert(post);
        }
        (space, root)
    }

    fn published(node: &FakeNode) -> usize {
        node.requests
            .iter()
            .filter(|r| matches!(r, Request::Publish { .. }))
            .count()
    }

    #[tokio::test]
    async fn what_the_space_would_ignore_is_refused_before_signing() {
        let (_dir, ctx, mut node) = joined();
        let me = ctx.home.key().unwrap().user_id();
        let (space, root) = theirs_with_me_in_it(&mut node, me);
        let error = resolve_thread(&ctx, &mut node, root, "mine")
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "only the thread's author or a moderator can resolve it; nothing was sent"
        );
        assert_eq!(error.code(), "forbidden");
        let error = retract(&ctx, &mut node, root).await.unwrap_err();
        assert_eq!(
            error.to_string(),
            "only its author or a moderator can retract a post; nothing was sent"
        );
        let someone = SecretKey::from_seed(&[9; 32]).user_id();
        let error = space::change(
            &ctx,
            &mut node,
            &space.to_string(),
            space::Change::AddMember(crate::commands::lookup::IdRef::Id(someone)),
        )
        .await
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "only a moderator of the space can add members; nothing was sent"
        );
        assert_eq!(published(&node), 0, "nothing was published");
        // What counts goes through.
        reply(&ctx, &mut node, root, &body("an answer"))
            .await
            .unwrap();
        assert_eq!(published(&node), 1);
    }

    #[tokio::test]
    async fn changes_that_change_nothing_say_so_and_send_nothing() {
        let (_dir, ctx, mut node) = joined();
        let space = team(&ctx, &mut node).await;
        let me = ctx.home.key().unwrap().user_id();
        let root = id(&post(&ctx, &mut node, "team", "Open", &body("b"))
            .await
            .unwrap());
        let before = published(&node);
        let open = reopen(&ctx, &mut node, root).await.unwrap();
        assert_eq!(
            open.text,
            format!("{} is open already; nothing was sent.\n", short_post(&root))
        );
        assert_eq!(open.json["unchanged"], true);
        let added = space::change(
            &ctx,
            &mut node,
            "team",
            space::Change::AddMember(crate::commands::lookup::IdRef::Id(me)),
        )
        .await
        .unwrap();
        assert_eq!(
            added.text,
            format!("{me} is a member of team already; nothing was sent.\n")
        );
        assert_eq!(published(&node), before);
        // A second decision says which one it replaces.
        resolve_thread(&ctx, &mut node, root, "first")
            .await
            .unwrap();
        let second = resolve_thread(&ctx, &mut node, root, "second")
            .await
            .unwrap();
        assert!(
            second.text.contains("It replaces the decision of"),
            "{}",
            second.text
        );
        assert!(second.text.contains("\"first\""), "{}", second.text);
        let _ = space;
    }
}
