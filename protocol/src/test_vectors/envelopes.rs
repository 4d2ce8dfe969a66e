//! Vectors for keys and for the canonical bytes, signature and id of every kind.

use serde_json::{Value, json};

use crate::content::{
    Content, Edit, Genesis, Member, Profile, Reaction, Reopen, Replica, Reply, Resolve, Retraction,
    Thread,
};
use crate::encoding::BoundedVec;
use crate::envelope::{Post, SIGNATURE_CONTEXT};
use crate::id::{NodeId, SpaceId};
use crate::keys::SecretKey;
use crate::time::Timestamp;

/// The validator clock every vector is checked against: 2026-11-25T00:00:00Z.
pub const FIXED_NOW: Timestamp = Timestamp(1_795_564_800_000);

/// The fixed-seed key number `n`: seed = 32 bytes of `n`.
pub fn key(n: u8) -> SecretKey {
    SecretKey::from_seed(&[n; 32])
}

/// The founder (key 1), a member (key 2) and the home node (key 9).
fn node() -> NodeId {
    key(9).node_id()
}

/// One post of every kind, in a small space founded by key 1. Deterministic.
pub fn sample_posts() -> Vec<Post> {
    let founder = key(1);
    let member = key(2);
    let start = Timestamp(FIXED_NOW.as_millis() - 3_600_000);
    let at = |offset: u64| start.saturating_add_millis(offset);
    let genesis = Genesis {
        name: "partners".to_owned(),
        description: "Where org A and org B decide things together.".to_owned(),
        home_node: node(),
        nonce: [7; 16],
    };
    let space = SpaceId::derive(&founder.user_id(), at(0), &genesis);
    let sign = |key: &SecretKey, offset: u64, content: Content| {
        Post::sign(key, space, at(offset), content, FIXED_NOW)
    };
    let mut posts = Vec::new();
    let Ok(genesis) = Post::sign_genesis(&founder, at(0), genesis, FIXED_NOW) else {
        return posts;
    };
    posts.push(genesis);
    let thread_body = "Should we move the weekly sync to Thursdays?\n\n- pro: fewer clashes\n- con: Friday releases";
    let steps: Vec<(&SecretKey, u64, Content)> = vec![
        (
            &founder,
            1_000,
            Content::AddMember(Member {
                user: member.user_id(),
            }),
        ),
        (
            &founder,
            2_000,
            Content::GrantModerator(Member {
                user: member.user_id(),
            }),
        ),
        (
            &founder,
            3_000,
            Content::ShareReplica(Replica {
                node: key(10).node_id(),
            }),
        ),
        (
            &member,
            4_000,
            Content::Profile(Profile {
                display_name: "Bea".to_owned(),
            }),
        ),
        (
            &founder,
            5_000,
            Content::Thread(Thread {
                title: "Weekly sync day".to_owned(),
                body: thread_body.to_owned(),
                mentions: BoundedVec::try_from_vec(vec![member.user_id()]).unwrap_or_default(),
            }),
        ),
    ];
    for (key, offset, content) in steps {
        if let Ok(post) = sign(key, offset, content) {
            posts.push(post);
        }
    }
    let root = posts[posts.len() - 1].id();
    let follow: Vec<(&SecretKey, u64, Content)> = vec![
        (
            &member,
            6_000,
            Content::Reply(Reply {
                root,
                parent: root,
                body: "Thursday works for us. 👍".to_owned(),
                mentions: BoundedVec::new(),
            }),
        ),
        (
            &founder,
            7_000,
            Content::Edit(Edit {
                target: root,
                title: Some("Weekly sync: Thursdays?".to_owned()),
                body: thread_body.replace("Thursdays?", "Thursdays at 15:00 UTC?"),
            }),
        ),
        (
            &member,
            8_000,
            Content::Reaction(Reaction {
                target: root,
                reaction: "👍".to_owned(),
            }),
        ),
        (
            &founder,
            9_000,
            Content::Resolve(Resolve {
                thread: root,
                decision: "From next week the sync is on Thursdays at 15:00 UTC.".to_owned(),
            }),
        ),
        (&founder, 10_000, Content::Reopen(Reopen { thread: root })),
        (
            &founder,
            11_000,
            Content::RevokeModerator(Member {
                user: member.user_id(),
            }),
        ),
        (
            &founder,
            12_000,
            Content::UnshareReplica(Replica {
                node: key(10).node_id(),
            }),
        ),
        (
            &founder,
            13_000,
            Content::RemoveMember(Member {
                user: member.user_id(),
            }),
        ),
    ];
    for (key, offset, content) in follow {
        if let Ok(post) = sign(key, offset, content) {
            posts.push(post);
        }
    }
    let reaction = posts
        .iter()
        .find(|p| matches!(p.content(), Content::Reaction(_)))
        .map(Post::id);
    if let Some(target) = reaction
        && let Ok(post) = sign(&member, 8_500, Content::Retraction(Retraction { target }))
    {
        posts.push(post);
    }
    posts
}

