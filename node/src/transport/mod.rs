//! The QUIC transport: raw-public-key TLS identities, peer authentication, framing.
//!
//! Every connection is QUIC (quinn) over TLS 1.3 (rustls with ring) where each side's
//! TLS identity is its ed25519 key, sent as an RFC 7250 raw public key: no X.509, no
//! certificate authority. Both sides present a key and prove they hold it by the
//! handshake signature; a connection is never served unauthenticated. The handshake
//! accepts any well-formed ed25519 key, and authorization follows it:
//!
//! - a dialing side names the node it expects ([`connect`] closes the connection with
//!   [`CloseCode::UnexpectedPeer`] when the server holds another key);
//! - a serving side reads the client's key with [`peer_key`] and the protocol with
//!   [`alpn`], and closes with [`CloseCode::Unauthorized`] whom it does not serve.
//!
//! Messages travel as frames (`u32` little-endian length, then the bytes), bounded by
//! the reader before anything is allocated: [`write_frame`], [`read_frame`], and
//! [`request`] for one request and one response on a new stream.
//!
//! This is the only module of the workspace that names rustls. It builds without the
//! `server` feature, so the `parley` client shares it.

mod endpoint;
mod error;
mod framing;
mod identity;
mod tls;
mod verifier;

pub use endpoint::{
    ClientEndpoint, CloseCode, IDLE_TIMEOUT, KEEP_ALIVE_INTERVAL, MAX_CONCURRENT_BIDI_STREAMS,
    MAX_CONCURRENT_UNI_STREAMS, Timeouts, alpn, client_endpoint, connect, connect_with, peer_key,
    server_endpoint, server_endpoint_with,
};
pub use error::TransportError;
pub use framing::{read_body, read_frame, read_length, request, write_frame};
pub use identity::{PeerKeyError, parse_spki, spki_der};
/// The ALPN of admin commands from the local `parleyd` CLI (`parley-admin/1`).
pub use parley_protocol::api::ADMIN_ALPN;
/// The ALPN of the client API (`parley-client/1`).
pub use parley_protocol::api::CLIENT_ALPN;
/// The ALPN of node-to-node connections (`parley/1`).
pub use parley_protocol::wire::ALPN as NODE_ALPN;

#[cfg(test)]
mod tests;
