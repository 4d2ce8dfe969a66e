//! `parley search QUERY`: full-text search of everything the user may read, answered
//! by their node from its index. Each hit shows its thread, space, author, date, an id
//! `show` takes, and a snippet with the matching words in bold on a terminal.

use std::fmt::Write as _;

use parley_protocol::api::search::{HitKind, MAX_HITS, SearchHit, SearchQuery, SearchSort};
use parley_protocol::api::{Request, Response};
use serde_json::{Value, json};

use super::{Context, Outcome};
use crate::error::ClientError;
use crate::node_client::{Api, unexpected};
use crate::render::paint;
use crate::render::text::{clean_line, date, short_id, short_post, wrap};

/// Hits shown unless `--limit` says otherwise.
const DEFAULT_HITS: u32 = 10;

/// What `parley search` was asked.
#[derive(Debug)]
pub(crate) struct Asked<'a> {
    /// The query's words, as typed.
    pub(crate) words: &'a [String],
    /// `--space`.
    pub(crate) space: Option<&'a str>,
    /// `--limit`.
    pub(crate) limit: Option<u32>,
    /// `--offset`.
    pub(crate) offset: u32,
    /// `--sort new`.
    pub(crate) newest: bool,
}

/// `parley search`.
pub(crate) async fn search(
    ctx: &Context,
    node: &mut impl Api,
    asked: &Asked<'_>,
) -> Result<Outcome, ClientError> {
    let text = asked.words.join(" ");
    let mut query = SearchQuery::parse(&text, ctx.style.now)
        .map_err(|error| ClientError::Usage(error.to_string()))?;
    if let Some(space) = asked.space {
        query.spaces.push(space.to_owned());
    }
    let limit = asked.limit.unwrap_or(DEFAULT_HITS).clamp(1, MAX_HITS);
    let response = node
        .ask(Request::Search {
            query,
            sort: if asked.newest {
                SearchSort::Newest
            } else {
                SearchSort::Relevance
            },
            limit,
            offset: asked.offset,
        })
        .await?;
    let Response::Hits {
        hits,
        total,
        next,
        indexing,
    } = response
    else {
        return Err(unexpected(&response));
    };
    let mut out = String::new();
    if hits.is_empty() {
        let _ = writeln!(out, "Nothing matches {}.", quoted(&text));
    } else {
        let first = asked.offset + 1;
        let last = asked.offset as usize + hits.len();
        let _ = writeln!(
            out,
            "{} for {}{}:",
            plural(total, "hit"),
            quoted(&text),
            if total as usize > hits.len() {
                format!(", {first}-{last}")
            } else {
                String::new()
            }
        );
    }
    for hit in &hits {
        out.push('\n');
        render(&mut out, hit, ctx);
    }
    if let Some(offset) = next {
        let _ = writeln!(
            out,
            "\nMore: parley search {} --offset {offset}",
            asked
                .words
                .iter()
                .map(|w| shell_word(w))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    if indexing {
        out.push_str("\n(The node is still building its index: older posts may be missing.)\n");
    }
    let json_hits: Vec<Value> = hits.iter().map(hit_json).collect();
    Ok(Outcome::ok(
        out,
        json!({
            "query": text,
            "total": total,
            "hits": json_hits,
            "next": next,
            "indexing": indexing,
        }),
    ))
}

fn render(out: &mut String, hit: &SearchHit, ctx: &Context) {
    let style = ctx.style;
    let author = hit
        .author_name
        .as_deref()
        .map_or_else(|| short_id(&hit.author.to_string()), clean_line);
    let what = match hit.kind {
        HitKind::Decision => format!(" · {}", paint::decided("decision", style)),
        HitKind::Post if hit.resolved => format!(" · {}", paint::decided("resolved", style)),
        HitKind::Post => String::new(),
    };
    let _ = writeln!(
        out,
        "{} · {}",
        paint::title(&clean_line(&hit.title), style),
        clean_line(&hit.space_name)
    );
    let _ = writeln!(
        out,
        "  {} · {}{what} · {}",
        author,
        date(hit.created_at),
        paint::id(&short_post(&hit.post), style)
    );
    for line in wrap(&highlighted(hit, ctx), style.width, 4) {
        let _ = writeln!(out, "{line}");
    }
}

/// The snippet on one line, its matching words in bold on a terminal.
fn highlighted(hit: &SearchHit, ctx: &Context) -> String {
    let snippet = &hit.snippet;
    let mut text = String::with_capacity(snippet.len() + 16);
    let mut at = 0;
    for &(start, end) in &hit.highlights {
        let (start, end) = (start as usize, end as usize);
        let (Some(before), Some(word)) = (snippet.get(at..start), snippet.get(start..end)) else {
            continue;
        };
        text.push_str(before);
        text.push_str(&paint::title(word, ctx.style));
        at = end;
    }
    text.push_str(snippet.get(at..).unwrap_or_default());
    clean_line(&text)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn hit_json(hit: &SearchHit) -> Value {
    json!({
        "space": hit.space.to_string(),
        "space_name": hit.space_name,
        "thread": hit.thread.to_string(),
        "title": hit.title,
        "post": hit.post.to_string(),
        "kind": match hit.kind { HitKind::Post => "post", HitKind::Decision => "decision" },
        "author": hit.author.to_string(),
        "author_name": hit.author_name,
        "created_at": hit.created_at.as_millis(),
        "resolved": hit.resolved,
        "snippet": hit.snippet,
        "highlights": hit.highlights.iter().map(|(s, e)| json!([s, e])).collect::<Vec<_>>(),
    })
}

fn quoted(text: &str) -> String {
    format!("`{}`", clean_line(text))
}

fn plural(n: u64, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// `word` as a shell would need it typed again.
fn shell_word(word: &str) -> String {
    if word
        .chars()
        .all(|c| c.is_alphanumeric() || "-_:./@*".contains(c))
    {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}
