//! Commands that read: `threads SPACE`, `show THREAD_ID` and `unread`. Reading marks
//! read: `show` marks the thread's posts, `unread` the posts it showed.

use std::collections::BTreeMap;

use parley_protocol::PostId;
use std::fmt::Write as _;

use parley_protocol::SpaceId;
use parley_protocol::api::{
    CursorParseError, MAX_PAGE_LINES, Request, Response, ThreadCursor, ThreadFilter, UnreadInSpace,
};
use parley_protocol::encoding::BoundedVec;
use parley_protocol::limits::MAX_IDS_PER_MESSAGE;
use parley_protocol::view::{News, ThreadPost, ThreadView};
use serde_json::json;

use super::lookup::{PostRef, resolve_post};
use super::space::resolve;
use super::{Context, Outcome};
use crate::cli::PageArgs;
use crate::error::ClientError;
use crate::node_client::{Api, unexpected};
use crate::render::text::{clean_line, short_id, short_post};
use crate::render::{Names, json as render_json, lists, thread as render_thread};

/// `parley threads SPACE`: the thread list, latest activity first, a page at a time.
pub(crate) async fn threads(
    ctx: &Context,
    node: &mut impl Api,
    space_arg: &str,
    page: &PageArgs,
    filter: ThreadFilter,
) -> Result<Outcome, ClientError> {
    let space = resolve(node, space_arg).await?;
    let mut before: Option<ThreadCursor> = parse_cursor(page.before.as_deref())?;
    let want = ctx.lines_wanted(page);
    let mut threads = Vec::new();
    let mut names = BTreeMap::new();
    let mut unread = BTreeMap::new();
    let (mut next, mut total) = (None, 0);
    for _ in 0..MAX_PAGES {
        let limit = want.map_or(MAX_PAGE_LINES, |want| remaining(want, threads.len()));
        let response = node
            .ask(Request::Threads {
                space: space.id,
                limit,
                before,
                since: None,
                filter,
            })
            .await?;
        let Response::Threads {
            threads: lines,
            names: page_names,
            next: page_next,
            total: page_total,
            unread: page_unread,
            ..
        } = response
        else {
            return Err(unexpected(&response));
        };
        threads.extend(lines);
        names.extend(page_names);
        unread.extend(page_unread);
        (next, total) = (page_next, page_total);
        match next {
            Some(cursor) if want.is_none_or(|want| threads.len() < want) => before = Some(cursor),
            _ => break,
        }
    }
    let mut text = lists::threads(
        &space.label,
        &threads,
        total,
        &unread,
        Names(&names),
        ctx.style,
    );
    if let Some(cursor) = next {
        let _ = writeln!(
            text,
            "\nMore: parley threads {space_arg} --before {cursor}   (or --all)"
        );
    }
    let json: Vec<_> = threads
        .iter()
        .map(|line| {
            let mut value = render_json::summary(line);
            value["unread"] = json!(unread.get(&line.id).copied().unwrap_or(0));
            value
        })
        .collect();
    Ok(Outcome::ok(
        text,
        json!({
            "space": space.id.to_string(),
            "threads": json,
            "total": total,
            "next": next.map(|cursor| cursor.to_string()),
        }),
    ))
}

/// The filter `--open` or `--resolved` asks for.
pub(crate) fn filter(open: bool, resolved: bool) -> ThreadFilter {
    match (open, resolved) {
        (true, _) => ThreadFilter::Open,
        (_, true) => ThreadFilter::Resolved,
        _ => ThreadFilter::All,
    }
}

/// The most pages one command asks for (a guard against a node that never ends a
/// list: 10,000 pages of 500 lines is five million lines).
pub(crate) const MAX_PAGES: usize = 10_000;

/// How many more lines to ask for to reach `want`, as a page limit.
pub(crate) fn remaining(want: usize, have: usize) -> u32 {
    u32::try_from(want.saturating_sub(have))
        .unwrap_or(u32::MAX)
        .clamp(1, MAX_PAGE_LINES)
}

/// The cursor `--before` names, if given.
pub(crate) fn parse_cursor<C: std::str::FromStr<Err = CursorParseError>>(
    text: Option<&str>,
) -> Result<Option<C>, ClientError> {
    text.map(|text| text.parse::<C>())
        .transpose()
        .map_err(|error| ClientError::Usage(error.to_string()))
}

