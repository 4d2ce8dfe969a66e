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
#![deny(missing_docs)]

pub mod codec;
pub mod content;
pub mod encoding;
pub mod envelope;
pub mod id;
pub mod keys;
pub mod limits;
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
pub use time::Timestamp;
pub use validate::InvalidPost;
