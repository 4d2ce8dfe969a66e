//! The `--json` shapes. Every object carries `id`; ids are in their text form and times
//! in milliseconds since the epoch. A post carries `id`, `author`, `created_at`,
//! `parent` (null for a thread's root) and `body`; a thread carries `id`, `title`,
//! `reply_count`, `resolved` and `decision` (null when open), and with `posts` when shown.

use parley_protocol::api::SpaceSummary;
use parley_protocol::content::Content;
use parley_protocol::view::{Decision, News, NewsKind, ThreadPost, ThreadSummary, ThreadView};
use parley_protocol::{Post, SpaceId};
use serde_json::{Map, Value, json};

use super::Names;

/// One shown post of a thread.
pub(crate) fn post(post: &ThreadPost, names: Names<'_>) -> Value {
    let reactions: Map<String, Value> = post
        .reactions
        .iter()
        .map(|(reaction, users)| {
            let users: Vec<String> = users.iter().map(ToString::to_string).collect();
            (reaction.clone(), json!(users))
        })
        .collect();
    json!({
        "id": post.id.to_string(),
        "author": post.author.to_string(),
        "author_name": names.name(&post.author),
        "created_at": post.created_at.as_millis(),
        "parent": post.parent.map(|id| id.to_string()),
        "depth": post.depth,
        "title": post.title,
        "body": post.body,
        "edited": post.edited,
        "parent_missing": post.parent_missing,
        "reactions": reactions,
    })
}

/// A thread as `show` prints it: its fields, the decision, and every shown post.
pub(crate) fn thread(space: &SpaceId, view: &ThreadView, names: Names<'_>) -> Value {
    let resolution = view.resolution.as_ref();
    let posts: Vec<Value> = view.posts.iter().map(|p| post(p, names)).collect();
    json!({
        "id": view.id.to_string(),
        "space": space.to_string(),
        "title": view.title,
        "author": view.author.to_string(),
        "author_name": names.name(&view.author),
        "created_at": view.created_at.as_millis(),
        "last_activity": view.last_activity.as_millis(),
        "reply_count": view.reply_count,
        "resolved": resolution.is_some(),
        "decision": resolution.map(|r| r.decision.clone()),
        "decided_by": resolution.map(|r| r.by.to_string()),
        "decided_at": resolution.map(|r| r.at.as_millis()),
        "reopened_by": view.reopened.as_ref().map(|r| r.by.to_string()),
        "reopened_at": view.reopened.as_ref().map(|r| r.at.as_millis()),
        "posts": posts,
    })
}

/// One line of a thread list.
pub(crate) fn summary(summary: &ThreadSummary) -> Value {
    let resolution = summary.resolution.as_ref();
    json!({
        "id": summary.id.to_string(),
        "title": summary.title,
        "author": summary.author.to_string(),
        "author_name": summary.author_name,
        "created_at": summary.created_at.as_millis(),
        "last_activity": summary.last_activity.as_millis(),
        "reply_count": summary.reply_count,
        "resolved": resolution.is_some(),
        "decision": resolution.map(|r| r.decision.clone()),
        "edited": summary.edited,
    })
}

/// A space the user is a member of.
pub(crate) fn space(space: &SpaceSummary) -> Value {
    json!({
        "id": space.space.to_string(),
        "name": space.genesis.name,
        "description": space.genesis.description,
        "founder": space.genesis.founder.to_string(),
        "home_node": space.genesis.home_node.to_string(),
        "genesis": space.genesis.id.to_string(),
        "created_at": space.genesis.created_at.as_millis(),
        "members": space.members,
        "threads": space.threads,
        "last_activity": space.last_activity.as_millis(),
    })
}

/// An entry of the decision log; its `id` is the resolve post's, `thread` the thread's.
pub(crate) fn decision(decision: &Decision, names: Names<'_>) -> Value {
    json!({
        "id": decision.resolve.to_string(),
        "thread": decision.thread.to_string(),
        "title": decision.title,
        "decision": decision.decision,
        "decided_by": decision.decided_by.to_string(),
        "decided_by_name": names.name(&decision.decided_by),
        "decided_at": decision.decided_at.as_millis(),
    })
}

