//! The client API between `parley` and its node (pure types; the node and the client
//! move the bytes): requests, responses, watch events, node addresses and invites.

mod address;
mod message;
mod page;

pub use address::{AddressParseError, Invite, InviteToken, NodeAddress};
pub use message::{
    ADMIN_ALPN, ApiErrorCode, CLIENT_ALPN, Event, Request, Response, SpaceSummary, UnreadInSpace,
};
pub use page::{CursorParseError, DecisionCursor, MAX_PAGE_LINES, ThreadCursor, ThreadFilter};
