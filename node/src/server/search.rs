//! The `Search` request (informative spec 8.6): the spaces the user may read now,
//! narrowed by the query's `space:` filters; its `author:` filters resolved to users
//! among those spaces' members; then a page of hits from the index, each checked
//! against the store (a thread no longer shown, or text since retracted, is left out)
//! and given its title, names and snippet.

use std::collections::BTreeSet;
use std::sync::Arc;

use parley_protocol::api::search::{
    HitKind, MAX_HITS, MAX_SEARCH_OFFSET, SearchHit, SearchQuery, SearchSort,
};
use parley_protocol::api::{ApiErrorCode, Response};
use parley_protocol::view::SpaceView;
use parley_protocol::{Content, SpaceId, UserId};

use crate::search::{RawHit, Scope};

#[cfg(test)]
mod tests;

use super::Node;
use super::api::internal;
use super::refold::READ_BUDGET;

/// How long a search waits for what was just written to become searchable.
const FLUSH_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The answer to `Search`.
pub(super) fn search(
    node: &Node,
    user: &UserId,
    query: &SearchQuery,
    sort: SearchSort,
    limit: u32,
    offset: u32,
) -> Response {
    let Some(index) = &node.search else {
        let why = node
            .search_missing
            .clone()
            .unwrap_or_else(|| "this node keeps no search index".to_owned());
        return Response::error(ApiErrorCode::Unknown, why);
    };
    if let Err(error) = query.check() {
        return Response::error(ApiErrorCode::Malformed, error.to_string());
    }
    if offset > MAX_SEARCH_OFFSET {
        return Response::error(
            ApiErrorCode::Malformed,
            format!("a search reads at most {MAX_SEARCH_OFFSET} hits deep: narrow the query"),
        );
    }
    let limit = limit.clamp(1, MAX_HITS);
    let readable = match readable_spaces(node, user) {
        Ok(readable) => readable,
        Err(error) => return internal(error),
    };
    let spaces = match narrow(&readable, &query.spaces) {
        Ok(spaces) => spaces,
        Err(response) => return *response,
    };
    let authors = match resolve_authors(&spaces, &query.authors) {
        Ok(authors) => authors,
        Err(response) => return *response,
    };
    if spaces.is_empty() {
        return Response::Hits {
            hits: Vec::new(),
            total: 0,
            next: None,
            indexing: index.building(),
        };
    }
    // People find what they just wrote: the spaces' marked threads are folded (as
    // every read does), and what the folds handed to the index is made searchable.
    let refolding = node.refolding();
    for (space, _) in &spaces {
        if let Err(error) = refolding.refresh(space, Some(READ_BUDGET)) {
            return internal(error);
        }
    }
    index.flush(FLUSH_WAIT);
    let scope = Scope {
        spaces: spaces.iter().map(|(space, _)| *space).collect(),
        authors,
    };
    let found = match index.search(query, &scope, sort, limit as usize, offset as usize) {
        Ok(found) => found,
        Err(error) => return internal(error),
    };
    let mut hits = Vec::with_capacity(found.hits.len());
    for raw in &found.hits {
        let Some(spine) = spaces
            .iter()
            .find(|(space, _)| *space == raw.space)
            .map(|(_, spine)| spine)
        else {
            continue;
        };
        match hit(node, spine, raw, &found) {
            Ok(Some(hit)) => hits.push(hit),
            Ok(None) => {}
            Err(error) => return internal(error),
        }
    }
    let end = u64::from(offset) + u64::from(limit);
    let next = (end < found.total && end <= u64::from(MAX_SEARCH_OFFSET))
        .then(|| u32::try_from(end).ok())
        .flatten();
    Response::Hits {
        hits,
        total: found.total,
        next,
        indexing: index.building(),
    }
}

