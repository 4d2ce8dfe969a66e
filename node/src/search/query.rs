//! A query people typed ([`SearchQuery`]) as a tantivy query over the documents of the
//! spaces a user may read.

use std::ops::Bound;

use parley_protocol::api::search::{HitKind, SearchQuery, TermKind, ThreadState};
use parley_protocol::{SpaceId, UserId};
use tantivy::Term;
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, Occur, PhrasePrefixQuery, PhraseQuery, Query, RangeQuery,
    TermQuery, TermSetQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::TextAnalyzer;

use super::schema::{self, Fields, KIND_DECISION, KIND_POST, OPEN, RESOLVED};

/// How much more a word in a title weighs than one in a body.
const TITLE_BOOST: f32 = 2.0;
/// The most words one prefix stands for.
const MAX_EXPANSIONS: u32 = 64;

/// Who may see what: the spaces searched (those the user may read, narrowed by the
/// query) and the authors the query names, resolved to users.
#[derive(Debug)]
pub(crate) struct Scope {
    /// The spaces searched; never empty (an empty scope is answered without searching).
    pub(crate) spaces: Vec<SpaceId>,
    /// Only posts by these, when the query names authors.
    pub(crate) authors: Option<Vec<UserId>>,
}

/// The tantivy query of `query` within `scope`.
pub(super) fn build(
    fields: &Fields,
    analyzer: &mut TextAnalyzer,
    query: &SearchQuery,
    scope: &Scope,
) -> Box<dyn Query> {
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    // What the user may read: checked in the query itself, so that counts and
    // snippets never see another space.
    clauses.push((
        Occur::Must,
        Box::new(TermSetQuery::new(scope.spaces.iter().map(|space| {
            Term::from_field_bytes(fields.space, space.as_bytes())
        }))),
    ));
    let text_fields: Vec<(Field, f32)> = if query.in_title {
        vec![(fields.title, 1.0)]
    } else {
        vec![(fields.title, TITLE_BOOST), (fields.body, 1.0)]
    };
    let mut positive = false;
    for term in &query.terms {
        let Some(matcher) = text_query(&text_fields, analyzer, &term.text, term.kind) else {
            // Nothing indexable (punctuation only): a word that cannot match.
            if !term.negated {
                return Box::new(BooleanQuery::new(Vec::new()));
            }
            continue;
        };
        let occur = if term.negated {
            Occur::MustNot
        } else {
            positive = true;
            Occur::Must
        };
        clauses.push((occur, matcher));
    }
    if !positive {
        clauses.push((Occur::Must, Box::new(AllQuery)));
    }
    if let Some(authors) = &scope.authors {
        clauses.push((
            Occur::Must,
            Box::new(TermSetQuery::new(authors.iter().map(|user| {
                Term::from_field_bytes(fields.author, user.as_bytes())
            }))),
        ));
    }
    let kind = match (query.kind, query.in_title) {
        (Some(HitKind::Decision), _) => Some(KIND_DECISION),
        (Some(HitKind::Post), _) | (None, true) => Some(KIND_POST),
        (None, false) => None,
    };
    if let Some(kind) = kind {
        clauses.push((Occur::Must, exact(fields.kind, kind)));
    }
    if let Some(state) = query.state {
        let state = match state {
            ThreadState::Open => OPEN,
            ThreadState::Resolved => RESOLVED,
        };
        clauses.push((Occur::Must, exact(fields.state, state)));
    }
    if query.after.is_some() || query.before.is_some() {
        let lower = query.after.map_or(Bound::Unbounded, |at| {
            Bound::Included(Term::from_field_u64(fields.created_at, at.as_millis()))
        });
        let upper = query.before.map_or(Bound::Unbounded, |at| {
            Bound::Excluded(Term::from_field_u64(fields.created_at, at.as_millis()))
        });
        clauses.push((Occur::Must, Box::new(RangeQuery::new(lower, upper))));
    }
    Box::new(BooleanQuery::new(clauses))
}

fn exact(field: Field, value: u64) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_field_u64(field, value),
        IndexRecordOption::Basic,
    ))
}

/// A word, phrase or prefix matched in any of `fields`; `None` when it has no word the
/// index holds.
fn text_query(
    fields: &[(Field, f32)],
    analyzer: &mut TextAnalyzer,
    text: &str,
    kind: TermKind,
) -> Option<Box<dyn Query>> {
    let words = schema::words(analyzer, text);
    let prefix = if kind == TermKind::Prefix {
        let mut plain = schema::prefix_analyzer();
        let mut unstemmed = schema::words(&mut plain, text);
        // `replic*` against stems: the last word as typed, and as stemmed.
        let last = unstemmed.pop()?;
        Some((unstemmed, last))
    } else {
        None
    };
    if words.is_empty() && prefix.is_none() {
        return None;
    }
    let mut per_field: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    for &(field, boost) in fields {
        let mut alternatives: Vec<Box<dyn Query>> = Vec::new();
        match &prefix {
            Some((leading, last)) => {
                let mut terms: Vec<Term> = leading
                    .iter()
                    .map(|word| Term::from_field_text(field, word))
                    .collect();
                terms.push(Term::from_field_text(field, last));
                let mut query = PhrasePrefixQuery::new(terms);
                query.set_max_expansions(MAX_EXPANSIONS);
                alternatives.push(Box::new(query));
                if let Some(stemmed) = words.last().filter(|stem| *stem != last) {
                    let mut terms: Vec<Term> = words
                        .iter()
                        .map(|word| Term::from_field_text(field, word))
                        .collect();
                    terms.pop();
                    terms.push(Term::from_field_text(field, stemmed));
                    let mut query = PhrasePrefixQuery::new(terms);
                    query.set_max_expansions(MAX_EXPANSIONS);
                    alternatives.push(Box::new(query));
                }
            }
            None => {
                let terms: Vec<Term> = words
                    .iter()
                    .map(|word| Term::from_field_text(field, word))
                    .collect();
                alternatives.push(match terms.as_slice() {
                    [single] => {
                        Box::new(TermQuery::new(single.clone(), IndexRecordOption::WithFreqs))
                    }
                    _ => Box::new(PhraseQuery::new(terms)),
                });
            }
        }
        for query in alternatives {
            let query: Box<dyn Query> = if (boost - 1.0).abs() > f32::EPSILON {
                Box::new(BoostQuery::new(query, boost))
            } else {
                query
            };
            per_field.push((Occur::Should, query));
        }
    }
    Some(Box::new(BooleanQuery::new(per_field)))
}
