//! `views.json`: a small fixed history and the views it folds into (`spec/06-views.md`).
//!
//! The history has a founder, two members, a moderator and a non-member; a thread with
//! nested replies, an edit, a moderator's retraction (whose answer moves under the
//! root), a reaction, a resolve, a profile, a second thread, and a reply that never
//! shows because its author is no member.

use serde_json::{Value, json};

use super::{FIXED_NOW, key};
use crate::content::Genesis;
use crate::envelope::Post;
use crate::keys::SecretKey;
use crate::time::Timestamp;
use crate::view::fixture::{add, edit, grant, profile, react, reply, resolve, retract, thread};
use crate::view::{ReadCursor, SpaceView};

/// The people of the history: key number and name.
const PEOPLE: [(u8, &str); 5] = [
    (1, "ana (founder)"),
    (2, "ben (member)"),
    (3, "cleo (member)"),
    (4, "dev (moderator)"),
    (5, "eve (not a member)"),
];

/// `views.json`.
pub fn views() -> Value {
    history().map_or(Value::Null, |posts| document(&posts))
}

/// The history, each post with a label, in the order written.
fn history() -> Option<Vec<(&'static str, Post)>> {
    let [ana, ben, cleo, dev, eve] = PEOPLE.map(|(n, _)| key(n));
    let start = Timestamp(FIXED_NOW.as_millis() - 7_200_000);
    let at = |seconds: u64| start.saturating_add_millis(seconds * 1_000);
    let genesis = Genesis {
        name: "design-review".to_owned(),
        description: "Architecture decisions for the storage layer.".to_owned(),
        home_node: key(9).node_id(),
        nonce: [3; 16],
    };
    let genesis = Post::sign_genesis(&ana, at(0), genesis, FIXED_NOW).ok()?;
    let space = genesis.space();
    let sign = |key: &SecretKey, seconds: u64, content| {
        Post::sign(key, space, at(seconds), content, FIXED_NOW).ok()
    };
    let mut posts = vec![("genesis", genesis)];
    posts.push(("add ben", sign(&ana, 1, add(ben.user_id()))?));
    posts.push(("add cleo", sign(&ana, 2, add(cleo.user_id()))?));
    posts.push(("grant dev", sign(&ana, 3, grant(dev.user_id()))?));
    posts.push(("ben's profile", sign(&ben, 4, profile("Ben"))?));
    let root = sign(
        &ana,
        10,
        thread("Pick a database", "Postgres or SQLite for the node index?"),
    )?;
    let root_id = root.id();
    posts.push(("thread", root));
    let ben_reply = sign(
        &ben,
        20,
        reply(root_id, root_id, "SQLite: one file, no server."),
    )?;
    let ben_id = ben_reply.id();
    posts.push(("ben replies", ben_reply));
    let cleo_reply = sign(
        &cleo,
        30,
        reply(root_id, ben_id, "Agreed, if writes stay single-node."),
    )?;
    let cleo_id = cleo_reply.id();
    posts.push(("cleo answers ben", cleo_reply));
    posts.push((
        "ana answers cleo",
        sign(&ana, 35, reply(root_id, cleo_id, "They do."))?,
    ));
    posts.push((
        "ana edits the thread",
        sign(
            &ana,
            40,
            edit(
                root_id,
                Some("Pick a database for the index"),
                "Postgres or SQLite?",
            ),
        )?,
    ));
    posts.push(("cleo reacts to ben", sign(&cleo, 45, react(ben_id, "+1"))?));
    let spam = sign(
        &ben,
        50,
        reply(root_id, root_id, "Unrelated: who has the projector?"),
    )?;
    let spam_id = spam.id();
    posts.push(("ben goes off topic", spam));
    posts.push((
        "cleo answers the off-topic reply",
        sign(&cleo, 52, reply(root_id, spam_id, "Me."))?,
    ));
    posts.push((
        "dev retracts the off-topic reply",
        sign(&dev, 55, retract(spam_id))?,
    ));
    posts.push((
        "eve, not a member, replies",
        sign(&eve, 60, reply(root_id, root_id, "Let me in."))?,
    ));
    posts.push((
        "dev resolves",
        sign(&dev, 70, resolve(root_id, "SQLite, revisit at 10 nodes."))?,
    ));
    posts.push((
        "ben starts a thread",
        sign(&ben, 80, thread("Lunch on Friday?", ""))?,
    ));
    Some(posts)
}

