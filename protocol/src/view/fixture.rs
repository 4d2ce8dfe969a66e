//! Fixtures for tests of the views: fixed-seed keys, a space, and short constructors of
//! each kind's content. Behind the `test-support` feature; never in a release build.

use crate::content::{
    Content, Edit, Genesis, Member, Profile, Reaction, Reopen, Replica, Reply, Resolve, Retraction,
    Thread,
};
use crate::encoding::BoundedVec;
use crate::envelope::Post;
use crate::id::{NodeId, PostId, SpaceId, UserId};
use crate::keys::SecretKey;
use crate::time::Timestamp;
use crate::view::SpaceView;

/// When the fixture space starts: 2026-11-01T00:00:00Z.
pub const START: Timestamp = Timestamp(1_793_491_200_000);
/// The signing clock: far after anything a fixture dates, so no post is refused as
/// coming from the future.
pub const SIGNING_NOW: Timestamp = Timestamp(4_000_000_000_000);

/// The fixed-seed key number `n` (seed = 32 bytes of `n`).
pub fn key(n: u8) -> SecretKey {
    SecretKey::from_seed(&[n; 32])
}

/// A space founded by one key at [`START`], and a way to sign posts in it.
#[derive(Debug)]
pub struct SpaceFixture {
    /// The founder's key.
    pub founder: SecretKey,
    /// The genesis post.
    pub genesis: Post,
}

impl SpaceFixture {
    /// A space named `name`, founded by key `founder` at [`START`], homed on the node of
    /// key 200.
    pub fn new(founder: u8, name: &str) -> Self {
        let founder = key(founder);
        let genesis = Genesis {
            name: name.to_owned(),
            description: format!("The {name} space."),
            home_node: key(200).node_id(),
            nonce: [0x42; 16],
        };
        #[allow(
            clippy::expect_used,
            reason = "fixture content is valid by construction"
        )]
        let genesis = Post::sign_genesis(&founder, START, genesis, SIGNING_NOW)
            .expect("fixture genesis is valid");
        Self { founder, genesis }
    }

    /// The space id.
    pub fn space(&self) -> SpaceId {
        self.genesis.space()
    }

    /// The time `offset` milliseconds after (or, negative, before) [`START`].
    pub fn at(offset: i64) -> Timestamp {
        Timestamp(START.as_millis().saturating_add_signed(offset))
    }

    /// The view of the genesis and `posts`.
    pub fn view<'a>(&'a self, posts: impl IntoIterator<Item = &'a Post>) -> SpaceView {
        SpaceView::fold(self.space(), std::iter::once(&self.genesis).chain(posts))
    }

    /// A post by `key` in this space, dated `offset` ms after [`START`].
    ///
    /// # Panics
    ///
    /// When `content` breaks a field rule of `spec/05-validation.md` (a fixture bug).
    pub fn post(&self, key: &SecretKey, offset: i64, content: Content) -> Post {
        #[allow(
            clippy::expect_used,
            reason = "fixture content is valid by construction"
        )]
        Post::sign(key, self.space(), Self::at(offset), content, SIGNING_NOW)
            .expect("fixture post is valid")
    }
}

/// A thread.
pub fn thread(title: &str, body: &str) -> Content {
    Content::Thread(Thread {
        title: title.to_owned(),
        body: body.to_owned(),
        mentions: BoundedVec::new(),
    })
}

/// A reply in the thread `root` to `parent`.
pub fn reply(root: PostId, parent: PostId, body: &str) -> Content {
    Content::Reply(Reply {
        root,
        parent,
        body: body.to_owned(),
        mentions: BoundedVec::new(),
    })
}

/// An edit of `target`.
pub fn edit(target: PostId, title: Option<&str>, body: &str) -> Content {
    Content::Edit(Edit {
        target,
        title: title.map(str::to_owned),
        body: body.to_owned(),
    })
}

/// A retraction of `target`.
pub fn retract(target: PostId) -> Content {
    Content::Retraction(Retraction { target })
}

/// A reaction to `target`.
pub fn react(target: PostId, reaction: &str) -> Content {
    Content::Reaction(Reaction {
        target,
        reaction: reaction.to_owned(),
    })
}

/// A resolve of `thread`.
pub fn resolve(thread: PostId, decision: &str) -> Content {
    Content::Resolve(Resolve {
        thread,
        decision: decision.to_owned(),
    })
}

/// A reopen of `thread`.
pub fn reopen(thread: PostId) -> Content {
    Content::Reopen(Reopen { thread })
}

/// Adds `user` to the members.
pub fn add(user: UserId) -> Content {
    Content::AddMember(Member { user })
}

/// Removes `user` from the members.
pub fn remove(user: UserId) -> Content {
    Content::RemoveMember(Member { user })
}

/// Makes `user` a moderator.
pub fn grant(user: UserId) -> Content {
    Content::GrantModerator(Member { user })
}

/// Takes moderator rights from `user`.
pub fn revoke(user: UserId) -> Content {
    Content::RevokeModerator(Member { user })
}

/// Adds `node` to the replica set.
pub fn share(node: NodeId) -> Content {
    Content::ShareReplica(Replica { node })
}

/// Removes `node` from the replica set.
pub fn unshare(node: NodeId) -> Content {
    Content::UnshareReplica(Replica { node })
}

/// Sets the author's display name.
pub fn profile(name: &str) -> Content {
    Content::Profile(Profile {
        display_name: name.to_owned(),
    })
}
