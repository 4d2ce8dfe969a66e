//! The store against a model: random sequences of stores (with repeats), tombstones and
//! reopenings, checked after every step against a `BTreeMap` of what each post should be.

// Test helpers panic on failure, like the tests that call them.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use parley_node::storage::{Inserted, Storage};
use parley_protocol::content::{Edit, Reaction, Reply, Retraction, Thread};
use parley_protocol::encoding::BoundedVec;
use parley_protocol::sync::Item;
use parley_protocol::{Content, Post, PostId, SecretKey, SpaceId, Timestamp};
use proptest::prelude::*;

const NOW: u64 = 1_800_000_000_000;

/// A fixed set of posts in two spaces and three threads, some filed under others.
struct Pool {
    posts: Vec<Post>,
    /// For each post, the post it is filed under in the thread index, if any.
    anchors: Vec<Option<usize>>,
    /// The thread roots.
    roots: Vec<usize>,
}

fn pool() -> Pool {
    let now = Timestamp::from_millis(NOW);
    let ada = SecretKey::from_seed(&[1; 32]);
    let bob = SecretKey::from_seed(&[2; 32]);
    let one = SpaceId::from_bytes([1; 32]);
    let two = SpaceId::from_bytes([2; 32]);
    let mut posts: Vec<Post> = Vec::new();
    let mut sign = |key: &SecretKey, space, at: u64, content| {
        let post = Post::sign(
            key,
            space,
            Timestamp::from_millis(NOW - 1000 + at),
            content,
            now,
        )
        .unwrap();
        posts.push(post.clone());
        post.id()
    };
    let thread = |title: &str| {
        Content::Thread(Thread {
            title: title.into(),
            body: "body".into(),
            mentions: BoundedVec::new(),
        })
    };
    let reply = |root, parent| {
        Content::Reply(Reply {
            root,
            parent,
            body: "re".into(),
            mentions: BoundedVec::new(),
        })
    };
    let root1 = sign(&ada, one, 10, thread("one")); // 0
    let r1 = sign(&bob, one, 20, reply(root1, root1)); // 1
    let _r2 = sign(&ada, one, 20, reply(root1, r1)); // 2 (same time as 1)
    let like = sign(
        &ada,
        one,
        30,
        Content::Reaction(Reaction {
            target: r1,
            reaction: "+1".into(),
        }),
    ); // 3
    let _unlike = sign(
        &ada,
        one,
        40,
        Content::Retraction(Retraction { target: like }),
    ); // 4
    let root2 = sign(&bob, one, 5, thread("two")); // 5
    let _edit = sign(
        &bob,
        one,
        50,
        Content::Edit(Edit {
            target: root2,
            title: Some("2".into()),
            body: "b".into(),
        }),
    ); // 6
    let root3 = sign(&ada, two, 10, thread("three")); // 7
    let _r3 = sign(&bob, two, 11, reply(root3, root3)); // 8
    Pool {
        posts,
        anchors: vec![
            None,
            Some(0),
            Some(0),
            Some(1),
            Some(3),
            None,
            Some(5),
            None,
            Some(7),
        ],
        roots: vec![0, 5, 7],
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Held {
    Full,
    Tombstone,
}

#[derive(Clone, Debug)]
enum Op {
    Insert(Vec<usize>),
    Drop(Vec<usize>),
    Reopen,
}

fn op(len: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => prop::collection::vec(0..len, 1..5).prop_map(Op::Insert),
        2 => prop::collection::vec(0..len, 1..3).prop_map(Op::Drop),
        1 => Just(Op::Reopen),
    ]
}

fn check(storage: &Storage, pool: &Pool, model: &BTreeMap<PostId, Held>) {
    let _now = Timestamp::from_millis(NOW);
    let held = |post: &Post| model.get(&post.id()).copied();
    for post in &pool.posts {
        let id = post.id();
        assert_eq!(
            storage.contains(&id).unwrap(),
            held(post) == Some(Held::Full)
        );
        assert_eq!(
            storage.is_retracted(&id).unwrap(),
            held(post) == Some(Held::Tombstone)
        );
        let expected = (held(post) == Some(Held::Full)).then(|| post.clone());
        assert_eq!(storage.get(&id).unwrap(), expected);
    }
    let mut spaces = BTreeSet::new();
    for space in pool.posts.iter().map(Post::space).collect::<BTreeSet<_>>() {
        let of_space = || pool.posts.iter().filter(move |p| p.space() == space);
        let mut items: Vec<Item> = of_space()
            .filter(|p| held(p).is_some())
            .map(Item::from)
            .collect();
        items.sort();
        if !items.is_empty() {
            spaces.insert(space);
        }
        assert_eq!(storage.items(&space).unwrap(), items);
        let mut full: Vec<Post> = of_space()
            .filter(|p| held(p) == Some(Held::Full))
            .cloned()
            .collect();
        full.sort_by_key(Post::sort_key);
        assert_eq!(storage.space_posts(&space).unwrap(), full, "space posts");
        assert_eq!(storage.count(&space).unwrap(), full.len() as u64);
        let mut tombstones: Vec<Item> = of_space()
            .filter(|p| held(p) == Some(Held::Tombstone))
            .map(Item::from)
            .collect();
        tombstones.sort();
        assert_eq!(storage.tombstones(&space).unwrap(), tombstones);
    }
    assert_eq!(
        storage.spaces().unwrap(),
        spaces.into_iter().collect::<Vec<_>>()
    );
    // A thread is what the index reaches from its root: posts filed under posts this
    // node knows (in full or as tombstones), and only those held in full are returned.
    let reaches = |mut i: usize, root: usize| loop {
        if i == root {
            return true;
        }
        match pool.anchors[i] {
            Some(anchor) if model.contains_key(&pool.posts[anchor].id()) || anchor == root => {
                i = anchor
            }
            _ => return false,
        }
    };
    for &root in &pool.roots {
        let mut expected: Vec<&Post> = (0..pool.posts.len())
            .filter(|&i| held(&pool.posts[i]) == Some(Held::Full) && reaches(i, root))
            .map(|i| &pool.posts[i])
            .collect();
        expected.sort_by_key(|p| p.sort_key());
        let root = &pool.posts[root];
        assert_eq!(
            ids(&storage.thread_posts(&root.space(), &root.id()).unwrap()),
            ids(expected)
        );
    }
}

fn ids<'a>(posts: impl IntoIterator<Item = &'a Post>) -> Vec<PostId> {
    posts.into_iter().map(Post::id).collect()
}

