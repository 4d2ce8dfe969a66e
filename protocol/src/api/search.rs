//! Search (an informative part of the client API, spec 8.4): the query people type, read
//! into a structure the node runs against its full-text index, and the hits it answers.
//! Search is a node feature, not part of the replicated protocol: nodes index what they
//! hold, each its own way.
//!
//! The query language is the one of mail and chat search boxes: words (all must match),
//! `"a phrase"`, `prefix*`, `-excluded` words or phrases, and filters: `author:NAME`,
//! `space:NAME`, `in:title`, `is:decision`, `is:open`, `is:resolved`, `before:DATE`,
//! `after:DATE` (a date `2026-11-30`, or a period back from now like `7d`). A filter
//! value with spaces is quoted: `author:"Ada Lovelace"`. A word with a colon that is not
//! a filter (`http://example`) is searched as text.

use serde::{Deserialize, Serialize};

use crate::id::{PostId, SpaceId, UserId};
use crate::time::{self, Timestamp};

/// The most words, phrases and prefixes one query holds.
pub const MAX_QUERY_TERMS: usize = 32;
/// The most bytes of one word or phrase.
pub const MAX_TERM_BYTES: usize = 256;
/// The most `author:` or `space:` filters of one query.
pub const MAX_QUERY_FILTERS: usize = 8;
/// The most hits one answer lists.
pub const MAX_HITS: u32 = 50;
/// The furthest into the results a page may start: deeper pages mean the query should
/// say more.
pub const MAX_SEARCH_OFFSET: u32 = 1_000;

/// What a query matches, read from the text people type.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchQuery {
    /// Words, phrases and prefixes: every one not negated must match, no negated one may.
    pub terms: Vec<QueryTerm>,
    /// Only posts by one of these (display names or starts of user ids); any when empty.
    pub authors: Vec<String>,
    /// Only these spaces (names or starts of space ids); all the user's when empty.
    pub spaces: Vec<String>,
    /// Match words in thread titles only.
    pub in_title: bool,
    /// Only posts, or only decisions; both when `None`.
    pub kind: Option<HitKind>,
    /// Only threads open now, or resolved now; both when `None`.
    pub state: Option<ThreadState>,
    /// Only what was written at or after this time.
    pub after: Option<Timestamp>,
    /// Only what was written before this time.
    pub before: Option<Timestamp>,
}

/// One word, phrase or prefix of a query.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryTerm {
    /// The text as typed (without quotes, `-` or `*`).
    pub text: String,
    /// How it matches.
    pub kind: TermKind,
    /// Whether it must not match (`-word`).
    pub negated: bool,
}

/// How a query term matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TermKind {
    /// A word (or, when the index splits it, its parts in a row).
    Word,
    /// Words in a row: `"group commit"`.
    Phrase,
    /// Any word starting so: `replic*`.
    Prefix,
}

/// What a hit is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HitKind {
    /// A thread's root or a reply, with its current text.
    Post,
    /// The decision a thread was resolved with.
    Decision,
}

/// Whether a thread is open or resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ThreadState {
    /// Open: never resolved, or reopened.
    Open,
    /// Resolved with a decision.
    Resolved,
}

/// How hits are ordered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SearchSort {
    /// Best match first (BM25), newer first among equals.
    #[default]
    Relevance,
    /// Newest first.
    Newest,
}

/// One hit: where it is, who wrote it, and the part of its text that matched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchHit {
    /// Its space.
    pub space: SpaceId,
    /// The space's name.
    pub space_name: String,
    /// Its thread.
    pub thread: PostId,
    /// The thread's current title.
    pub title: String,
    /// The post (for a decision, the resolve post).
    pub post: PostId,
    /// A post or a decision.
    pub kind: HitKind,
    /// Who wrote it (for a decision, who resolved the thread).
    pub author: UserId,
    /// The author's display name in the space, if they set one.
    pub author_name: Option<String>,
    /// When it was written.
    pub created_at: Timestamp,
    /// Whether the thread is resolved now.
    pub resolved: bool,
    /// A piece of the current text around the matching words.
    pub snippet: String,
    /// The matching words in `snippet`, as byte ranges `[start, end)`.
    pub highlights: Vec<(u32, u32)>,
}

