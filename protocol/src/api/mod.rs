//! The client API between `parley` and its node (pure types; the node and the client
//! move the bytes): requests, responses, watch events, node addresses and invites.

mod address;
mod message;
mod page;
pub mod search;

pub use address::{AddressParseError, Invite, InviteToken, NodeAddress};
pub use message::{
    ADMIN_ALPN, ApiErrorCode, CLIENT_ALPN, Event, Request, Response, SpaceSummary, UnreadInSpace,
};
/// The most posts a `Found` answer lists: more mean the prefix is too short to name one.
pub const MAX_FOUND: usize = 16;

pub use page::{CursorParseError, DecisionCursor, MAX_PAGE_LINES, ThreadCursor, ThreadFilter};