fn document(posts: &[(&'static str, Post)]) -> Value {
    let Some((_, genesis)) = posts.first() else {
        return Value::Null;
    };
    let space = genesis.space();
    let view = SpaceView::fold(space, posts.iter().map(|(_, post)| post));
    let retracted = SpaceView::retracted(space, posts.iter().map(|(_, post)| post));
    let ben = key(2).user_id();
    let mut ben_cursor = ReadCursor::new();
    if let Some((_, root)) = posts.iter().find(|(label, _)| *label == "thread") {
        ben_cursor.mark(root.id());
    }
    let people: Vec<Value> = PEOPLE
        .iter()
        .map(
            |(n, name)| json!({ "key": n, "name": name, "user_id": key(*n).user_id().to_string() }),
        )
        .collect();
    let posts: Vec<Value> = posts
        .iter()
        .map(|(label, post)| {
            json!({
                "label": label,
                "kind": post.content().kind_name(),
                "author": post.author().to_string(),
                "created_at": post.created_at().as_millis(),
                "id": post.id().to_string(),
                "bytes_hex": hex::encode(post.bytes()),
            })
        })
        .collect();
    json!({
        "description": "A fixed history of one space and the views it folds into (spec/06-views.md). Fold the posts (bytes_hex, valid at `now`) in any order: `view` must come out equal. `retracted` lists the effectively retracted posts; `unread` is ben's unread list with an empty cursor and with a cursor holding the first thread's root. Keys are the fixed-seed keys of keys.json (seed = 32 bytes of the key number).",
        "now": FIXED_NOW.as_millis(),
        "space": space.to_string(),
        "people": people,
        "posts": posts,
        "retracted": retracted.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "view": serde_json::to_value(&view).unwrap_or(Value::Null),
        "unread": {
            "ben, nothing read": serde_json::to_value(view.unread(&ben, &ReadCursor::new())).unwrap_or(Value::Null),
            "ben, root read": serde_json::to_value(view.unread(&ben, &ben_cursor)).unwrap_or(Value::Null),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector is what its own bytes fold into, in reverse order too.
    #[test]
    fn the_vector_refolds_from_its_bytes() {
        let document = views();
        let posts: Vec<Post> = document["posts"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .map(|p| {
                Post::decode(
                    &hex::decode(p["bytes_hex"].as_str().unwrap()).unwrap(),
                    FIXED_NOW,
                )
                .unwrap()
            })
            .collect();
        let space = posts.last().unwrap().space();
        assert_eq!(space.to_string(), document["space"]);
        let view = SpaceView::fold(space, &posts);
        assert_eq!(serde_json::to_value(&view).unwrap(), document["view"]);
    }

    /// The history shows what the description promises.
    #[test]
    fn the_vector_covers_the_rules() {
        let document = views();
        let view = &document["view"];
        assert_eq!(view["members"].as_array().unwrap().len(), 4);
        assert_eq!(view["moderators"].as_array().unwrap().len(), 2);
        assert_eq!(view["threads"].as_array().unwrap().len(), 2);
        assert_eq!(document["retracted"].as_array().unwrap().len(), 1);
        let root = view["threads"][1]["id"].as_str().unwrap();
        let thread = &view["thread_views"][root];
        assert_eq!(thread["title"], "Pick a database for the index");
        let depths: Vec<u64> = thread["posts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["depth"].as_u64().unwrap())
            .collect();
        assert_eq!(depths, vec![0, 1, 2, 3, 1]);
        assert_eq!(thread["posts"][4]["parent_missing"], true);
        assert_eq!(
            thread["resolution"]["decision"],
            "SQLite, revisit at 10 nodes."
        );
        assert_eq!(view["decisions"].as_array().unwrap().len(), 1);
        assert_eq!(view["display_names"].as_object().unwrap().len(), 1);
        assert_eq!(
            document["unread"]["ben, nothing read"][0]["posts"]
                .as_array()
                .unwrap()
                .len(),
            4
        );
        assert_eq!(
            document["unread"]["ben, root read"][0]["posts"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
    }
}