/// Why a query could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// Nothing to search for.
    #[error("nothing to search for: give words, \"a phrase\", or filters like is:decision")]
    Empty,
    /// Only negated words, and no filter to start from.
    #[error("a search needs something to match, not only words to leave out")]
    OnlyNegated,
    /// A filter's value is not one it takes.
    #[error("{filter} takes {expected}, not `{value}`")]
    BadValue {
        /// The filter (`is:`).
        filter: &'static str,
        /// What it takes.
        expected: &'static str,
        /// What was given.
        value: String,
    },
    /// A filter was negated.
    #[error("`-{0}` cannot be left out: filters only narrow a search")]
    NegatedFilter(String),
    /// Too many terms or filters, or a term too long.
    #[error(
        "the query is too long: at most {MAX_QUERY_TERMS} words, {MAX_QUERY_FILTERS} filters of each kind, {MAX_TERM_BYTES} bytes a word"
    )]
    TooLong,
}

impl SearchQuery {
    /// Reads the query `text` people typed; relative dates count back from `now`.
    pub fn parse(text: &str, now: Timestamp) -> Result<Self, QueryError> {
        let mut query = Self::default();
        for token in tokens(text) {
            query.add(token, now)?;
        }
        query.check()?;
        Ok(query)
    }

    /// Whether the query is within the bounds a node accepts, and matches something.
    pub fn check(&self) -> Result<(), QueryError> {
        if self.terms.len() > MAX_QUERY_TERMS
            || self.authors.len() > MAX_QUERY_FILTERS
            || self.spaces.len() > MAX_QUERY_FILTERS
            || self
                .terms
                .iter()
                .map(|t| &t.text)
                .chain(&self.authors)
                .chain(&self.spaces)
                .any(|t| t.len() > MAX_TERM_BYTES)
        {
            return Err(QueryError::TooLong);
        }
        let has_filter = !self.authors.is_empty()
            || !self.spaces.is_empty()
            || self.kind.is_some()
            || self.state.is_some()
            || self.after.is_some()
            || self.before.is_some();
        let positive = self.terms.iter().any(|t| !t.negated);
        if !positive && !has_filter {
            return Err(if self.terms.is_empty() {
                QueryError::Empty
            } else {
                QueryError::OnlyNegated
            });
        }
        Ok(())
    }

    fn add(&mut self, token: Token, now: Timestamp) -> Result<(), QueryError> {
        if let Some((key, value)) = token.filter {
            if token.negated {
                return Err(QueryError::NegatedFilter(format!("{key}:{value}")));
            }
            return self.add_filter(key, value, now);
        }
        let (text, kind) = if token.quoted {
            (token.text, TermKind::Phrase)
        } else if let Some(stem) = token.text.strip_suffix('*') {
            (stem.to_owned(), TermKind::Prefix)
        } else {
            (token.text, TermKind::Word)
        };
        if text.trim().is_empty() {
            return Ok(());
        }
        self.terms.push(QueryTerm {
            text,
            kind,
            negated: token.negated,
        });
        Ok(())
    }

    fn add_filter(&mut self, key: Filter, value: String, now: Timestamp) -> Result<(), QueryError> {
        let bad = |filter, expected| QueryError::BadValue {
            filter,
            expected,
            value: value.clone(),
        };
        match key {
            Filter::Author if !value.is_empty() => self.authors.push(value),
            Filter::Author => return Err(bad("author:", "a display name or user id")),
            Filter::Space if !value.is_empty() => self.spaces.push(value),
            Filter::Space => return Err(bad("space:", "a space's name or id")),
            Filter::In => match value.to_lowercase().as_str() {
                "title" => self.in_title = true,
                _ => return Err(bad("in:", "title")),
            },
            Filter::Is => match value.to_lowercase().as_str() {
                "decision" | "decisions" => self.kind = Some(HitKind::Decision),
                "open" => self.state = Some(ThreadState::Open),
                "resolved" | "decided" => self.state = Some(ThreadState::Resolved),
                _ => return Err(bad("is:", "decision, open or resolved")),
            },
            Filter::Before | Filter::After => {
                let name = if key == Filter::Before {
                    "before:"
                } else {
                    "after:"
                };
                let at = time::parse_point(&value, now)
                    .map_err(|_| bad(name, "a date like 2026-11-30 or a period like 7d"))?;
                if key == Filter::Before {
                    self.before = Some(at);
                } else {
                    self.after = Some(at);
                }
            }
        }
        Ok(())
    }

