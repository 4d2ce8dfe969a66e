//! Lists for people: spaces, threads, members, decisions, unread posts, and one line
//! per post arriving on a watch.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use parley_protocol::api::SpaceSummary;
use parley_protocol::content::Content;
use parley_protocol::view::{Decision, News, NewsKind, ThreadPost, ThreadSummary};
use parley_protocol::{NodeId, Post, PostId, UserId};

use super::text::{clean, clean_line, relative_time, short_id, short_post, wrap};
use super::{Names, Style, paint};

/// The user's spaces.
pub(crate) fn spaces(spaces: &[SpaceSummary], style: Style) -> String {
    if spaces.is_empty() {
        return "You are a member of no space yet. Create one: parley space create NAME\n"
            .to_owned();
    }
    let mut out = String::new();
    for (i, space) in spaces.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let _ = writeln!(
            out,
            "{}  {}",
            paint::title(&clean_line(&space.genesis.name), style),
            space.space
        );
        let unread = match (space.unread, space.unread_more) {
            (0, false) => String::new(),
            (n, more) => format!(" · {n}{} new", if more { "+" } else { "" }),
        };
        let _ = writeln!(
            out,
            "  {} · {} · last activity {}{unread}",
            count(space.members, "member", "members"),
            count(space.threads, "thread", "threads"),
            relative_time(style.now, space.last_activity)
        );
        for line in wrap(&clean(&space.genesis.description), style.width, 2) {
            let _ = writeln!(out, "{line}");
        }
    }
    out
}

