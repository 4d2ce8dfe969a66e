//! QUIC endpoints: a server that serves some ALPNs, a client that dials a node it
//! names by key, and the peer's authenticated key and ALPN on a connection.
//!
//! The TLS handshake authenticates both keys (see `verifier`); what a side does with
//! the key it learns is decided here or by the caller, right after the handshake:
//! [`connect`] refuses a server that is not the expected node, and a server reads
//! [`peer_key`] to refuse unregistered clients.
//!
//! Endpoints must be made inside a tokio runtime.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use parley_protocol::{NodeId, SecretKey};
use quinn::crypto::rustls::HandshakeData;
use quinn::{Connection, IdleTimeout, TransportConfig, VarInt};
use rustls::pki_types::CertificateDer;

use super::TransportError;
use super::identity::{Identity, parse_spki};
use super::tls;

/// A connection with no traffic for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// An idle connection sends a keep-alive this often, well within [`IDLE_TIMEOUT`].
pub const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(10);
/// Bidirectional streams a peer may have open at once on one connection (one per
/// request in flight).
pub const MAX_CONCURRENT_BIDI_STREAMS: u32 = 128;
/// Unidirectional streams a peer may have open at once on one connection.
pub const MAX_CONCURRENT_UNI_STREAMS: u32 = 16;
/// Bytes a peer may send on one stream ahead of the reader.
const STREAM_RECEIVE_WINDOW: u32 = 1024 * 1024;
/// Bytes a peer may send on all streams of a connection ahead of the reader: what any
/// connection, even one from a key the node does not serve, can make QUIC buffer. At
/// 2 MiB a 100 ms path still carries 20 MB/s, more than a node verifies.
const CONNECTION_RECEIVE_WINDOW: u32 = 2 * 1024 * 1024;

/// A connection's timeouts: how long without traffic before it is closed, and how often
/// an idle side sends a keep-alive. Nodes use the defaults; tests of partitions shorten
/// them so a cut link is noticed in a second.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// A connection with no traffic for this long is closed.
    pub idle: Duration,
    /// An idle connection sends a keep-alive this often (well within `idle`).
    pub keep_alive: Duration,
}

impl Default for Timeouts {
    /// [`IDLE_TIMEOUT`] and [`KEEP_ALIVE_INTERVAL`].
    fn default() -> Self {
        Self {
            idle: IDLE_TIMEOUT,
            keep_alive: KEEP_ALIVE_INTERVAL,
        }
    }
}

/// The server name a client puts in its handshake. With raw public keys the name
/// proves nothing (the key does), and SNI is not sent.
const SERVER_NAME: &str = "parley";

/// The application close codes of Parley connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseCode {
    /// Closed normally: done, or shutting down (code 0).
    Done,
    /// The peer's key is not allowed here: an unregistered user, a non-admin on the
    /// admin ALPN (code 1).
    Unauthorized,
    /// The server is not the node the client dialed (code 2).
    UnexpectedPeer,
    /// Another connection between the same two nodes is kept instead (code 3).
    Duplicate,
    /// The peer kept sending invalid data and is refused for a while (code 4).
    Misbehaving,
}

impl CloseCode {
    /// The code on the wire.
    pub const fn code(self) -> VarInt {
        VarInt::from_u32(match self {
            Self::Done => 0,
            Self::Unauthorized => 1,
            Self::UnexpectedPeer => 2,
            Self::Duplicate => 3,
            Self::Misbehaving => 4,
        })
    }
}

impl From<CloseCode> for VarInt {
    fn from(code: CloseCode) -> Self {
        code.code()
    }
}

/// A QUIC endpoint that dials nodes as the holder of one key.
///
/// It dereferences to the [`quinn::Endpoint`] (for `close`, `wait_idle`,
/// `local_addr`, ...).
#[derive(Debug, Clone)]
pub struct ClientEndpoint {
    endpoint: quinn::Endpoint,
    identity: Identity,
}

impl ClientEndpoint {
    /// Dials as `key` from an existing endpoint, such as a node's server endpoint (so
    /// its outgoing connections leave from its listening port).
    pub fn from_endpoint(
        endpoint: quinn::Endpoint,
        key: &SecretKey,
    ) -> Result<Self, TransportError> {
        Ok(Self {
            endpoint,
            identity: Identity::new(key)?,
        })
    }
}

impl std::ops::Deref for ClientEndpoint {
    type Target = quinn::Endpoint;

    fn deref(&self) -> &quinn::Endpoint {
        &self.endpoint
    }
}

/// A server endpoint bound to `bind` that presents `key` and serves the ALPNs `alpns`
/// (in order of preference). Every client must present a raw ed25519 key; read it
/// with [`peer_key`] before serving the connection.
pub fn server_endpoint(
    key: &SecretKey,
    bind: SocketAddr,
    alpns: &[&[u8]],
) -> Result<quinn::Endpoint, TransportError> {
    server_endpoint_with(key, bind, alpns, Timeouts::default())
}

/// [`server_endpoint`] with other [`Timeouts`].
pub fn server_endpoint_with(
    key: &SecretKey,
    bind: SocketAddr,
    alpns: &[&[u8]],
    timeouts: Timeouts,
) -> Result<quinn::Endpoint, TransportError> {
    let crypto = tls::server_crypto(&Identity::new(key)?, alpns)?;
    let mut config = quinn::ServerConfig::with_crypto(crypto);
    config.transport_config(transport_config(timeouts));
    quinn::Endpoint::server(config, bind)
        .map_err(|source| TransportError::Bind { addr: bind, source })
}