fn reopen(dir: &Path, storage: Storage) -> Storage {
    storage.flush().unwrap();
    drop(storage);
    Storage::open(dir).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn storage_behaves_like_the_model(ops in prop::collection::vec(op(9), 1..14)) {
        let pool = pool();
        let tmp = tempfile::tempdir().unwrap();
        let mut storage = Storage::open(tmp.path()).unwrap();
        let mut model: BTreeMap<PostId, Held> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Insert(indexes) => {
                    let posts: Vec<Post> = indexes.iter().map(|i| pool.posts[*i].clone()).collect();
                    let mut expected = Vec::new();
                    for post in &posts {
                        expected.push(match model.get(&post.id()) {
                            Some(Held::Tombstone) => Inserted::Retracted,
                            Some(Held::Full) => Inserted::Duplicate,
                            None => {
                                model.insert(post.id(), Held::Full);
                                Inserted::New
                            }
                        });
                    }
                    prop_assert_eq!(storage.insert(&posts).unwrap(), expected);
                }
                Op::Drop(indexes) => {
                    let space = pool.posts[indexes[0]].space();
                    let ids: BTreeSet<PostId> = indexes.iter().map(|i| pool.posts[*i].id()).collect();
                    let mut dropped = 0;
                    for i in &indexes {
                        let post = &pool.posts[*i];
                        if post.space() == space && model.get(&post.id()) == Some(&Held::Full) {
                            model.insert(post.id(), Held::Tombstone);
                            dropped += 1;
                        }
                    }
                    prop_assert_eq!(storage.drop_retracted(&space, &ids).unwrap(), dropped);
                }
                Op::Reopen => storage = reopen(tmp.path(), storage),
            }
            check(&storage, &pool, &model);
        }
        let storage = reopen(tmp.path(), storage);
        check(&storage, &pool, &model);
    }
}
