//! Deterministic discussion histories for scenarios: spaces, members, threads, replies,
//! edits, reactions and retractions, from a seed.

use parley_protocol::content::{
    Content, Edit, Genesis, Member, Reaction, Replica as ReplicaChange, Reply, Retraction, Thread,
};
use parley_protocol::encoding::BoundedVec;
use parley_protocol::{NodeId, Post, PostId, SecretKey, SpaceId, Timestamp};

use crate::{NOW, key};

/// A small deterministic generator (xorshift64*), so scenarios need no rand crate and
/// repeat exactly from their seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// The next value below `bound` (`bound` > 0).
    pub fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % bound as u64) as usize
    }
}

/// A space being written: its founder, members and clock.
#[derive(Debug)]
pub struct SpaceBuilder {
    /// The space's id.
    pub space: SpaceId,
    /// The genesis post.
    pub genesis: Post,
    /// The founder's key.
    pub founder: SecretKey,
    /// The members' keys, founder first.
    pub members: Vec<SecretKey>,
    clock: Timestamp,
    threads: Vec<PostId>,
    posts: Vec<(PostId, usize)>,
}

impl SpaceBuilder {
    /// A new space founded by key `founder` at `home`, named `name`.
    pub fn new(name: &str, founder: u8, home: NodeId) -> Self {
        let founder = key(founder);
        let start = Timestamp(NOW.as_millis() - 30 * 24 * 3_600_000);
        let genesis = Genesis {
            name: name.to_owned(),
            description: String::new(),
            home_node: home,
            nonce: [founder.user_id().0[0]; 16],
        };
        let genesis = Post::sign_genesis(&founder, start, genesis, NOW).expect("valid genesis");
        Self {
            space: genesis.space(),
            genesis,
            members: vec![SecretKey::from_seed(&founder.to_seed())],
            founder,
            clock: start,
            threads: Vec::new(),
            posts: Vec::new(),
        }
    }

    fn next_time(&mut self) -> Timestamp {
        self.clock = self.clock.saturating_add_millis(60_000);
        self.clock
    }

    fn sign(&mut self, by: usize, content: Content) -> Post {
        let at = self.next_time();
        Post::sign(&self.members[by], self.space, at, content, NOW).expect("valid post")
    }

    /// The founder adds the user with key `n` as a member.
    pub fn add_member(&mut self, n: u8) -> Post {
        let member = key(n);
        let post = self.sign(
            0,
            Content::AddMember(Member {
                user: member.user_id(),
            }),
        );
        self.members.push(member);
        post
    }

    /// The founder shares the space with `node`.
    pub fn share(&mut self, node: NodeId) -> Post {
        self.sign(0, Content::ShareReplica(ReplicaChange { node }))
    }

    /// The founder unshares the space from `node`.
    pub fn unshare(&mut self, node: NodeId) -> Post {
        self.sign(0, Content::UnshareReplica(ReplicaChange { node }))
    }

    /// One random discussion post: a thread, a reply, an edit, a reaction or a retraction.
    pub fn random_post(&mut self, rng: &mut Rng) -> Post {
        let by = rng.below(self.members.len());
        let roll = rng.below(100);
        let post = if self.threads.is_empty() || roll < 15 {
            let n = self.threads.len();
            self.sign(
                by,
                Content::Thread(Thread {
                    title: format!("Topic {n}"),
                    body: format!("Opening thoughts on topic {n}.\n\nWhat do you all think?"),
                    mentions: BoundedVec::new(),
                }),
            )
        } else if roll < 80 {
            let root = self.threads[rng.below(self.threads.len())];
            let parent = if rng.below(2) == 0 {
                root
            } else {
                self.posts[rng.below(self.posts.len())].0
            };
            self.sign(
                by,
                Content::Reply(Reply {
                    root,
                    parent,
                    body: format!("Reply number {}.", self.posts.len()),
                    mentions: BoundedVec::new(),
                }),
            )
        } else if roll < 88 {
            let (target, author) = self.posts[rng.below(self.posts.len())];
            self.sign(
                author,
                Content::Edit(Edit {
                    target,
                    title: None,
                    body: format!("Edited text {}.", self.posts.len()),
                }),
            )
        } else if roll < 96 {
            let (target, _) = self.posts[rng.below(self.posts.len())];
            self.sign(
                by,
                Content::Reaction(Reaction {
                    target,
                    reaction: "👍".to_owned(),
                }),
            )
        } else {
            let (target, author) = self.posts[rng.below(self.posts.len())];
            self.sign(author, Content::Retraction(Retraction { target }))
        };
        match post.content() {
            Content::Thread(_) => {
                self.threads.push(post.id());
                self.posts.push((post.id(), by));
            }
            Content::Reply(_) => self.posts.push((post.id(), by)),
            _ => {}
        }
        post
    }
}