/// A client endpoint for dialing `target` as `key`, bound to an ephemeral port on the
/// unspecified address of `target`'s family.
pub fn client_endpoint(
    key: &SecretKey,
    target: SocketAddr,
) -> Result<ClientEndpoint, TransportError> {
    let bind = match target {
        SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    };
    let endpoint = quinn::Endpoint::client(bind)
        .map_err(|source| TransportError::Bind { addr: bind, source })?;
    ClientEndpoint::from_endpoint(endpoint, key)
}

/// Connects to the node `expected` at `addr`, speaking `alpn`.
///
/// The handshake proves which key the server holds; when it is not `expected`, the
/// connection is closed with [`CloseCode::UnexpectedPeer`] and this fails with
/// [`TransportError::UnexpectedPeer`]. The wait is bounded by [`IDLE_TIMEOUT`];
/// callers wanting a shorter one wrap this in their own timeout.
pub async fn connect(
    endpoint: &ClientEndpoint,
    addr: SocketAddr,
    expected: NodeId,
    alpn: &[u8],
) -> Result<Connection, TransportError> {
    connect_with(endpoint, addr, expected, alpn, Timeouts::default()).await
}

/// [`connect`] with other [`Timeouts`].
pub async fn connect_with(
    endpoint: &ClientEndpoint,
    addr: SocketAddr,
    expected: NodeId,
    alpn: &[u8],
    timeouts: Timeouts,
) -> Result<Connection, TransportError> {
    let mut config = quinn::ClientConfig::new(tls::client_crypto(&endpoint.identity, alpn)?);
    config.transport_config(transport_config(timeouts));
    let connection = endpoint
        .endpoint
        .connect_with(config, addr, SERVER_NAME)
        .map_err(|source| TransportError::Connect { addr, source })?
        .await
        .map_err(|error| refused_protocol(error, alpn))?;
    match check_server(&connection, expected, alpn) {
        Ok(()) => Ok(connection),
        Err(error) => {
            connection.close(CloseCode::UnexpectedPeer.code(), b"unexpected node");
            Err(error)
        }
    }
}

/// TLS's `no_application_protocol` alert (120), as QUIC carries it.
const NO_APPLICATION_PROTOCOL: u8 = 120;

/// A handshake the peer refused because it speaks none of `alpn` is named so; other
/// failures stay as they are.
fn refused_protocol(error: quinn::ConnectionError, alpn: &[u8]) -> TransportError {
    match &error {
        quinn::ConnectionError::ConnectionClosed(close)
            if close.error_code == quinn::TransportErrorCode::crypto(NO_APPLICATION_PROTOCOL) =>
        {
            TransportError::NoCommonProtocol {
                offered: alpn.to_vec(),
            }
        }
        _ => TransportError::Connection(error),
    }
}

/// The ed25519 key the peer of `connection` authenticated with in the handshake.
pub fn peer_key(connection: &Connection) -> Result<[u8; 32], TransportError> {
    let identity = connection
        .peer_identity()
        .ok_or(TransportError::MissingPeerKey)?;
    let presented = identity
        .downcast::<Vec<CertificateDer<'static>>>()
        .map_err(|_| TransportError::MissingPeerKey)?;
    match presented.as_slice() {
        [key] => Ok(parse_spki(key.as_ref())?),
        _ => Err(TransportError::MissingPeerKey),
    }
}

/// The ALPN the handshake of `connection` agreed on.
pub fn alpn(connection: &Connection) -> Option<Vec<u8>> {
    connection
        .handshake_data()?
        .downcast::<HandshakeData>()
        .ok()?
        .protocol
}

/// The server of a fresh connection is `expected` and speaks `alpn`.
fn check_server(
    connection: &Connection,
    expected: NodeId,
    alpn_wanted: &[u8],
) -> Result<(), TransportError> {
    let found = NodeId::from_bytes(peer_key(connection)?);
    if found != expected {
        return Err(TransportError::UnexpectedPeer { expected, found });
    }
    let negotiated = alpn(connection);
    if negotiated.as_deref() != Some(alpn_wanted) {
        return Err(TransportError::UnexpectedAlpn {
            expected: alpn_wanted.to_vec(),
            found: negotiated,
        });
    }
    Ok(())
}

/// Timeouts, keep-alives and the bounds on streams and buffered bytes.
fn transport_config(timeouts: Timeouts) -> Arc<TransportConfig> {
    let mut config = TransportConfig::default();
    // A timeout too large for a VarInt (2^62 ms) falls back to the default.
    config.max_idle_timeout(
        IdleTimeout::try_from(timeouts.idle)
            .or_else(|_| IdleTimeout::try_from(IDLE_TIMEOUT))
            .ok(),
    );
    config.keep_alive_interval(Some(timeouts.keep_alive));
    config.max_concurrent_bidi_streams(VarInt::from_u32(MAX_CONCURRENT_BIDI_STREAMS));
    config.max_concurrent_uni_streams(VarInt::from_u32(MAX_CONCURRENT_UNI_STREAMS));
    config.stream_receive_window(VarInt::from_u32(STREAM_RECEIVE_WINDOW));
    config.receive_window(VarInt::from_u32(CONNECTION_RECEIVE_WINDOW));
    // What this side buffers unsent, per connection: no more than the peer's window lets
    // fly, so a peer that does not read holds no more of this side's memory.
    config.send_window(u64::from(CONNECTION_RECEIVE_WINDOW));
    Arc::new(config)
}
