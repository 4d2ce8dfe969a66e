//! Helpers for federation scenarios: groups of in-process nodes and how they are
//! peered, the view every node should reach, bounded observation of what must not
//! happen, private spaces, and real discussions from the shared corpus as one space.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use parley_node::federation::FederationConfig;
use parley_protocol::content::{Content, Genesis, Member, Replica, Reply, Thread};
use parley_protocol::encoding::BoundedVec;
use parley_protocol::limits::{MAX_BODY_BYTES, MAX_TITLE_BYTES};
use parley_protocol::view::SpaceView;
use parley_protocol::{NodeId, Post, PostId, SecretKey, SpaceId, Timestamp};
use tempfile::TempDir;

use crate::cluster::TestPeer;
use crate::corpus::{CorpusMessage, clip, corpus_dir, read_corpus};
use crate::history::{Rng, SpaceBuilder};
use crate::link::Link;
use crate::{NOW, key};

/// Nodes started on fresh stores, with the directories that hold them (removed when
/// this is dropped, so keep it alive for the whole scenario).
#[derive(Debug)]
pub struct Nodes {
    /// The nodes, in the order of the keys they were started with.
    pub peers: Vec<TestPeer>,
    _dirs: Vec<TempDir>,
}

impl Nodes {
    /// Starts one node per key number in `keys`, each on an empty store.
    pub async fn start(keys: &[u8], config: &FederationConfig) -> Self {
        let mut peers = Vec::with_capacity(keys.len());
        let mut dirs = Vec::with_capacity(keys.len());
        for n in keys {
            let dir = tempfile::tempdir().expect("temporary directory");
            peers.push(TestPeer::start(key(*n), dir.path(), config.clone()).await);
            dirs.push(dir);
        }
        Self { peers, _dirs: dirs }
    }
}

/// Makes `a` and `b` configured peers of each other, each dialing the other directly.
pub fn peer_both(a: &TestPeer, b: &TestPeer) {
    a.peer_with(b, b.addr);
    b.peer_with(a, a.addr);
}

/// Peers every pair of `peers`, both ways, directly.
pub fn mesh(peers: &[TestPeer]) {
    for (i, a) in peers.iter().enumerate() {
        for b in &peers[i + 1..] {
            peer_both(a, b);
        }
    }
}

/// The two relays between two nodes that dial each other through [`Link`]s: one per
/// dialing direction, so whichever connection the nodes keep crosses a relay.
#[derive(Debug)]
pub struct Crossing {
    /// `a` dials `b` through this one.
    pub a_to_b: Link,
    /// `b` dials `a` through this one.
    pub b_to_a: Link,
}

impl Crossing {
    /// Drops every datagram both ways on both relays.
    pub fn cut(&self) {
        self.a_to_b.cut();
        self.b_to_a.cut();
    }

    /// Forwards datagrams again on both relays.
    pub fn heal(&self) {
        self.a_to_b.heal();
        self.b_to_a.heal();
    }
}

/// Makes `a` and `b` configured peers of each other, each dialing the other through a
/// relay of its own.
pub async fn peer_through_links(a: &TestPeer, b: &TestPeer) -> Crossing {
    let a_to_b = Link::start(b.addr).await.expect("relay starts");
    let b_to_a = Link::start(a.addr).await.expect("relay starts");
    a.peer_with(b, a_to_b.addr());
    b.peer_with(a, b_to_a.addr());
    Crossing { a_to_b, b_to_a }
}

/// What readers see of `space` after exactly `posts` (in any order) were stored.
pub fn reference(space: SpaceId, posts: &[Post]) -> SpaceView {
    SpaceView::fold(space, posts.iter())
}

/// Whether each of `peers` shows exactly `want` for `space`: threads with every post's
/// text, revisions and reactions, members, moderators, replicas and decisions.
pub fn all_show(peers: &[&TestPeer], space: &SpaceId, want: &SpaceView) -> bool {
    peers.iter().all(|p| *p.view(space) == *want)
}

/// Whether every one of `peers` shows the same of `space` (by [`TestPeer::shown`]).
pub fn same_shown(peers: &[&TestPeer], space: &SpaceId) -> bool {
    let mut shown = peers.iter().map(|p| p.shown(space));
    let first = shown.next();
    shown.all(|s| Some(s) == first)
}