    /// The query as people would type it again, but for its dates (for messages).
    pub fn to_text(&self) -> String {
        let mut parts = Vec::new();
        for term in &self.terms {
            let mut part = String::new();
            if term.negated {
                part.push('-');
            }
            match term.kind {
                TermKind::Word => part.push_str(&term.text),
                TermKind::Phrase => {
                    part.push('"');
                    part.push_str(&term.text);
                    part.push('"');
                }
                TermKind::Prefix => {
                    part.push_str(&term.text);
                    part.push('*');
                }
            }
            parts.push(part);
        }
        let quoted = |value: &str| {
            if value.contains(char::is_whitespace) {
                format!("\"{value}\"")
            } else {
                value.to_owned()
            }
        };
        parts.extend(self.authors.iter().map(|a| format!("author:{}", quoted(a))));
        parts.extend(self.spaces.iter().map(|s| format!("space:{}", quoted(s))));
        if self.in_title {
            parts.push("in:title".into());
        }
        if self.kind == Some(HitKind::Decision) {
            parts.push("is:decision".into());
        }
        match self.state {
            Some(ThreadState::Open) => parts.push("is:open".into()),
            Some(ThreadState::Resolved) => parts.push("is:resolved".into()),
            None => {}
        }
        parts.join(" ")
    }
}

/// A filter's key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Filter {
    Author,
    Space,
    In,
    Is,
    Before,
    After,
}

impl Filter {
    fn of(key: &str) -> Option<Self> {
        Some(match key.to_lowercase().as_str() {
            "author" | "from" | "by" => Self::Author,
            "space" | "in-space" => Self::Space,
            "in" => Self::In,
            "is" => Self::Is,
            "before" => Self::Before,
            "after" | "since" => Self::After,
            _ => return None,
        })
    }
}

impl std::fmt::Display for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Author => "author",
            Self::Space => "space",
            Self::In => "in",
            Self::Is => "is",
            Self::Before => "before",
            Self::After => "after",
        })
    }
}

/// One whitespace-separated piece of a query.
#[derive(Debug)]
struct Token {
    negated: bool,
    quoted: bool,
    text: String,
    filter: Option<(Filter, String)>,
}

/// The query's pieces: `-` negates, quotes group words (an unclosed quote runs to the
/// end), `key:value` is a filter when `key` is one.
fn tokens(text: &str) -> Vec<Token> {
    let mut found = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&first) = chars.peek() else {
            break;
        };
        let negated = first == '-';
        if negated {
            chars.next();
        }
        if chars.peek() == Some(&'"') {
            chars.next();
            let text: String = chars.by_ref().take_while(|c| *c != '"').collect();
            found.push(Token {
                negated,
                quoted: true,
                text,
                filter: None,
            });
            continue;
        }
        let mut word = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() {
                break;
            }
            chars.next();
            if c == ':'
                && let Some(filter) = Filter::of(&word)
            {
                let value = if chars.peek() == Some(&'"') {
                    chars.next();
                    chars.by_ref().take_while(|c| *c != '"').collect()
                } else {
                    let mut value = String::new();
                    while let Some(&c) = chars.peek() {
                        if c.is_whitespace() {
                            break;
                        }
                        value.push(c);
                        chars.next();
                    }
                    value
                };
                found.push(Token {
                    negated,
                    quoted: false,
                    text: String::new(),
                    filter: Some((filter, value.trim().to_owned())),
                });
                word.clear();
                break;
            }
            word.push(c);
        }
        if !word.is_empty() {
            found.push(Token {
                negated,
                quoted: false,
                text: word,
                filter: None,
            });
        }
    }
    found
}

