//! Set reconciliation of a space's `(created_at, id)` items, sans-IO
//! (`spec/07-sync-and-gossip.md`).
//!
//! Two nodes holding the posts of one space find each other's missing ids in a few
//! round trips, with traffic that grows with the difference rather than with the set.
//! The algorithm is range-based set reconciliation as specified by NIP-77 (negentropy
//! protocol version 1); its frames travel inside Parley's own
//! [`Message::ReconcileOpen`](crate::wire::Message::ReconcileOpen) and
//! [`Message::ReconcileFrame`](crate::wire::Message::ReconcileFrame).
//!
//! A [`SyncSession`] is a deterministic state machine with no I/O, clock or threads:
//!
//! ```
//! use parley_protocol::sync::{Input, Item, Output, SyncConfig, SyncSession};
//! use parley_protocol::{PostId, SpaceId, Timestamp};
//!
//! let space = SpaceId::from_bytes([1; 32]);
//! let item = |n: u8| Item::new(Timestamp::from_millis(u64::from(n)), PostId::from_bytes([n; 32]));
//! let mut initiator = SyncSession::initiate(space, [item(1), item(2)], SyncConfig::default())?;
//! let mut responder = SyncSession::respond(space, [item(2), item(3)], SyncConfig::default())?;
//!
//! // A driver's loop: feed what the peer sent, then drain the outputs.
//! let (mut need, mut have) = (Vec::new(), Vec::new());
//! while !initiator.is_finished() {
//!     while let Some(output) = initiator.poll_output() {
//!         match output {
//!             Output::Send(message) => responder.handle(Input::Received(message))?,
//!             Output::Need(ids) => need.extend(ids), // ask for them with `Want`
//!             Output::Have(ids) => have.extend(ids), // push them with `Posts`
//!             _ => {}
//!         }
//!     }
//!     while let Some(output) = responder.poll_output() {
//!         if let Output::Send(message) = output {
//!             initiator.handle(Input::Received(message))?;
//!         }
//!     }
//! }
//! assert!(responder.is_finished());
//! assert_eq!(need, [PostId::from_bytes([3; 32])]);
//! assert_eq!(have, [PostId::from_bytes([1; 32])]);
//! # Ok::<(), parley_protocol::sync::SyncError>(())
//! ```
//!
//! Only the initiator learns the difference. It reports both halves, each id once per
//! session however many frames list it: [`Output::Need`] (ids the responder holds and
//! it lacks: ask for them with `Want`) and [`Output::Have`] (ids it holds and the
//! responder lacks: push them with `Posts`), so both sides end up with each other's
//! posts after one reconciliation.

mod config;
mod engine;
mod error;
mod frame;
mod index;
mod item;
mod session;

pub use config::SyncConfig;
pub use error::{ReconcilerError, SyncError};
pub use frame::{FRAME_VERSION, FrameError};
pub use index::{IdSum, ItemIndex, ItemsUnreadable, SortedItems};
pub use item::Item;
pub use session::{Input, Outcome, Output, Role, SyncSession};

#[cfg(test)]
mod spec_examples;
#[cfg(test)]
mod tests;
