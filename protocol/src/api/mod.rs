//! The client API between `parley` and its node (pure types; the node and the client
//! move the bytes): requests, responses, watch events, node addresses and invites.

mod address;
mod message;

pub use address::{AddressParseError, Invite, InviteToken, NodeAddress};
pub use message::{
    ADMIN_ALPN, ApiErrorCode, CLIENT_ALPN, Event, Request, Response, SpaceSummary, UnreadInSpace,
};