/// `parley show THREAD_ID` (or any post in the thread): the tree, then marks it read.
pub(crate) async fn show(
    ctx: &Context,
    node: &mut impl Api,
    id: PostId,
) -> Result<Outcome, ClientError> {
    let (space, names, thread) = whole_thread(node, id).await?;
    let label = space_label(node, &space).await;
    let text = render_thread::thread(&thread, &label, Names(&names), ctx.style);
    let json = render_json::thread(&space, &thread, Names(&names));
    let mut ids: Vec<PostId> = thread.posts.iter().map(|post| post.id).collect();
    // Its decision, reopening or new title were shown too.
    ids.extend(News::of(&thread).iter().map(|news| news.post));
    // Best effort: the thread was shown even if the node could not record it.
    let _ = mark_read(node, &ids).await;
    Ok(Outcome::ok(text, json))
}

/// `parley unread`: what is new across the user's spaces. By default a summary, how
/// many new posts in which threads, marking nothing; with `all`, each post shown, then
/// marked read (unless `peek`).
pub(crate) async fn unread(
    ctx: &Context,
    node: &mut impl Api,
    all: bool,
    peek: bool,
) -> Result<Outcome, ClientError> {
    let response = node.ask(Request::Unread { mark_read: false }).await?;
    let Response::Unread { mut threads, more } = response else {
        return Err(unexpected(&response));
    };
    // Threads whose new posts mention the user first.
    threads.sort_by_key(|entry| !entry.thread.mentioned);
    if threads.is_empty() {
        return Ok(Outcome::ok(
            "Nothing new.\n".to_owned(),
            json!({ "threads": [], "count": 0 }),
        ));
    }
    if !all {
        return Ok(unread_summary(&threads, more));
    }
    let mut text = String::new();
    let mut json_threads = Vec::new();
    let mut shown_ids = Vec::new();
    let (mut count, mut updates) = (0, 0);
    for entry in &threads {
        let (posts, names) = unread_posts(node, entry).await;
        let names = Names(&names);
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&lists::unread_thread(
            &entry.space_name,
            &entry.thread.title,
            &short_post(&entry.thread.thread),
            &posts,
            &entry.thread.news,
            names,
            ctx.style,
        ));
        count += entry.thread.posts.len();
        updates += entry.thread.news.len();
        shown_ids.extend(entry.thread.all_posts());
        json_threads.push(json!({
            "id": entry.thread.thread.to_string(),
            "space": entry.space.to_string(),
            "space_name": entry.space_name,
            "title": entry.thread.title,
            "posts": posts.iter().map(|p| render_json::post(p, names)).collect::<Vec<_>>(),
            "news": entry.thread.news.iter().map(|n| render_json::news(n, names)).collect::<Vec<_>>(),
        }));
    }
    if !peek {
        mark_read(node, &shown_ids).await?;
    }
    let header = format!("{}\n\n", headline(count, updates, threads.len()));
    if more {
        text.push_str("\nMore unread posts remain: run `parley unread` again.\n");
    }
    Ok(Outcome::ok(
        header + &text,
        json!({ "threads": json_threads, "count": count, "updates": updates, "more": more }),
    ))
}

/// `3 new posts, 1 decision or change in 2 threads`.
fn headline(count: usize, updates: usize, threads: usize) -> String {
    let mut line = lists::count(count as u64, "new post", "new posts");
    if updates > 0 {
        line.push_str(", ");
        line.push_str(&lists::count(
            updates as u64,
            "decision or change",
            "decisions or changes",
        ));
    }
    line.push_str(" in ");
    line.push_str(&lists::count(threads as u64, "thread", "threads"));
    line
}

