//! Every message nodes exchange, with its bounds (`spec/07-sync-and-gossip.md`).
//!
//! One top-level [`Message`] enum travels in every QUIC stream frame between nodes.
//! [`Message::decode`] is the only way bytes from a peer become a message: it refuses
//! anything over [`MAX_MESSAGE_BYTES`](crate::limits::MAX_MESSAGE_BYTES), trailing bytes,
//! unknown tags, non-canonical bytes and every bound of `limits.rs`, each with a typed
//! [`WireError`].
//!
//! - [`message`]: the messages and their codec.
//! - [`error_code`]: the codes of the `Error` message.
//! - [`version`]: the ALPN and version negotiation.
//! - [`hello`]: the checks on a peer's first and later `Hello`.
//! - [`privacy`]: what of which space may go to which peer (spec 7.9).
//! - [`batch`]: splitting ids and envelopes into messages within the bounds.

pub mod batch;
pub mod error;
pub mod error_code;
pub mod hello;
pub mod message;
pub mod privacy;
pub mod version;

pub use batch::{have_batches, post_batches, want_batches};
pub use error::WireError;
pub use error_code::ErrorCode;
pub use hello::{HelloError, PeerHello};
pub use message::{Message, MessageKind};
pub use privacy::{
    Access, access, ids_to_want, may_receive, may_share, spaces_to_answer, spaces_to_offer,
};
pub use version::{ALPN, WIRE_VERSION, negotiate_version};

#[cfg(test)]
mod tests;