/// A thread's news (a decision, a reopening, a new title) for someone who was away.
pub(crate) fn news(news: &News, names: Names<'_>) -> Value {
    json!({
        "kind": match news.kind {
            NewsKind::Decided => "decided",
            NewsKind::Reopened => "reopened",
            NewsKind::Retitled => "retitled",
        },
        "post": news.post.to_string(),
        "by": news.by.to_string(),
        "by_name": names.name(&news.by),
        "at": news.at.as_millis(),
        "text": news.text,
    })
}

/// A post as it arrives on a watch: its envelope's fields, by kind.
pub(crate) fn envelope(post: &Post, space_name: Option<&str>, names: Names<'_>) -> Value {
    let mut value = json!({
        "id": post.id().to_string(),
        "space": post.space().to_string(),
        "space_name": space_name,
        "kind": post.content().kind_name(),
        "author": post.author().to_string(),
        "author_name": names.name(&post.author()),
        "created_at": post.created_at().as_millis(),
    });
    let fields = match post.content() {
        Content::Genesis(genesis) => json!({
            "name": genesis.name,
            "description": genesis.description,
            "home_node": genesis.home_node.to_string(),
        }),
        Content::Thread(thread) => json!({
            "thread": post.id().to_string(),
            "parent": Value::Null,
            "title": thread.title,
            "body": thread.body,
        }),
        Content::Reply(reply) => json!({
            "thread": reply.root.to_string(),
            "parent": reply.parent.to_string(),
            "body": reply.body,
        }),
        Content::Edit(edit) => json!({
            "target": edit.target.to_string(),
            "title": edit.title,
            "body": edit.body,
        }),
        Content::Retraction(retraction) => json!({ "target": retraction.target.to_string() }),
        Content::Reaction(reaction) => json!({
            "target": reaction.target.to_string(),
            "reaction": reaction.reaction,
        }),
        Content::Resolve(resolve) => json!({
            "thread": resolve.thread.to_string(),
            "decision": resolve.decision,
        }),
        Content::Reopen(reopen) => json!({ "thread": reopen.thread.to_string() }),
        Content::AddMember(member)
        | Content::RemoveMember(member)
        | Content::GrantModerator(member)
        | Content::RevokeModerator(member) => json!({ "user": member.user.to_string() }),
        Content::ShareReplica(replica) | Content::UnshareReplica(replica) => {
            json!({ "node": replica.node.to_string() })
        }
        Content::Profile(profile) => json!({ "display_name": profile.display_name }),
    };
    if let (Value::Object(value), Value::Object(fields)) = (&mut value, fields) {
        value.extend(fields);
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixtures::{names, post_id, resolved_thread, thread as open_thread, user};

    #[test]
    fn posts_carry_the_required_fields() {
        let names = names();
        let view = open_thread();
        let root = post(&view.posts[0], Names(&names));
        assert_eq!(root["id"], post_id(1).to_string());
        assert_eq!(root["author"], user(1).to_string());
        assert_eq!(root["author_name"], "alice");
        assert!(root["parent"].is_null());
        assert_eq!(root["body"], "Can we ship on Friday?");
        assert_eq!(
            root["created_at"],
            crate::render::fixtures::hours_ago(3).as_millis()
        );
        assert_eq!(root["reactions"]["👍"].as_array().unwrap().len(), 2);
        let reply = post(&view.posts[2], Names(&names));
        assert_eq!(reply["parent"], post_id(2).to_string());
        assert!(reply["author_name"].is_null());
        assert!(reply["title"].is_null());
    }

    #[test]
    fn threads_carry_their_state_and_posts() {
        let names = names();
        let space = SpaceId([5; 32]);
        let open = thread(&space, &open_thread(), Names(&names));
        assert_eq!(open["id"], post_id(1).to_string());
        assert_eq!(open["title"], "Release plan");
        assert_eq!(open["reply_count"], 2);
        assert_eq!(open["resolved"], false);
        assert!(open["decision"].is_null());
        assert_eq!(open["posts"].as_array().unwrap().len(), 3);
        let resolved = thread(&space, &resolved_thread(), Names(&names));
        assert_eq!(resolved["resolved"], true);
        assert_eq!(resolved["decision"], "Ship on Friday.");
        assert_eq!(resolved["decided_by"], user(2).to_string());
    }
}
