//! Parley's protocol core: a pure library with no I/O, no clock and no randomness of
//! its own.
//!
//! - [`id`] and [`keys`]: who and what (users, nodes, posts, spaces), signatures.
//! - [`envelope`], [`content`], [`validate`]: the signed envelope every post travels in,
//!   its kinds, and the checks that make an [`Envelope`] a [`Post`].
//! - [`view`]: the discussion model folded into views, pure functions of a set of posts.
//! - [`sync`]: set reconciliation of a space's `(created_at, id)` items, sans-IO.
//! - [`wire`]: every message nodes exchange, with its bounds.
//!
//! The byte-level specification is `spec/` at the repository root; doc comments cite
//! its sections.
//!
//! # A post's life
//!
//! ```
//! use parley_protocol::content::{Content, Genesis, Member, Reply, Thread};
//! use parley_protocol::encoding::BoundedVec;
//! use parley_protocol::view::SpaceView;
//! use parley_protocol::{Post, SecretKey, Timestamp};
//!
//! let now = Timestamp::from_millis(1_795_564_800_000); // the caller's clock
//! let ada = SecretKey::from_seed(&[1; 32]); // the caller's randomness
//! let bob = SecretKey::from_seed(&[2; 32]);
//!
//! // Ada founds a space on her team's node and adds Bob.
//! let genesis = Genesis {
//!     name: "design".into(),
//!     description: "Design decisions".into(),
//!     home_node: SecretKey::from_seed(&[9; 32]).node_id(),
//!     nonce: [0; 16],
//! };
//! let genesis = Post::sign_genesis(&ada, now, genesis, now)?;
//! let space = genesis.space();
//! let add = Post::sign(&ada, space, now, Content::AddMember(Member { user: bob.user_id() }), now)?;
//! let thread = Content::Thread(Thread {
//!     title: "Storage engine".into(),
//!     body: "sled or files?".into(),
//!     mentions: BoundedVec::new(),
//! });
//! let thread = Post::sign(&ada, space, now.saturating_add_millis(1), thread, now)?;
//!
//! // Bob replies; his node receives only bytes and validates them fully.
//! let root = thread.id();
//! let reply = Content::Reply(Reply { root, parent: root, body: "sled".into(), mentions: BoundedVec::new() });
//! let reply = Post::sign(&bob, space, now.saturating_add_millis(2), reply, now)?;
//! let received = Post::decode(reply.bytes(), now)?;
//!
//! // Views are pure functions of the set of posts, whatever order they arrive in.
//! let view = SpaceView::fold(space, [&received, &thread, &add, &genesis]);
//! assert_eq!(view.threads()[0].reply_count, 1);
//! assert!(view.is_member(&bob.user_id()));
//! # Ok::<(), parley_protocol::InvalidPost>(())
//! ```
//!
//! # The sans-IO contract
//!
//! Nothing here reads a clock, draws randomness, spawns a thread or touches a socket or
//! a file: time (`now`) and randomness (seeds, nonces) are arguments, state machines
//! such as [`sync::SyncSession`] take decoded messages through `handle` and queue their
//! effects for `poll_output`, and every decoder bounds its input before allocating.
//! A node moves bytes and calls in; tests drive the same code in milliseconds.
#![deny(missing_docs)]

pub mod api;
pub mod codec;
pub mod content;
pub mod encoding;
pub mod envelope;
pub mod gossip;
pub mod id;
pub mod keys;
pub mod limits;
pub mod prefix;
pub mod sync;
pub mod time;
pub mod validate;
pub mod view;
pub mod wire;

#[cfg(feature = "test-support")]
pub mod test_vectors;

pub use content::Content;
pub use envelope::{Envelope, Post};
pub use id::{IdParseError, NodeId, PostId, SpaceId, UserId};
pub use keys::{PublicKey, SecretKey, Signature, SignatureError};
pub use prefix::IdPrefix;
pub use time::Timestamp;
pub use validate::InvalidPost;