/// One page of a space's thread list, latest activity first, of `total` threads in all,
/// with how much of each the user has not read.
pub(crate) fn threads(
    space: &str,
    threads: &[ThreadSummary],
    total: u64,
    unread: &BTreeMap<PostId, u32>,
    names: Names<'_>,
    style: Style,
) -> String {
    if total == 0 {
        return format!("No threads in {space} yet. Start one: parley post SPACE --title TITLE\n");
    }
    if threads.is_empty() {
        return format!("No such threads among the {total} threads of {space}.\n");
    }
    let mut out = if threads.len() as u64 == total {
        format!("Threads in {space} ({total})\n")
    } else {
        format!("Threads in {space} ({} of {total})\n", threads.len())
    };
    for thread in threads {
        let mut title = paint::title(&clean_line(&thread.title), style);
        if thread.resolution.is_some() {
            title.push_str(&format!("  {}", paint::decided("[resolved]", style)));
        }
        if thread.edited {
            title.push_str(" (edited)");
        }
        let author = thread
            .author_name
            .as_deref()
            .map(clean_line)
            .filter(|name| !name.trim().is_empty())
            .unwrap_or_else(|| names.of(&thread.author));
        let _ = writeln!(out, "\n{title}");
        let new = unread
            .get(&thread.id)
            .map(|n| format!(" · {n} new"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {} · by {author} · {} · last activity {}{new}",
            paint::id(&short_post(&thread.id), style),
            count(thread.reply_count as u64, "reply", "replies"),
            relative_time(style.now, thread.last_activity)
        );
    }
    out
}

/// Members, moderators and replicas of a space.
pub(crate) fn members(
    space: &str,
    members: &[UserId],
    moderators: &[UserId],
    replicas: &[NodeId],
    names: Names<'_>,
) -> String {
    let mut out = format!("Members of {space} ({})\n", members.len());
    let shown: Vec<String> = members.iter().map(|user| names.of(user)).collect();
    let width = shown
        .iter()
        .map(|name| name.chars().count())
        .max()
        .unwrap_or(0);
    for (user, name) in members.iter().zip(&shown) {
        let pad = width - name.chars().count();
        let role = if moderators.contains(user) {
            "  moderator"
        } else {
            ""
        };
        let _ = writeln!(out, "  {name}{}  {user}{role}", " ".repeat(pad));
    }
    let _ = writeln!(out, "Nodes holding it ({})", replicas.len());
    for node in replicas {
        let _ = writeln!(out, "  {node}");
    }
    out
}

/// A space's decision log, newest first.
pub(crate) fn decisions(
    space: &str,
    decisions: &[Decision],
    names: Names<'_>,
    style: Style,
) -> String {
    if decisions.is_empty() {
        return format!("No decisions in {space} yet.\n");
    }
    let mut out = format!("Decisions in {space} ({})\n", decisions.len());
    for decision in decisions {
        let _ = writeln!(out, "\n{}", clean_line(&decision.title));
        let _ = writeln!(
            out,
            "  decided by {} {} · thread {}",
            names.of(&decision.decided_by),
            relative_time(style.now, decision.decided_at),
            short_post(&decision.thread)
        );
        for line in wrap(&clean(&decision.decision), style.width, 4) {
            let _ = writeln!(out, "{line}");
        }
    }
    out
}

/// One thread's unread posts, under a line naming the space and thread.
pub(crate) fn unread_thread(
    space: &str,
    title: &str,
    thread: &str,
    posts: &[ThreadPost],
    news: &[News],
    names: Names<'_>,
    style: Style,
) -> String {
    let mut out = format!(
        "{} · {} · {} new · {thread}\n",
        clean_line(space),
        paint::title(&clean_line(title), style),
        posts.len()
    );
    for news in news {
        let who = names.of(&news.by);
        let when = relative_time(style.now, news.at);
        let _ = match news.kind {
            NewsKind::Decided => writeln!(
                out,
                "\n  {} by {who}, {when}:",
                paint::decided("Decision", style)
            ),
            NewsKind::Reopened => writeln!(out, "\n  Reopened by {who}, {when}."),
            NewsKind::Retitled => writeln!(out, "\n  Retitled by {who}, {when}:"),
        };
        for line in wrap(&clean(&news.text), style.width, 4) {
            let _ = writeln!(out, "{line}");
        }
    }
    for post in posts {
        let mut shown = post.clone();
        shown.depth = 1;
        out.push('\n');
        out.push_str(&super::thread::post(&shown, names, style));
    }
    out
}

/// One line saying what happened to a thread, for the unread summary.
pub(crate) fn news_line(news: &News) -> String {
    let text: String = clean_line(&news.text).chars().take(72).collect();
    match news.kind {
        NewsKind::Decided => format!("decided: {text}"),
        NewsKind::Reopened => "reopened".to_owned(),
        NewsKind::Retitled => format!("retitled: {text}"),
    }
}

/// A post arriving on a watch: who did what where (in which thread, when `thread`
/// names its title), and the text it carries.
pub(crate) fn event(
    post: &Post,
    space: &str,
    thread: Option<&str>,
    names: Names<'_>,
    style: Style,
) -> String {
    let within = |what: String| match thread {
        Some(title) => format!("{what} in \"{}\"", clean_line(title)),
        None => what,
    };
    let who = names.of(&post.author());
    let when = relative_time(style.now, post.created_at());
    let id = short_post(&post.id());
    let (what, text) = match post.content() {
        Content::Genesis(genesis) => (
            format!("created the space {}", clean_line(&genesis.name)),
            None,
        ),
        Content::Thread(thread) => (
            format!("started \"{}\" · {id}", clean_line(&thread.title)),
            Some(&thread.body),
        ),
        Content::Reply(reply) => match thread {
            Some(_) => (
                format!("{} · {id}", within("replied".to_owned())),
                Some(&reply.body),
            ),
            None => (
                format!("replied to {} · {id}", short_post(&reply.parent)),
                Some(&reply.body),
            ),
        },
        Content::Edit(edit) => (within(format!("edited {}", edit.target)), Some(&edit.body)),
        Content::Retraction(retraction) => {
            (within(format!("retracted {}", retraction.target)), None)
        }
        Content::Reaction(reaction) => (
            within(format!(
                "reacted {} to {}",
                clean_line(&reaction.reaction),
                reaction.target
            )),
            None,
        ),
        Content::Resolve(resolve) => (
            match thread {
                Some(title) => format!("resolved \"{}\" · {}", clean_line(title), resolve.thread),
                None => format!("resolved {}", resolve.thread),
            },
            Some(&resolve.decision),
        ),
        Content::Reopen(reopen) => (
            match thread {
                Some(title) => format!("reopened \"{}\" · {}", clean_line(title), reopen.thread),
                None => format!("reopened {}", reopen.thread),
            },
            None,
        ),
        Content::AddMember(member) => (format!("added {}", names.of(&member.user)), None),
        Content::RemoveMember(member) => (format!("removed {}", names.of(&member.user)), None),
        Content::GrantModerator(member) => {
            (format!("made {} a moderator", names.of(&member.user)), None)
        }
        Content::RevokeModerator(member) => (
            format!("revoked moderator rights of {}", names.of(&member.user)),
            None,
        ),
        Content::ShareReplica(replica) => (
            format!(
                "shared the space with {}",
                short_id(&replica.node.to_string())
            ),
            None,
        ),
        Content::UnshareReplica(replica) => (
            format!(
                "stopped sharing the space with {}",
                short_id(&replica.node.to_string())
            ),
            None,
        ),
        Content::Profile(profile) => (
            format!("is now called {}", clean_line(&profile.display_name)),
            None,
        ),
    };
    let mut out = format!("[{}] {who} {what} · {when}\n", clean_line(space));
    if let Some(text) = text {
        for line in wrap(&clean(text), style.width, 2) {
            let _ = writeln!(out, "{line}");
        }
    }
    out
}

/// `1 reply`, `3 replies`.
pub(crate) fn count(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use parley_protocol::view::{GenesisInfo, Resolution};
    use parley_protocol::{SecretKey, SpaceId, Timestamp};

    use super::*;
    use crate::render::fixtures::{NOW, hours_ago, names, post_id, thread, user};

    fn style() -> Style {
        Style {
            width: 80,
            now: NOW,
            colour: false,
        }
    }

    fn summary(resolved: bool, author_name: Option<&str>) -> ThreadSummary {
        let view = thread();
        ThreadSummary {
            id: view.id,
            title: view.title,
            author: view.author,
            author_name: author_name.map(str::to_owned),
            created_at: view.created_at,
            reply_count: view.reply_count,
            last_activity: view.last_activity,
            edited: false,
            resolution: resolved.then(|| Resolution {
                decision: "d".to_owned(),
                by: user(2),
                at: hours_ago(1),
                resolve: post_id(9),
            }),
        }
    }

    #[test]
    fn thread_lists_show_ids_markers_and_activity() {
        let names = names();
        let text = threads(
            "team",
            &[summary(true, Some("Alice"))],
            1,
            &BTreeMap::new(),
            Names(&names),
            style(),
        );
        assert_eq!(
            text,
            format!(
                "Threads in team (1)\n\nRelease plan  [resolved]\n  {} · by Alice · 2 replies · last activity 1h ago\n",
                short_post(&post_id(1))
            )
        );
        let unread = BTreeMap::from([(post_id(1), 3)]);
        let text = threads(
            "team",
            &[summary(false, None)],
            1,
            &unread,
            Names(&names),
            style(),
        );
        assert!(text.contains("· by alice ·"), "{text}");
        assert!(text.ends_with("last activity 1h ago · 3 new\n"), "{text}");
        assert!(
            threads("team", &[], 0, &BTreeMap::new(), Names(&names), style())
                .starts_with("No threads in team yet.")
        );
    }

    #[test]
    fn members_are_aligned_and_moderators_marked() {
        let names = names();
        let text = members(
            "team",
            &[user(1), user(3)],
            &[user(1)],
            &[NodeId([7; 32])],
            Names(&names),
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Members of team (2)");
        assert!(
            lines[1].starts_with("  alice          user1") && lines[1].ends_with("  moderator"),
            "{text}"
        );
        assert!(
            lines[2].starts_with("  user1") && !lines[2].contains("moderator"),
            "{text}"
        );
        assert_eq!(lines[3], "Nodes holding it (1)");
        assert_eq!(lines[4], format!("  {}", NodeId([7; 32])));
    }

    #[test]
    fn spaces_and_decisions_read_well() {
        let space = SpaceSummary {
            space: SpaceId([4; 32]),
            genesis: GenesisInfo {
                id: post_id(4),
                name: "team".to_owned(),
                description: "Where we decide.".to_owned(),
                founder: user(1),
                home_node: NodeId([7; 32]),
                created_at: hours_ago(48),
            },
            members: 1,
            threads: 2,
            last_activity: hours_ago(2),
            unread: 0,
            unread_more: false,
        };
        assert_eq!(
            spaces(std::slice::from_ref(&space), style()),
            format!(
                "team  {}\n  1 member · 2 threads · last activity 2h ago\n  Where we decide.\n",
                SpaceId([4; 32])
            )
        );
        let busy = SpaceSummary {
            unread: 1000,
            unread_more: true,
            ..space
        };
        assert!(
            spaces(&[busy], style()).contains("last activity 2h ago · 1000+ new\n"),
            "the unread count shows, with + when it stopped at its bound"
        );
        let names = names();
        let decision = Decision {
            thread: post_id(1),
            title: "Release plan".to_owned(),
            decision: "Ship on Friday.".to_owned(),
            decided_by: user(2),
            decided_at: hours_ago(1),
            resolve: post_id(9),
        };
        assert_eq!(
            decisions("team", &[decision], Names(&names), style()),
            format!(
                "Decisions in team (1)\n\nRelease plan\n  decided by bob 1h ago · thread {}\n    Ship on Friday.\n",
                short_post(&post_id(1))
            )
        );
    }

    #[test]
    fn unread_posts_are_listed_under_their_thread() {
        let names = names();
        let view = thread();
        let text = unread_thread(
            "team",
            "Release plan",
            &view.id.to_string(),
            &view.posts[1..],
            &[],
            Names(&names),
            style(),
        );
        assert!(
            text.starts_with(&format!(
                "team · Release plan · 2 new · {}\n\n  bob · 2h ago (edited)",
                post_id(1)
            )),
            "{text}"
        );
        assert!(text.contains("\n    QA is done.\n"), "{text}");
    }

    #[test]
    fn watch_events_name_who_did_what() {
        let key = SecretKey::from_seed(&[1; 32]);
        let genesis = parley_protocol::content::Genesis {
            name: "team".to_owned(),
            description: String::new(),
            home_node: NodeId([7; 32]),
            nonce: [0; 16],
        };
        let now = Timestamp(NOW.0 - 1000);
        let genesis = Post::sign_genesis(&key, now, genesis, NOW).unwrap();
        let thread = Post::sign(
            &key,
            genesis.space(),
            now,
            Content::Thread(parley_protocol::content::Thread {
                title: "Hello".to_owned(),
                body: "first \x1b[1mpost".to_owned(),
                mentions: Default::default(),
            }),
            NOW,
        )
        .unwrap();
        let names = BTreeMap::from([(key.user_id().to_string(), "alice".to_owned())]);
        let text = event(&thread, "team", None, Names(&names), style());
        assert_eq!(
            text,
            format!(
                "[team] alice started \"Hello\" · {} · just now\n  first [1mpost\n",
                short_post(&thread.id())
            )
        );
        let text = event(&genesis, "team", None, Names(&names), style());
        assert_eq!(text, "[team] alice created the space team · just now\n");
    }
}
