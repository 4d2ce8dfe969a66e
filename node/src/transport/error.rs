//! What can go wrong in the transport, one variant per failure.

use std::net::SocketAddr;

use parley_protocol::NodeId;

use super::identity::PeerKeyError;

/// Why a transport operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The UDP socket could not be bound.
    #[error("cannot bind a udp socket to {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The TLS configuration could not be built.
    #[error("cannot configure tls: {0}")]
    Tls(#[from] rustls::Error),
    /// The TLS configuration lacks the cipher suite QUIC's first packets need.
    #[error("the tls configuration has no cipher suite quic can start with")]
    NoInitialCipherSuite,
    /// A connection could not be started (bad address, endpoint closed).
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The address dialed.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: quinn::ConnectError,
    },
    /// The connection failed or was closed: during the handshake (a refused key, no
    /// common ALPN, a timeout) or after it.
    #[error("connection failed: {0}")]
    Connection(#[from] quinn::ConnectionError),
    /// The server authenticated as another node than the one dialed; the connection
    /// was closed.
    #[error("the node at this address is {found}, not the expected {expected}")]
    UnexpectedPeer {
        /// The node dialed.
        expected: NodeId,
        /// The key the server proved it holds.
        found: NodeId,
    },
    /// The connection has no authenticated peer key (it is not a connection made by
    /// this transport, or its handshake is not complete).
    #[error("the connection has no authenticated peer key")]
    MissingPeerKey,
    /// The peer's raw public key is not a usable ed25519 key.
    #[error("the peer's key is not usable: {0}")]
    PeerKey(#[from] PeerKeyError),
    /// The peer speaks none of the protocols offered: another version of Parley.
    #[error(
        "the node does not speak {} (it runs another version of Parley: upgrade the older of the two)",
        String::from_utf8_lossy(offered)
    )]
    NoCommonProtocol {
        /// The ALPN offered.
        offered: Vec<u8>,
    },
    /// The connection speaks another protocol than the one asked for.
    #[error(
        "the connection speaks {}, not {}",
        String::from_utf8_lossy(found.as_deref().unwrap_or(b"no protocol")),
        String::from_utf8_lossy(expected)
    )]
    UnexpectedAlpn {
        /// The ALPN asked for.
        expected: Vec<u8>,
        /// The ALPN negotiated, if any.
        found: Option<Vec<u8>>,
    },
    /// A frame is longer than the reader accepts (refused before reading its bytes), or
    /// than a `u32` length can say.
    #[error("a frame of {len} bytes is over the limit of {max} bytes")]
    FrameTooLarge {
        /// The length the frame claims (or has, when writing).
        len: u64,
        /// The limit.
        max: u64,
    },
    /// The stream ended inside a frame's 4-byte length.
    #[error("the stream ended {received} bytes into a frame's 4-byte length")]
    TruncatedLength {
        /// The bytes of the length received.
        received: usize,
    },
    /// The stream ended before the frame's bytes did.
    #[error("the stream ended after {received} of a frame's {expected} bytes")]
    TruncatedFrame {
        /// The frame's length.
        expected: usize,
        /// The bytes received.
        received: usize,
    },
    /// The peer finished the stream without answering the request.
    #[error("the peer finished the stream without a response")]
    NoResponse,
    /// Reading a stream failed (reset by the peer, connection lost).
    #[error("cannot read the stream: {0}")]
    Read(#[from] quinn::ReadError),
    /// Writing a stream failed (stopped by the peer, connection lost).
    #[error("cannot write the stream: {0}")]
    Write(#[from] quinn::WriteError),
    /// The stream was already finished or reset.
    #[error("the stream is already closed")]
    StreamClosed(#[from] quinn::ClosedStream),
}
