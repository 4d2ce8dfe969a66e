//! Real mailing-list discussions (the shared corpus, when present) as Parley posts:
//! they validate, fold into threads, and replicate to an empty node.

use std::collections::BTreeMap;

use parley_protocol::content::{Content, Genesis, Member, Reply, Thread};
use parley_protocol::encoding::BoundedVec;
use parley_protocol::limits::{MAX_BODY_BYTES, MAX_TITLE_BYTES};
use parley_protocol::{Post, PostId, SecretKey, Timestamp};
use parley_tests::corpus::{CorpusMessage, clip, corpus_dir, read_list};
use parley_tests::{NOW, Replica, key, sync_pair};

/// At most this many messages, so the scenario stays quick in debug builds.
const LIMIT: usize = 600;

fn load() -> Option<Vec<CorpusMessage>> {
    let mut messages = read_list(&corpus_dir().join("r-sig-gui.jsonl"))?;
    messages.truncate(LIMIT);
    Some(messages)
}

#[test]
fn corpus_threads_validate_fold_and_replicate() {
    let Some(messages) = load() else { return };
    let founder = key(1);
    let home = key(100);
    let genesis = Genesis {
        name: "r-sig-gui".into(),
        description: "R GUI list".into(),
        home_node: home.node_id(),
        nonce: [1; 16],
    };
    let first = messages
        .first()
        .map_or(0, |m| m.date_ms)
        .saturating_sub(1000);
    let genesis = Post::sign_genesis(&founder, Timestamp(first), genesis, NOW).unwrap();
    let space = genesis.space();
    let mut a = Replica::new(&home);
    let mut b = Replica::new(&key(101));
    a.write(genesis);
    let share = Content::ShareReplica(parley_protocol::content::Replica { node: b.node });
    a.write(Post::sign(&founder, space, Timestamp(first + 1), share, NOW).unwrap());

    let mut authors: BTreeMap<String, SecretKey> = BTreeMap::new();
    let mut ids: BTreeMap<String, (PostId, PostId)> = BTreeMap::new();
    let mut bytes = 0usize;
    for (i, m) in messages.iter().enumerate() {
        let next_seed = authors.len() as u64 + 1_000;
        let author = authors.entry(m.author.clone()).or_insert_with(|| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&next_seed.to_le_bytes());
            SecretKey::from_seed(&seed)
        });
        let author = SecretKey::from_seed(&author.to_seed());
        if !a.view(&space).is_member(&author.user_id()) {
            let add = Content::AddMember(Member {
                user: author.user_id(),
            });
            a.write(
                Post::sign(
                    &founder,
                    space,
                    Timestamp(m.date_ms.saturating_sub(1)),
                    add,
                    NOW,
                )
                .unwrap(),
            );
        }
        let body = clip(&m.body, MAX_BODY_BYTES);
        let parent = m.in_reply_to.as_ref().and_then(|p| ids.get(p)).copied();
        let content = match parent {
            Some((root, parent)) => Content::Reply(Reply {
                root,
                parent,
                body,
                mentions: BoundedVec::new(),
            }),
            None => {
                let title = clip(m.subject.trim(), MAX_TITLE_BYTES).replace(char::is_control, " ");
                let title = if title.trim().is_empty() {
                    format!("message {i}")
                } else {
                    title
                };
                Content::Thread(Thread {
                    title,
                    body,
                    mentions: BoundedVec::new(),
                })
            }
        };
        let post = Post::sign(&author, space, Timestamp(m.date_ms), content, NOW).unwrap();
        let root = match post.content() {
            Content::Reply(r) => r.root,
            _ => post.id(),
        };
        ids.insert(m.message_id.clone(), (root, post.id()));
        bytes += post.bytes().len();
        a.write(post);
    }
    let view = a.view(&space);
    let shown: usize = view.threads().iter().map(|t| 1 + t.reply_count).sum();
    assert_eq!(
        shown,
        messages.len(),
        "every corpus message shows as a thread or reply"
    );

    let transfer = sync_pair(&mut a, &mut b);
    assert_eq!(b.ids(&space), a.ids(&space));
    assert_eq!(b.view(&space), view);
    assert!(b.refused.is_empty());
    eprintln!(
        "corpus: {} messages, {} post bytes, {} bytes on the wire ({:.3}x), {} rounds",
        messages.len(),
        bytes,
        transfer.bytes,
        transfer.bytes as f64 / bytes as f64,
        transfer.rounds
    );
}