/// Watches `check` for `window` and fails the test if it ever holds. Absence can only
/// be observed for a while, never proven by waiting, so scenarios that expect nothing
/// to arrive watch for a bounded time after everything that could carry it arrived
/// elsewhere.
pub async fn never(what: &str, window: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + window;
    loop {
        assert!(!check(), "{what}");
        if Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A space homed at `home` and shared with no other node: its genesis, a member, and a
/// few discussion posts. Its founder is key `founder`.
pub fn private_space(name: &str, founder: u8, home: NodeId, rng: &mut Rng) -> (SpaceId, Vec<Post>) {
    let mut builder = SpaceBuilder::new(name, founder, home);
    let mut posts = vec![builder.genesis.clone(), builder.add_member(founder + 1)];
    for _ in 0..8 {
        posts.push(builder.random_post(rng));
    }
    (builder.space, posts)
}

/// Fails the test if any of `others` holds anything of `space`: the space is not among
/// theirs and they hold no item of it.
pub fn assert_private(space: &SpaceId, others: &[&TestPeer]) {
    for peer in others {
        assert!(
            !peer.spaces().contains(space),
            "node {} holds the private space",
            peer.id()
        );
        assert!(
            peer.ids(space).is_empty(),
            "node {} holds items of the private space",
            peer.id()
        );
    }
}

/// A post in `builder`'s space by its member `by` (index into `members`), dated
/// `minute` minutes after a fixed moment two days before [`NOW`], so after everything
/// the builder dates itself.
pub fn post_at(builder: &SpaceBuilder, by: usize, minute: u64, content: Content) -> Post {
    let at = Timestamp(NOW.as_millis() - 2 * 24 * 3_600_000 + minute * 60_000);
    Post::sign(&builder.members[by], builder.space, at, content, NOW).expect("valid post")
}

/// A new thread with this title and body.
pub fn thread(title: &str, body: &str) -> Content {
    Content::Thread(Thread {
        title: title.to_owned(),
        body: body.to_owned(),
        mentions: BoundedVec::new(),
    })
}

/// A reply under `parent` in the thread `root`.
pub fn reply(root: PostId, parent: PostId, body: &str) -> Content {
    Content::Reply(Reply {
        root,
        parent,
        body: body.to_owned(),
        mentions: BoundedVec::new(),
    })
}

/// One space built from messages of the shared mailing-list corpus.
#[derive(Debug)]
pub struct CorpusSpace {
    /// The space's id.
    pub space: SpaceId,
    /// Every post: genesis, share, members added, then the messages as threads and
    /// replies.
    pub posts: Vec<Post>,
    /// How many corpus messages became posts.
    pub messages: usize,
    /// Their envelope bytes.
    pub bytes: usize,
}

/// The oldest `limit` messages of every list in `../shared/corpus` as one space homed
/// at `home` and shared with `share`: each author a member (added just before their
/// first message), each message a thread or a reply to its parent when the parent is
/// among them. `None` (with a message) when the corpus is not present.
pub fn corpus_space(limit: usize, home: NodeId, share: NodeId) -> Option<CorpusSpace> {
    let mut messages: Vec<CorpusMessage> = read_corpus(&corpus_dir())?;
    messages.sort_by_key(|m| m.date_ms);
    messages.truncate(limit);
    let founder = key(1);
    let first = messages
        .first()
        .map_or(0, |m| m.date_ms)
        .saturating_sub(1_000);
    let genesis = Genesis {
        name: "r-lists".into(),
        description: "R mailing lists".into(),
        home_node: home,
        nonce: [9; 16],
    };
    let genesis = Post::sign_genesis(&founder, Timestamp(first), genesis, NOW).expect("genesis");
    let space = genesis.space();
    let share = Content::ShareReplica(Replica { node: share });
    let share = Post::sign(&founder, space, Timestamp(first + 1), share, NOW).expect("share");
    let mut posts = vec![genesis, share];
    let mut authors: BTreeMap<String, SecretKey> = BTreeMap::new();
    let mut threads: BTreeMap<String, (PostId, PostId)> = BTreeMap::new();
    let mut bytes = 0;
    let mut count = 0;
    for (i, m) in messages.iter().enumerate() {
        if !authors.contains_key(&m.author) {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(authors.len() as u64 + 10_000).to_le_bytes());
            let author = SecretKey::from_seed(&seed);
            let add = Content::AddMember(Member {
                user: author.user_id(),
            });
            let at = Timestamp(m.date_ms.saturating_sub(1).max(first + 2));
            posts.push(Post::sign(&founder, space, at, add, NOW).expect("add member"));
            authors.insert(m.author.clone(), author);
        }
        let author = &authors[&m.author];
        let body = clip(&m.body, MAX_BODY_BYTES);
        let parent = m.in_reply_to.as_ref().and_then(|p| threads.get(p)).copied();
        let content = match parent {
            Some((root, parent)) => reply(root, parent, &body),
            None => {
                let title = clip(m.subject.trim(), MAX_TITLE_BYTES).replace(char::is_control, " ");
                let title = if title.trim().is_empty() {
                    format!("message {i}")
                } else {
                    title
                };
                thread(&title, &body)
            }
        };
        let at = Timestamp(m.date_ms.max(first + 3));
        let Ok(post) = Post::sign(author, space, at, content, NOW) else {
            continue;
        };
        let root = match post.content() {
            Content::Reply(r) => r.root,
            _ => post.id(),
        };
        threads.insert(m.message_id.clone(), (root, post.id()));
        bytes += post.bytes().len();
        count += 1;
        posts.push(post);
    }
    Some(CorpusSpace {
        space,
        posts,
        messages: count,
        bytes,
    })
}

/// The ids of `posts`.
pub fn ids_of(posts: &[Post]) -> BTreeSet<PostId> {
    posts.iter().map(Post::id).collect()
}