/// The spaces `user` may read now, with their membership views.
fn readable_spaces(
    node: &Node,
    user: &UserId,
) -> Result<Vec<(SpaceId, Arc<SpaceView>)>, crate::storage::StorageError> {
    let mut readable = Vec::new();
    for space in node.storage.spaces()? {
        if !node.spaces().is_member(&space, user) {
            continue;
        }
        if let Some(spine) = node.refolding().spine(&space)?
            && spine.is_member(user)
        {
            readable.push((space, spine));
        }
    }
    Ok(readable)
}

/// The spaces of `readable` that `names` (names or starts of ids) pick; all of them
/// when `names` is empty.
fn narrow(
    readable: &[(SpaceId, Arc<SpaceView>)],
    names: &[String],
) -> Result<Vec<(SpaceId, Arc<SpaceView>)>, Box<Response>> {
    if names.is_empty() {
        return Ok(readable.to_vec());
    }
    let mut picked: Vec<(SpaceId, Arc<SpaceView>)> = Vec::new();
    for name in names {
        let matching: Vec<&(SpaceId, Arc<SpaceView>)> = readable
            .iter()
            .filter(|(space, spine)| {
                spine
                    .genesis()
                    .is_some_and(|genesis| genesis.name.eq_ignore_ascii_case(name))
                    || (name.len() >= 8 && space.to_string().starts_with(name.as_str()))
            })
            .collect();
        if matching.is_empty() {
            return Err(Box::new(Response::error(
                ApiErrorCode::Unknown,
                format!("you are a member of no space named `{name}`"),
            )));
        }
        for (space, spine) in matching {
            if !picked.iter().any(|(known, _)| known == space) {
                picked.push((*space, spine.clone()));
            }
        }
    }
    Ok(picked)
}

/// The users `names` (display names or starts of user ids) stand for among the members
/// of `spaces`; `None` when the query names no author.
fn resolve_authors(
    spaces: &[(SpaceId, Arc<SpaceView>)],
    names: &[String],
) -> Result<Option<Vec<UserId>>, Box<Response>> {
    if names.is_empty() {
        return Ok(None);
    }
    let mut users = BTreeSet::new();
    for name in names {
        let before = users.len();
        let wanted = name.to_lowercase();
        for (_, spine) in spaces {
            for (user, display) in spine.display_names() {
                if display.to_lowercase() == wanted {
                    users.insert(*user);
                }
            }
            if name.len() >= 8 {
                for user in spine.members().iter().chain(spine.display_names().keys()) {
                    if user.to_string().starts_with(name.as_str()) {
                        users.insert(*user);
                    }
                }
            }
        }
        if users.len() == before {
            return Err(Box::new(Response::error(
                ApiErrorCode::Unknown,
                format!("no one named `{name}` writes in the spaces searched"),
            )));
        }
    }
    Ok(Some(users.into_iter().collect()))
}

/// One hit made whole from the store: `None` when its thread is no longer shown or its
/// text was retracted since it was indexed.
fn hit(
    node: &Node,
    spine: &SpaceView,
    raw: &RawHit,
    found: &crate::search::Found,
) -> Result<Option<SearchHit>, crate::storage::StorageError> {
    let Some(line) = node.storage.line(&raw.space, &raw.thread)? else {
        return Ok(None);
    };
    let Some(post) = node.storage.get(&raw.rev)? else {
        return Ok(None);
    };
    let text = match post.content() {
        Content::Thread(thread) => &thread.body,
        Content::Reply(reply) => &reply.body,
        Content::Edit(edit) => &edit.body,
        Content::Resolve(resolve) => &resolve.decision,
        _ => return Ok(None),
    };
    let (snippet, highlights) = found.snippet(text);
    Ok(Some(SearchHit {
        space: raw.space,
        space_name: spine
            .genesis()
            .map(|genesis| genesis.name.clone())
            .unwrap_or_default(),
        thread: raw.thread,
        title: line.title,
        post: raw.id,
        kind: if raw.decision {
            HitKind::Decision
        } else {
            HitKind::Post
        },
        author: raw.author,
        author_name: spine.display_name(&raw.author).map(str::to_owned),
        created_at: raw.created_at,
        resolved: line.resolution.is_some(),
        snippet,
        highlights,
    }))
}