/// How many new posts in which threads, by space, with what happened to each thread,
/// and how to read them.
fn unread_summary(threads: &[UnreadInSpace], more: bool) -> Outcome {
    let count: usize = threads.iter().map(|entry| entry.thread.posts.len()).sum();
    let updates: usize = threads.iter().map(|entry| entry.thread.news.len()).sum();
    let mut text = format!("{}\n", headline(count, updates, threads.len()));
    // Threads whose new posts mention the user come first, under their own heading.
    let (mentioning, rest): (Vec<&UnreadInSpace>, Vec<&UnreadInSpace>) =
        threads.iter().partition(|entry| entry.thread.mentioned);
    if !mentioning.is_empty() {
        text.push_str("\nMentioning you\n");
        for entry in &mentioning {
            text.push_str(&format!(
                "  {:>3} new  {}  {}  (in {})\n",
                entry.thread.posts.len(),
                clean_line(&entry.thread.title),
                short_post(&entry.thread.thread),
                clean_line(&entry.space_name)
            ));
        }
    }
    let mut space = None;
    for entry in rest {
        if space != Some(entry.space) {
            space = Some(entry.space);
            text.push_str(&format!("\n{}\n", clean_line(&entry.space_name)));
        }
        let new = match entry.thread.posts.len() {
            0 => "       ".to_owned(),
            n => format!("{n:>3} new"),
        };
        text.push_str(&format!(
            "  {new}  {}  {}\n",
            clean_line(&entry.thread.title),
            short_post(&entry.thread.thread)
        ));
        for news in &entry.thread.news {
            text.push_str(&format!("           {}\n", lists::news_line(news)));
        }
    }
    if more {
        text.push_str("\nMore threads have new posts: read these first.\n");
    }
    text.push_str("\nRead a thread with `parley show ID` (that marks it read), or every new post here with `parley unread --all`.\n");
    let json_threads: Vec<_> = threads
        .iter()
        .map(|entry| {
            json!({
                "id": entry.thread.thread.to_string(),
                "space": entry.space.to_string(),
                "space_name": entry.space_name,
                "title": entry.thread.title,
                "new": entry.thread.posts.len(),
                "mentioned": entry.thread.mentioned,
                "news": entry.thread.news.iter().map(|n| render_json::news(n, Names(&Default::default()))).collect::<Vec<_>>(),
            })
        })
        .collect();
    Outcome::ok(
        text,
        json!({ "threads": json_threads, "count": count, "updates": updates, "more": more }),
    )
}

/// The unread posts of one thread as shown posts, with the space's names. When the
/// thread cannot be fetched, the ids alone are shown.
async fn unread_posts(
    node: &mut impl Api,
    entry: &UnreadInSpace,
) -> (Vec<ThreadPost>, BTreeMap<String, String>) {
    match whole_thread(node, entry.thread.thread).await {
        Ok((_, names, thread)) => {
            let posts = thread
                .posts
                .into_iter()
                .filter(|post| entry.thread.posts.contains(&post.id))
                .collect();
            (posts, names)
        }
        _ => (Vec::new(), BTreeMap::new()),
    }
}

/// The thread `id` is in, with all its posts (asked for a page at a time), its space
/// and the space's display names.
pub(crate) async fn whole_thread(
    node: &mut impl Api,
    id: PostId,
) -> Result<(SpaceId, BTreeMap<String, String>, ThreadView), ClientError> {
    let mut whole: Option<(SpaceId, BTreeMap<String, String>, ThreadView)> = None;
    let mut from = 0;
    for _ in 0..MAX_PAGES {
        let response = node.ask(Request::Thread { id, from }).await?;
        let Response::Thread {
            space,
            names,
            thread,
            next,
        } = response
        else {
            return Err(unexpected(&response));
        };
        match &mut whole {
            Some((_, _, so_far)) => so_far.posts.extend(thread.posts),
            None => whole = Some((space, names, thread)),
        }
        match next {
            Some(next) if next > from => from = next,
            _ => break,
        }
    }
    whole.ok_or_else(|| ClientError::Protocol("the node sent no page of the thread".to_owned()))
}

/// `parley mark-read TARGET`: every new post of a thread (TARGET a post id) or of a
/// space (its name or id) marked read.
pub(crate) async fn mark_read_command(
    node: &mut impl Api,
    target: &str,
) -> Result<Outcome, ClientError> {
    if target.starts_with("post1") {
        let post = target.parse::<PostRef>().map_err(ClientError::Usage)?;
        let id = resolve_post(node, &post).await?;
        let (space, _, thread) = whole_thread(node, id).await?;
        let ids: Vec<PostId> = thread.posts.iter().map(|post| post.id).collect();
        mark_read(node, &ids).await?;
        return Ok(Outcome::ok(
            format!(
                "Marked {} read ({} posts).\n",
                clean_line(&thread.title),
                ids.len()
            ),
            json!({ "thread": thread.id.to_string(), "space": space.to_string(), "marked": ids.len() }),
        ));
    }
    let space = resolve(node, target).await?;
    // What is new, as far as one answer lists it (the node marks the whole space at
    // once, however much that is).
    let Response::Unread { threads, more } = node.ask(Request::Unread { mark_read: false }).await?
    else {
        return Err(ClientError::Protocol(
            "the node did not answer Unread".to_owned(),
        ));
    };
    let new: usize = threads
        .iter()
        .filter(|entry| entry.space == space.id)
        .map(|entry| entry.thread.posts.len())
        .sum();
    if new == 0 && !more {
        return Ok(Outcome::ok(
            format!("Nothing new in {}; nothing was marked.\n", space.label),
            json!({ "space": space.id.to_string(), "marked": 0, "at_least": false }),
        ));
    }
    match node.ask(Request::MarkSpaceRead { space: space.id }).await? {
        Response::Done => {}
        other => return Err(unexpected(&other)),
    }
    let text = if more {
        format!("Marked every new post in {} read.\n", space.label)
    } else {
        format!(
            "Marked {new} new {} in {} read.\n",
            if new == 1 { "post" } else { "posts" },
            space.label
        )
    };
    Ok(Outcome::ok(
        text,
        json!({ "space": space.id.to_string(), "marked": new, "at_least": more }),
    ))
}

