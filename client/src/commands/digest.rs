//! `parley digest [SPACE] [--since 7d]`: what someone who was away needs, on one screen,
//! per space: the decisions made, the threads started, and the busiest threads since
//! then. The written rhythm a team reads on Monday morning.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use parley_protocol::Timestamp;
use parley_protocol::api::{
    DecisionCursor, MAX_PAGE_LINES, Request, Response, SpaceSummary, ThreadCursor, ThreadFilter,
    UnreadInSpace,
};
use parley_protocol::view::{Decision, ThreadSummary};
use serde_json::{Value, json};

use super::space::{list_spaces, resolve};
use super::{Context, Outcome};
use crate::error::ClientError;
use crate::node_client::{Api, unexpected};
use crate::render::text::{clean_line, date, relative_time, short_post};
use crate::render::{Names, json as render_json, lists, paint};

/// Pages of threads or decisions read per space, at most (each up to 500 lines).
const MAX_PAGES: usize = 8;

/// Busiest threads shown per space.
const BUSIEST: usize = 5;

/// Reads `7d`, `24h`, `2w`, `30m` or a date `2026-11-30` (UTC) as the start of the
/// period, seen from `now`.
pub(crate) fn parse_since(text: &str, now: Timestamp) -> Result<Timestamp, String> {
    parley_protocol::time::parse_point(text, now).map_err(|error| error.to_string())
}

/// One space's digest.
struct SpaceDigest {
    space: SpaceSummary,
    decisions: Vec<Decision>,
    started: Vec<ThreadSummary>,
    busiest: Vec<ThreadSummary>,
    names: BTreeMap<String, String>,
}

/// `parley digest`.
pub(crate) async fn digest(
    ctx: &Context,
    node: &mut impl Api,
    space: Option<&str>,
    since: Timestamp,
) -> Result<Outcome, ClientError> {
    let mut spaces = list_spaces(node).await?;
    if let Some(arg) = space {
        let wanted = resolve(node, arg).await?;
        spaces.retain(|s| s.space == wanted.id);
    }
    let mut digests = Vec::new();
    for space in spaces {
        if space.last_activity < since {
            continue;
        }
        digests.push(space_digest(node, space, since).await?);
    }
    // Unread posts that mention the user, in the spaces of the digest.
    let mentioning: Vec<UnreadInSpace> =
        match node.ask(Request::Unread { mark_read: false }).await? {
            Response::Unread { threads, .. } => threads
                .into_iter()
                .filter(|entry| entry.thread.mentioned)
                .filter(|entry| digests.iter().any(|d| d.space.space == entry.space))
                .collect(),
            other => return Err(unexpected(&other)),
        };
    let mut text = format!(
        "Since {} ({}):\n",
        date(since),
        relative_time(ctx.style.now, since)
    );
    if !mentioning.is_empty() {
        text.push_str("\nMentioning you\n");
        for entry in &mentioning {
            let _ = writeln!(
                text,
                "    {} · {} new · in {} · {}",
                clean_line(&entry.thread.title),
                entry.thread.posts.len(),
                clean_line(&entry.space_name),
                paint::id(&short_post(&entry.thread.thread), ctx.style)
            );
        }
    }
    if digests
        .iter()
        .all(|d| d.decisions.is_empty() && d.started.is_empty() && d.busiest.is_empty())
    {
        text.push_str("\nNothing was decided, started or discussed.\n");
    }
    for digest in &digests {
        render(&mut text, digest, ctx);
    }
    let json: Vec<Value> = digests.iter().map(digest_json).collect();
    let mentioning: Vec<Value> = mentioning
        .iter()
        .map(|entry| {
            json!({
                "thread": entry.thread.thread.to_string(),
                "title": entry.thread.title,
                "space": entry.space.to_string(),
                "new": entry.thread.posts.len(),
            })
        })
        .collect();
    Ok(Outcome::ok(
        text,
        json!({ "since": since.as_millis(), "mentioning": mentioning, "spaces": json }),
    ))
}