/// `keys.json`: seeds, public keys and their text forms.
pub(super) fn keys() -> Value {
    let keys: Vec<Value> = [1u8, 2, 9, 10]
        .iter()
        .map(|n| {
            let key = key(*n);
            json!({
                "seed_hex": hex::encode(key.to_seed()),
                "public_key_hex": hex::encode(key.user_id().as_bytes()),
                "user_id": key.user_id().to_string(),
                "node_id": key.node_id().to_string(),
            })
        })
        .collect();
    json!({
        "description": "Ed25519 keys from fixed seeds (RFC 8032 secret key = seed) and the text forms of their ids (spec/03-ids-and-signatures.md).",
        "keys": keys,
    })
}

/// `envelopes.json`: every kind, with its fields, canonical bytes, signed message, signature and id.
pub(super) fn envelopes() -> Value {
    let vectors: Vec<Value> = sample_posts()
        .iter()
        .map(|post| {
            let envelope = post.envelope();
            let bytes = post.bytes();
            let signed = &bytes[..bytes.len() - 64];
            json!({
                "kind": envelope.content.kind_name(),
                "kind_tag": envelope.content.tag(),
                "version": envelope.version,
                "space": envelope.space.to_string(),
                "author": envelope.author.to_string(),
                "created_at": envelope.created_at.as_millis(),
                "content": content_json(&envelope.content),
                "bytes_hex": hex::encode(bytes),
                "signing_message_hex": hex::encode([SIGNATURE_CONTEXT, signed].concat()),
                "signature_hex": hex::encode(envelope.signature.0),
                "id_hex": hex::encode(post.id().as_bytes()),
                "id": post.id().to_string(),
            })
        })
        .collect();
    json!({
        "description": "One envelope of every kind, signed by fixed-seed keys (keys.json). Each must decode, validate at validator time `now`, re-encode to bytes_hex, and hash to id.",
        "now": FIXED_NOW.as_millis(),
        "signature_context_hex": hex::encode(SIGNATURE_CONTEXT),
        "envelopes": vectors,
    })
}

/// A kind's fields as JSON, ids in their text form.
pub(super) fn content_json(content: &Content) -> Value {
    match content {
        Content::Genesis(g) => json!({
            "name": g.name, "description": g.description,
            "home_node": g.home_node.to_string(), "nonce_hex": hex::encode(g.nonce),
        }),
        Content::Thread(t) => json!({
            "title": t.title, "body": t.body,
            "mentions": t.mentions.iter().map(ToString::to_string).collect::<Vec<_>>(),
        }),
        Content::Reply(r) => json!({
            "root": r.root.to_string(), "parent": r.parent.to_string(), "body": r.body,
            "mentions": r.mentions.iter().map(ToString::to_string).collect::<Vec<_>>(),
        }),
        Content::Edit(e) => {
            json!({ "target": e.target.to_string(), "title": e.title, "body": e.body })
        }
        Content::Retraction(r) => json!({ "target": r.target.to_string() }),
        Content::Reaction(r) => json!({ "target": r.target.to_string(), "reaction": r.reaction }),
        Content::Resolve(r) => json!({ "thread": r.thread.to_string(), "decision": r.decision }),
        Content::Reopen(r) => json!({ "thread": r.thread.to_string() }),
        Content::AddMember(m)
        | Content::RemoveMember(m)
        | Content::GrantModerator(m)
        | Content::RevokeModerator(m) => json!({ "user": m.user.to_string() }),
        Content::ShareReplica(r) | Content::UnshareReplica(r) => {
            json!({ "node": r.node.to_string() })
        }
        Content::Profile(p) => json!({ "display_name": p.display_name }),
    }
}
