//! Criterion benches of the protocol core: encoding, ids, and folding a space into views.
//! Run: `cargo bench -p parley-protocol --bench protocol`.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use parley_protocol::content::{Content, Genesis, Member, Reply, Thread};
use parley_protocol::encoding::BoundedVec;
use parley_protocol::view::SpaceView;
use parley_protocol::{Post, PostId, SecretKey, SpaceId, Timestamp};

const NOW: Timestamp = Timestamp(1_795_564_800_000);

fn two_kib_thread() -> Post {
    let key = SecretKey::from_seed(&[1; 32]);
    let body: String =
        "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(36)[..2048].to_owned();
    Post::sign(
        &key,
        SpaceId([5; 32]),
        NOW,
        Content::Thread(Thread {
            title: "A 2 KiB post".to_owned(),
            body,
            mentions: BoundedVec::new(),
        }),
        NOW,
    )
    .expect("valid post")
}

fn encoding(c: &mut Criterion) {
    let post = two_kib_thread();
    let envelope = post.envelope().clone();
    c.bench_function("encode 2 KiB envelope", |b| b.iter(|| envelope.encode()));
    let bytes = post.bytes().to_vec();
    c.bench_function("id (BLAKE3) of 2 KiB envelope", |b| {
        b.iter(|| PostId::of_bytes(&bytes))
    });
    c.bench_function("sign 2 KiB envelope", |b| {
        let key = SecretKey::from_seed(&[1; 32]);
        b.iter_batched(
            || post.content().clone(),
            |content| Post::sign(&key, SpaceId([5; 32]), NOW, content, NOW),
            BatchSize::SmallInput,
        )
    });
}

/// A space of `n` posts: 20 members, threads of about 10 replies each.
fn space_of(n: usize) -> (SpaceId, Vec<Post>) {
    let founder = SecretKey::from_seed(&[1; 32]);
    let members: Vec<SecretKey> = (2..22).map(|i| SecretKey::from_seed(&[i; 32])).collect();
    let start = Timestamp(NOW.as_millis() - 100_000_000);
    let genesis = Genesis {
        name: "bench".into(),
        description: String::new(),
        home_node: founder.node_id(),
        nonce: [0; 16],
    };
    let genesis = Post::sign_genesis(&founder, start, genesis, NOW).expect("valid genesis");
    let space = genesis.space();
    let mut posts = vec![genesis];
    for (i, m) in members.iter().enumerate() {
        let add = Content::AddMember(Member { user: m.user_id() });
        posts.push(
            Post::sign(
                &founder,
                space,
                start.saturating_add_millis(1 + i as u64),
                add,
                NOW,
            )
            .expect("valid"),
        );
    }
    let mut root = None;
    let mut t = 1_000;
    while posts.len() < n {
        let author = &members[posts.len() % members.len()];
        t += 1_000;
        let at = start.saturating_add_millis(t);
        let content = match root {
            Some(root) if posts.len() % 10 != 0 => {
                let parent = posts[posts.len() - 1 - (posts.len() % 3).min(posts.len() - 1)].id();
                Content::Reply(Reply {
                    root,
                    parent,
                    body: "I agree with the point above, with one caveat.".repeat(8),
                    mentions: BoundedVec::new(),
                })
            }
            _ => Content::Thread(Thread {
                title: format!("Topic {t}"),
                body: "What do we think about this?".repeat(20),
                mentions: BoundedVec::new(),
            }),
        };
        let post = Post::sign(author, space, at, content, NOW).expect("valid");
        if matches!(post.content(), Content::Thread(_)) {
            root = Some(post.id());
        }
        posts.push(post);
    }
    (space, posts)
}

fn views(c: &mut Criterion) {
    let (space, posts) = space_of(10_000);
    let mut group = c.benchmark_group("views");
    group.sample_size(10);
    group.bench_function("fold 10,000-post space", |b| {
        b.iter(|| SpaceView::fold(space, posts.iter()))
    });
    let view = SpaceView::fold(space, posts.iter());
    group.bench_function("thread list of 10,000-post space", |b| {
        b.iter(|| view.threads())
    });
    group.finish();
}

criterion_group!(benches, encoding, views);
criterion_main!(benches);