/// Marks `ids` read, in messages of at most [`MAX_IDS_PER_MESSAGE`] ids.
async fn mark_read(node: &mut impl Api, ids: &[PostId]) -> Result<(), ClientError> {
    for chunk in ids.chunks(MAX_IDS_PER_MESSAGE) {
        let ids = BoundedVec::try_from_vec(chunk.to_vec())
            .map_err(|_| ClientError::Protocol("too many ids to mark read".to_owned()))?;
        match node.ask(Request::MarkRead { ids }).await? {
            Response::Done => {}
            other => return Err(unexpected(&other)),
        }
    }
    Ok(())
}

/// The space's name if the user has it, else a short id.
async fn space_label(node: &mut impl Api, space: &SpaceId) -> String {
    if let Ok(Response::Spaces { spaces }) = node.ask(Request::Spaces).await
        && let Some(found) = spaces.iter().find(|s| s.space == *space)
    {
        return clean_line(&found.genesis.name);
    }
    short_id(&space.to_string())
}

#[cfg(test)]
mod tests {
    use parley_protocol::content::{Content, Member, Profile, Reply, Resolve};
    use parley_protocol::{Post, SecretKey, SpaceId};

    use super::*;
    use crate::commands::body::BodyArgs;
    use crate::commands::fake::{FakeNode, joined};
    use crate::commands::{space, write};
    use crate::render::fixtures::NOW;

    fn body(text: &str) -> BodyArgs {
        BodyArgs {
            body: Some(text.to_owned()),
            body_file: None,
        }
    }

    /// A space "team" with bob ("Bob") as a member, a thread by the user and a reply by
    /// bob. Returns the space, the thread and bob's reply.
    async fn conversation(ctx: &Context, node: &mut FakeNode) -> (SpaceId, PostId, PostId) {
        let created = space::create(ctx, node, "team", "").await.unwrap();
        let space: SpaceId = created.json["id"].as_str().unwrap().parse().unwrap();
        let bob = SecretKey::from_seed(&[2; 32]);
        write::publish(
            ctx,
            node,
            space,
            Content::AddMember(Member {
                user: bob.user_id(),
            }),
        )
        .await
        .unwrap();
        let posted = write::post(ctx, node, "team", "Release plan", &body("Friday?"))
            .await
            .unwrap();
        let root: PostId = posted.json["id"].as_str().unwrap().parse().unwrap();
        // Bob writes a second later, once he is a member.
        let later = parley_protocol::Timestamp(NOW.0 + 1000);
        let sign = |content| Post::sign(&bob, space, later, content, later).unwrap();
        node.insert(sign(Content::Profile(Profile {
            display_name: "Bob".to_owned(),
        })));
        let reply = sign(Content::Reply(Reply {
            root,
            parent: root,
            body: "After QA.".to_owned(),
            mentions: Default::default(),
        }));
        let reply_id = reply.id();
        node.insert(reply);
        (space, root, reply_id)
    }

