//! A folded thread as search documents: one per shown post with its current text, and
//! one for the decision of a resolved thread.

use parley_protocol::view::ThreadView;
use parley_protocol::{PostId, SpaceId};
use tantivy::TantivyDocument;

use super::schema::{Fields, KIND_DECISION, KIND_POST, OPEN, RESOLVED};

/// The documents of `thread`, a thread of `space` as the fold shows it.
pub(super) fn of_thread(
    fields: &Fields,
    space: &SpaceId,
    thread: &ThreadView,
) -> Vec<TantivyDocument> {
    let state = if thread.resolution.is_some() {
        RESOLVED
    } else {
        OPEN
    };
    let mut documents = Vec::with_capacity(thread.posts.len() + 1);
    for post in &thread.posts {
        let rev = post
            .revisions
            .last()
            .map_or(post.id, |revision| revision.id);
        let mut document = common(fields, space, &thread.id, &post.id, &rev);
        document.add_bytes(fields.author, post.author.as_bytes());
        document.add_u64(fields.kind, KIND_POST);
        document.add_u64(fields.state, state);
        document.add_u64(fields.created_at, post.created_at.as_millis());
        if let Some(title) = &post.title {
            document.add_text(fields.title, title);
        }
        document.add_text(fields.body, &post.body);
        documents.push(document);
    }
    if let Some(resolution) = &thread.resolution {
        let resolve = resolution.resolve;
        let mut document = common(fields, space, &thread.id, &resolve, &resolve);
        document.add_bytes(fields.author, resolution.by.as_bytes());
        document.add_u64(fields.kind, KIND_DECISION);
        document.add_u64(fields.state, state);
        document.add_u64(fields.created_at, resolution.at.as_millis());
        document.add_text(fields.body, &resolution.decision);
        documents.push(document);
    }
    documents
}

fn common(
    fields: &Fields,
    space: &SpaceId,
    root: &PostId,
    id: &PostId,
    rev: &PostId,
) -> TantivyDocument {
    let mut document = TantivyDocument::default();
    document.add_bytes(fields.id, id.as_bytes());
    document.add_bytes(fields.rev, rev.as_bytes());
    document.add_bytes(fields.thread, root.as_bytes());
    document.add_bytes(fields.space, space.as_bytes());
    document
}

/// Roughly how many bytes of text `thread` holds (to bound what waits to be indexed).
pub(super) fn text_bytes(thread: &ThreadView) -> usize {
    thread
        .posts
        .iter()
        .map(|post| post.body.len() + post.title.as_ref().map_or(0, String::len) + 160)
        .sum::<usize>()
        + thread.resolution.as_ref().map_or(0, |r| r.decision.len())
}