async fn space_digest(
    node: &mut impl Api,
    space: SpaceSummary,
    since: Timestamp,
) -> Result<SpaceDigest, ClientError> {
    // Decisions, newest first, until one is older than the period.
    let mut decisions = Vec::new();
    let mut before: Option<DecisionCursor> = None;
    'pages: for _ in 0..MAX_PAGES {
        let response = node
            .ask(Request::Decisions {
                space: space.space,
                limit: MAX_PAGE_LINES,
                before,
            })
            .await?;
        let Response::Decisions {
            decisions: page,
            next,
            ..
        } = response
        else {
            return Err(unexpected(&response));
        };
        for decision in page {
            if decision.decided_at < since {
                break 'pages;
            }
            decisions.push(decision);
        }
        match next {
            Some(cursor) => before = Some(cursor),
            None => break,
        }
    }
    // Threads active in the period: started in it, or busy in it.
    let mut active = Vec::new();
    let mut names = BTreeMap::new();
    let mut before: Option<ThreadCursor> = None;
    for _ in 0..MAX_PAGES {
        let response = node
            .ask(Request::Threads {
                space: space.space,
                limit: MAX_PAGE_LINES,
                before,
                since: Some(since),
                filter: ThreadFilter::All,
            })
            .await?;
        let Response::Threads {
            threads,
            names: page_names,
            next,
            ..
        } = response
        else {
            return Err(unexpected(&response));
        };
        active.extend(threads);
        names.extend(page_names);
        match next {
            Some(cursor) => before = Some(cursor),
            None => break,
        }
    }
    let started: Vec<ThreadSummary> = active
        .iter()
        .filter(|t| t.created_at >= since)
        .cloned()
        .collect();
    let mut busiest: Vec<ThreadSummary> = active
        .into_iter()
        .filter(|t| t.created_at < since && t.reply_count > 0)
        .collect();
    busiest.sort_by(|a, b| {
        b.reply_count
            .cmp(&a.reply_count)
            .then(b.last_activity.cmp(&a.last_activity))
    });
    busiest.truncate(BUSIEST);
    if !decisions.is_empty()
        && let Ok(Response::Members { names: members, .. }) =
            node.ask(Request::Members { space: space.space }).await
    {
        names.extend(members);
    }
    Ok(SpaceDigest {
        space,
        decisions,
        started,
        busiest,
        names,
    })
}

fn render(out: &mut String, digest: &SpaceDigest, ctx: &Context) {
    let style = ctx.style;
    let names = Names(&digest.names);
    let _ = writeln!(
        out,
        "\n{}",
        paint::title(&clean_line(&digest.space.genesis.name), style)
    );
    if digest.decisions.is_empty() && digest.started.is_empty() && digest.busiest.is_empty() {
        let _ = writeln!(out, "  (nothing new)");
        return;
    }
    if !digest.decisions.is_empty() {
        let _ = writeln!(out, "  {}", paint::decided("Decided", style));
        for d in &digest.decisions {
            let _ = writeln!(
                out,
                "    {} · {}: {} · {}",
                clean_line(&d.title),
                names.of(&d.decided_by),
                one_line(&d.decision),
                paint::id(&short_post(&d.thread), style)
            );
        }
    }
    if !digest.started.is_empty() {
        let _ = writeln!(out, "  Started");
        for t in &digest.started {
            let _ = writeln!(
                out,
                "    {} · by {} · {} · {}",
                clean_line(&t.title),
                t.author_name
                    .as_deref()
                    .map_or_else(|| names.of(&t.author), clean_line),
                replies(t.reply_count),
                paint::id(&short_post(&t.id), style)
            );
        }
    }
    if !digest.busiest.is_empty() {
        let _ = writeln!(out, "  Busiest");
        for t in &digest.busiest {
            let _ = writeln!(
                out,
                "    {} · {} · last activity {} · {}",
                clean_line(&t.title),
                replies(t.reply_count),
                relative_time(style.now, t.last_activity),
                paint::id(&short_post(&t.id), style)
            );
        }
    }
}

fn replies(n: usize) -> String {
    lists::count(n as u64, "reply", "replies")
}

/// The first line of `text`, at most 80 characters.
fn one_line(text: &str) -> String {
    let line = clean_line(text.lines().next().unwrap_or_default());
    if line.chars().count() > 80 {
        format!("{}…", line.chars().take(79).collect::<String>())
    } else {
        line
    }
}

fn digest_json(digest: &SpaceDigest) -> Value {
    let names = Names(&digest.names);
    json!({
        "space": digest.space.space.to_string(),
        "name": digest.space.genesis.name,
        "decisions": digest.decisions.iter().map(|d| render_json::decision(d, names)).collect::<Vec<_>>(),
        "started": digest.started.iter().map(render_json::summary).collect::<Vec<_>>(),
        "busiest": digest.busiest.iter().map(render_json::summary).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_and_dates_read_as_the_start_of_the_period() {
        let now = Timestamp::from_millis(1_795_651_200_000);
        assert_eq!(
            parse_since("7d", now).unwrap(),
            Timestamp::from_millis(1_795_651_200_000 - 7 * 86_400_000)
        );
        assert_eq!(
            parse_since("24h", now).unwrap(),
            Timestamp::from_millis(1_795_651_200_000 - 86_400_000)
        );
        assert_eq!(date(parse_since("2026-11-30", now).unwrap()), "2026-11-30");
        assert_eq!(date(parse_since("2024-02-29", now).unwrap()), "2024-02-29");
        for bad in ["soon", "7", "d", "2026-13-01", "-3d"] {
            assert!(parse_since(bad, now).is_err(), "{bad}");
        }
    }
}