    #[tokio::test]
    async fn a_decision_made_while_away_is_news_until_the_thread_is_read() {
        let (_dir, ctx, mut node) = joined();
        let (space, root, _) = conversation(&ctx, &mut node).await;
        let bob = SecretKey::from_seed(&[2; 32]);
        write::publish(
            &ctx,
            &mut node,
            space,
            Content::GrantModerator(Member {
                user: bob.user_id(),
            }),
        )
        .await
        .unwrap();
        let later = parley_protocol::Timestamp(NOW.0 + 2000);
        let decide = Post::sign(
            &bob,
            space,
            later,
            Content::Resolve(Resolve {
                thread: root,
                decision: "Ship on Friday.".to_owned(),
            }),
            later,
        )
        .unwrap();
        node.insert(decide);
        let summary = unread(&ctx, &mut node, false, false).await.unwrap();
        assert!(
            summary
                .text
                .starts_with("1 new post, 1 decision or change in 1 thread\n"),
            "{}",
            summary.text
        );
        assert!(
            summary.text.contains("decided: Ship on Friday."),
            "{}",
            summary.text
        );
        assert_eq!(summary.json["threads"][0]["news"][0]["kind"], "decided");
        let all = unread(&ctx, &mut node, true, false).await.unwrap();
        assert!(
            all.text
                .contains("Decision by Bob, just now:\n    Ship on Friday.\n"),
            "{}",
            all.text
        );
        assert_eq!(all.json["updates"], 1);
        let after = unread(&ctx, &mut node, false, false).await.unwrap();
        assert_eq!(
            after.text, "Nothing new.\n",
            "--all marked the decision read too"
        );
    }

    #[tokio::test]
    async fn threads_are_listed_with_the_required_json_fields() {
        let (_dir, ctx, mut node) = joined();
        let (space, root, _) = conversation(&ctx, &mut node).await;
        let listed = threads(&ctx, &mut node, "team", &one_screen(), ThreadFilter::All)
            .await
            .unwrap();
        assert_eq!(listed.json["space"], space.to_string());
        assert_eq!(listed.json["total"], 1);
        assert!(listed.json["next"].is_null());
        let thread = &listed.json["threads"][0];
        assert_eq!(thread["id"], root.to_string());
        assert_eq!(thread["title"], "Release plan");
        assert_eq!(thread["reply_count"], 1);
        assert_eq!(thread["resolved"], false);
        assert!(thread["decision"].is_null());
        assert!(
            listed
                .text
                .starts_with("Threads in team (1)\n\nRelease plan\n"),
            "{}",
            listed.text
        );
    }

    fn one_screen() -> PageArgs {
        PageArgs {
            limit: None,
            all: false,
            before: None,
        }
    }