/// Whether a time is within a query's dates.
pub fn within(query: &SearchQuery, at: Timestamp) -> bool {
    query.after.is_none_or(|after| at >= after) && query.before.is_none_or(|before| at < before)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::DAY_MILLIS;
    use proptest::prelude::*;

    const NOW: Timestamp = Timestamp::from_millis(1_800_000_000_000);

    fn word(text: &str) -> QueryTerm {
        QueryTerm {
            text: text.into(),
            kind: TermKind::Word,
            negated: false,
        }
    }

    #[test]
    fn words_phrases_prefixes_and_negations() {
        let query =
            SearchQuery::parse(r#"quic "group commit" replic* -timeout -"old news""#, NOW).unwrap();
        assert_eq!(
            query.terms,
            vec![
                word("quic"),
                QueryTerm {
                    text: "group commit".into(),
                    kind: TermKind::Phrase,
                    negated: false
                },
                QueryTerm {
                    text: "replic".into(),
                    kind: TermKind::Prefix,
                    negated: false
                },
                QueryTerm {
                    text: "timeout".into(),
                    kind: TermKind::Word,
                    negated: true
                },
                QueryTerm {
                    text: "old news".into(),
                    kind: TermKind::Phrase,
                    negated: true
                },
            ]
        );
    }

    #[test]
    fn filters_narrow_the_search() {
        let query = SearchQuery::parse(
            r#"storage author:"Ada L" space:design in:title is:decision is:resolved after:2026-01-01 before:7d"#,
            NOW,
        )
        .unwrap();
        assert_eq!(query.terms, vec![word("storage")]);
        assert_eq!(query.authors, vec!["Ada L".to_owned()]);
        assert_eq!(query.spaces, vec!["design".to_owned()]);
        assert!(query.in_title);
        assert_eq!(query.kind, Some(HitKind::Decision));
        assert_eq!(query.state, Some(ThreadState::Resolved));
        assert_eq!(query.after, Some(Timestamp::from_millis(1_767_225_600_000)));
        assert_eq!(
            query.before,
            Some(Timestamp::from_millis(NOW.as_millis() - 7 * DAY_MILLIS))
        );
        // A filter alone is a query; a colon in text that names no filter is text.
        assert!(SearchQuery::parse("is:decision", NOW).is_ok());
        assert_eq!(
            SearchQuery::parse("http://example.org", NOW).unwrap().terms,
            vec![word("http://example.org")]
        );
    }

    #[test]
    fn mistakes_are_named() {
        assert_eq!(SearchQuery::parse("  ", NOW), Err(QueryError::Empty));
        assert_eq!(
            SearchQuery::parse("-spam", NOW),
            Err(QueryError::OnlyNegated)
        );
        assert!(matches!(
            SearchQuery::parse("is:pending", NOW),
            Err(QueryError::BadValue { filter: "is:", .. })
        ));
        assert!(matches!(
            SearchQuery::parse("after:yesterday", NOW),
            Err(QueryError::BadValue {
                filter: "after:",
                ..
            })
        ));
        assert!(matches!(
            SearchQuery::parse("x -author:bob", NOW),
            Err(QueryError::NegatedFilter(_))
        ));
        let long = "w ".repeat(MAX_QUERY_TERMS + 1);
        assert_eq!(SearchQuery::parse(&long, NOW), Err(QueryError::TooLong));
    }

    #[test]
    fn dates_bound_what_is_within() {
        let query = SearchQuery::parse("x after:2026-01-01 before:2026-01-02", NOW).unwrap();
        let start = query.after.unwrap();
        assert!(within(&query, start));
        assert!(within(&query, start.saturating_add_millis(DAY_MILLIS - 1)));
        assert!(!within(&query, start.saturating_add_millis(DAY_MILLIS)));
        assert!(!within(
            &query,
            Timestamp::from_millis(start.as_millis() - 1)
        ));
    }

    proptest! {
        /// Any text reads as a query or a named error, and a query read back from its
        /// own text is the same query.
        #[test]
        fn any_text_reads_and_queries_read_back(text in "[a-z\"\\-*: ]{0,40}") {
            if let Ok(query) = SearchQuery::parse(&text, NOW) {
                let again = SearchQuery::parse(&query.to_text(), NOW);
                prop_assert_eq!(again, Ok(query));
            }
        }
    }
}