    #[tokio::test]
    async fn threads_come_a_page_at_a_time_with_a_cursor_to_go_on() {
        let (_dir, ctx, mut node) = joined();
        conversation(&ctx, &mut node).await;
        for n in 0..4 {
            write::post(&ctx, &mut node, "team", &format!("Topic {n}"), &body("x"))
                .await
                .unwrap();
        }
        let two = PageArgs {
            limit: Some(2),
            ..one_screen()
        };
        let first = threads(&ctx, &mut node, "team", &two, ThreadFilter::All)
            .await
            .unwrap();
        assert!(
            first
                .text
                .starts_with("Threads in team (2 of 5)\n\nRelease plan\n"),
            "{}",
            first.text
        );
        let next = first.json["next"].as_str().unwrap().to_owned();
        assert!(
            first.text.ends_with(&format!(
                "More: parley threads team --before {next}   (or --all)\n"
            )),
            "{}",
            first.text
        );
        let second = PageArgs {
            before: Some(next),
            ..two.clone()
        };
        let second = threads(&ctx, &mut node, "team", &second, ThreadFilter::All)
            .await
            .unwrap();
        let titles: Vec<_> = second.json["threads"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["title"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(titles, ["Topic 2", "Topic 1"]);
        let all = PageArgs {
            all: true,
            ..one_screen()
        };
        let everything = threads(&ctx, &mut node, "team", &all, ThreadFilter::All)
            .await
            .unwrap();
        assert_eq!(everything.json["threads"].as_array().unwrap().len(), 5);
        assert!(everything.json["next"].is_null());
        let resolved = threads(&ctx, &mut node, "team", &all, ThreadFilter::Resolved)
            .await
            .unwrap();
        assert_eq!(
            resolved.text,
            "No such threads among the 5 threads of team.\n"
        );
        let bad = PageArgs {
            before: Some("yesterday".to_owned()),
            ..one_screen()
        };
        let error = threads(&ctx, &mut node, "team", &bad, ThreadFilter::All)
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("is not a page cursor"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn show_renders_the_tree_and_marks_it_read() {
        let (_dir, ctx, mut node) = joined();
        let (_, root, reply) = conversation(&ctx, &mut node).await;
        let shown = show(&ctx, &mut node, reply).await.unwrap();
        assert_eq!(
            shown.json["id"],
            root.to_string(),
            "any post of the thread shows it"
        );
        let posts = shown.json["posts"].as_array().unwrap();
        assert_eq!(posts.len(), 2);
        assert!(posts[0]["parent"].is_null());
        assert_eq!(posts[1]["parent"], root.to_string());
        assert_eq!(posts[1]["author_name"], "Bob");
        assert!(
            shown
                .text
                .starts_with("Release plan\nin team · 1 reply · last activity just now\n"),
            "{}",
            shown.text
        );
        assert!(
            shown.text.contains(&format!(
                "\n  Bob · just now · {}\n    After QA.\n",
                short_post(&reply)
            )),
            "{}",
            shown.text
        );
        assert!(node.read.is_read(&reply));
    }

    #[tokio::test]
    async fn unread_summarises_and_marks_nothing_until_a_thread_is_read() {
        let (_dir, ctx, mut node) = joined();
        let (space, root, reply) = conversation(&ctx, &mut node).await;
        let summary = unread(&ctx, &mut node, false, false).await.unwrap();
        assert_eq!(
            summary.text,
            format!(
                "1 new post in 1 thread\n\nteam\n    1 new  Release plan  {}\n\nRead a thread with `parley show ID` (that marks it read), or every new post here with `parley unread --all`.\n",
                short_post(&root)
            )
        );
        assert_eq!(summary.json["threads"][0]["new"], 1);
        assert_eq!(summary.json["threads"][0]["space"], space.to_string());
        assert!(!node.read.is_read(&reply), "a summary marks nothing");
        // --all --peek shows the posts and marks nothing either.
        let peeked = unread(&ctx, &mut node, true, true).await.unwrap();
        assert!(peeked.text.contains("After QA."), "{}", peeked.text);
        assert!(!node.read.is_read(&reply));
        // Reading the thread marks it read.
        show(&ctx, &mut node, root).await.unwrap();
        let after = unread(&ctx, &mut node, false, false).await.unwrap();
        assert_eq!(after.text, "Nothing new.\n");
    }

    #[tokio::test]
    async fn mark_read_takes_a_space_or_a_thread() {
        let (_dir, ctx, mut node) = joined();
        let (_, root, reply) = conversation(&ctx, &mut node).await;
        let none = mark_read_command(&mut node, "nowhere").await;
        assert!(none.is_err(), "an unknown space is an error");
        let marked = mark_read_command(&mut node, "team").await.unwrap();
        assert_eq!(marked.text, "Marked 1 new post in team read.\n");
        assert!(node.read.is_read(&reply));
        assert!(
            node.requests
                .iter()
                .any(|r| matches!(r, Request::MarkSpaceRead { .. })),
            "the node marks the whole space at once"
        );
        let again = mark_read_command(&mut node, "team").await.unwrap();
        assert_eq!(again.text, "Nothing new in team; nothing was marked.\n");
        let thread = mark_read_command(&mut node, &root.to_string())
            .await
            .unwrap();
        assert_eq!(thread.text, "Marked Release plan read (2 posts).\n");
    }

    #[tokio::test]
    async fn unread_shows_new_posts_once() {
        let (_dir, ctx, mut node) = joined();
        let (space, root, reply) = conversation(&ctx, &mut node).await;
        let first = unread(&ctx, &mut node, true, false).await.unwrap();
        assert_eq!(
            first.json["count"], 1,
            "the user's own posts are not new to them"
        );
        let thread = &first.json["threads"][0];
        assert_eq!(thread["id"], root.to_string());
        assert_eq!(thread["space"], space.to_string());
        assert_eq!(thread["posts"][0]["id"], reply.to_string());
        assert_eq!(thread["posts"][0]["body"], "After QA.");
        assert!(
            first
                .text
                .starts_with("1 new post in 1 thread\n\nteam · Release plan · 1 new ·"),
            "{}",
            first.text
        );
        assert!(first.text.contains("After QA."));
        let again = unread(&ctx, &mut node, true, false).await.unwrap();
        assert_eq!(again.text, "Nothing new.\n");
        assert_eq!(again.json["count"], 0);
    }

    #[tokio::test]
    async fn an_unknown_thread_is_the_nodes_error() {
        let (_dir, ctx, mut node) = joined();
        let missing = PostId([8; 32]);
        let error = show(&ctx, &mut node, missing).await.unwrap_err();
        assert_eq!(error.code(), "unknown");
        assert!(error.to_string().contains(&missing.to_string()), "{error}");
    }
}
