//! Real QUIC on 127.0.0.1 (port 0): authentication both ways, refusals, framing.
//! Every wait is bounded by [`within`].

use std::future::Future;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use parley_protocol::{NodeId, SecretKey};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use quinn::{Connection, ConnectionError, TransportErrorCode};
use tokio::sync::mpsc;

use super::identity::Identity;
use super::*;

/// The bound on every wait of these tests.
const WAIT: Duration = Duration::from_secs(10);

async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(WAIT, future).await.expect("timed out")
}

fn key(seed: u8) -> SecretKey {
    SecretKey::from_seed(&[seed; 32])
}

fn localhost() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A node's endpoint on loopback, handing over each incoming connection's outcome.
struct Server {
    key: SecretKey,
    addr: SocketAddr,
    accepted: mpsc::UnboundedReceiver<Result<Connection, TransportError>>,
}

impl Server {
    fn start(seed: u8, alpns: &[&[u8]]) -> Self {
        let key = key(seed);
        let endpoint = server_endpoint(&key, localhost(), alpns).unwrap();
        Self::serve(key, endpoint)
    }

    fn serve(key: SecretKey, endpoint: quinn::Endpoint) -> Self {
        let addr = endpoint.local_addr().unwrap();
        let (sender, accepted) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(incoming) = endpoint.accept().await {
                let sender = sender.clone();
                tokio::spawn(async move {
                    let _ = sender.send(incoming.await.map_err(TransportError::from));
                });
            }
        });
        Self {
            key,
            addr,
            accepted,
        }
    }

    fn id(&self) -> NodeId {
        self.key.node_id()
    }

    /// The outcome of the next incoming connection.
    async fn next(&mut self) -> Result<Connection, TransportError> {
        within(self.accepted.recv()).await.unwrap()
    }
}

/// Answers every frame of every stream with the same frame.
async fn echo(connection: Connection) {
    while let Ok((mut send, mut recv)) = connection.accept_bi().await {
        tokio::spawn(async move {
            while let Ok(Some(frame)) = read_frame(&mut recv, 1 << 20).await {
                if write_frame(&mut send, &frame).await.is_err() {
                    return;
                }
            }
            let _ = send.finish();
        });
    }
}

/// A client as `user` connected to `server`, and the server's side of it.
async fn pair(server: &mut Server, user: &SecretKey) -> (ClientEndpoint, Connection, Connection) {
    let endpoint = client_endpoint(user, server.addr).unwrap();
    let client = within(connect(&endpoint, server.addr, server.id(), CLIENT_ALPN))
        .await
        .unwrap();
    let accepted = server.next().await.unwrap();
    (endpoint, client, accepted)
}

/// A real client still gets through, authenticated, and is answered.
async fn assert_still_serving(server: &mut Server) {
    let user = key(99);
    let endpoint = client_endpoint(&user, server.addr).unwrap();
    let client = within(connect(&endpoint, server.addr, server.id(), CLIENT_ALPN))
        .await
        .unwrap();
    loop {
        // Earlier refused attempts may still be reporting; skip to this client.
        if let Ok(accepted) = server.next().await
            && peer_key(&accepted).unwrap() == user.user_id().0
        {
            tokio::spawn(echo(accepted));
            break;
        }
    }
    let reply = within(request(&client, b"still there?", 64)).await.unwrap();
    assert_eq!(reply, b"still there?");
}

/// The TLS alert a failed handshake ended with, as seen by either side.
fn tls_alert(error: &ConnectionError) -> Option<TransportErrorCode> {
    match error {
        ConnectionError::ConnectionClosed(close) => Some(close.error_code),
        ConnectionError::TransportError(error) => Some(error.code),
        _ => None,
    }
}

/// The alert of a failed [`connect`].
fn connect_alert(error: &TransportError) -> Option<TransportErrorCode> {
    match error {
        TransportError::Connection(error) => tls_alert(error),
        TransportError::NoCommonProtocol { .. } => {
            Some(TransportErrorCode::crypto(NO_APPLICATION_PROTOCOL))
        }
        _ => None,
    }
}

/// TLS alerts (RFC 8446, 6): `handshake_failure`, `decrypt_error`,
/// `no_application_protocol`.
const HANDSHAKE_FAILURE: u8 = 40;
const DECRYPT_ERROR: u8 = 51;
const NO_APPLICATION_PROTOCOL: u8 = 120;

fn application_close_code(error: &ConnectionError) -> Option<quinn::VarInt> {
    match error {
        ConnectionError::ApplicationClosed(close) => Some(close.error_code),
        _ => None,
    }
}

#[tokio::test]
async fn both_sides_authenticate_and_see_each_others_key() {
    let mut server = Server::start(1, &[CLIENT_ALPN, ADMIN_ALPN]);
    let user = key(2);
    let (_endpoint, client, accepted) = pair(&mut server, &user).await;

    assert_eq!(peer_key(&client).unwrap(), server.id().0);
    assert_eq!(peer_key(&accepted).unwrap(), user.user_id().0);
    assert_eq!(alpn(&client).as_deref(), Some(CLIENT_ALPN));
    assert_eq!(alpn(&accepted).as_deref(), Some(CLIENT_ALPN));

    tokio::spawn(echo(accepted));
    let reply = within(request(&client, b"hello", 64)).await.unwrap();
    assert_eq!(reply, b"hello");
}

#[tokio::test]
async fn a_client_of_another_protocol_version_is_told_so() {
    let server = Server::start(1, &[b"parley-client/1".as_slice()]);
    let endpoint = client_endpoint(&key(2), server.addr).unwrap();
    let error = within(connect(&endpoint, server.addr, server.id(), CLIENT_ALPN))
        .await
        .unwrap_err();
    assert!(
        matches!(error, TransportError::NoCommonProtocol { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("another version"), "{error}");
}

#[tokio::test]
async fn the_node_key_itself_can_use_the_admin_alpn() {
    let mut server = Server::start(1, &[CLIENT_ALPN, ADMIN_ALPN]);
    let node_key = key(1);
    let endpoint = client_endpoint(&node_key, server.addr).unwrap();
    let client = within(connect(&endpoint, server.addr, server.id(), ADMIN_ALPN))
        .await
        .unwrap();
    let accepted = server.next().await.unwrap();
    assert_eq!(alpn(&accepted).as_deref(), Some(ADMIN_ALPN));
    assert_eq!(alpn(&client).as_deref(), Some(ADMIN_ALPN));
    assert_eq!(peer_key(&accepted).unwrap(), server.id().0);
}

#[tokio::test]
async fn the_server_sees_each_clients_key_and_can_refuse_it() {
    let mut server = Server::start(1, &[CLIENT_ALPN]);
    let (registered, stranger) = (key(2), key(3));
    let (_e1, client1, accepted1) = pair(&mut server, &registered).await;
    let (_e2, client2, accepted2) = pair(&mut server, &stranger).await;
    assert_eq!(peer_key(&accepted1).unwrap(), registered.user_id().0);
    assert_eq!(peer_key(&accepted2).unwrap(), stranger.user_id().0);

    // The node serves the registered key and closes the other connection.
    tokio::spawn(echo(accepted1));
    accepted2.close(CloseCode::Unauthorized.code(), b"unregistered key");
    assert_eq!(within(request(&client1, b"hi", 64)).await.unwrap(), b"hi");
    let closed = within(client2.closed()).await;
    assert_eq!(
        application_close_code(&closed),
        Some(CloseCode::Unauthorized.code())
    );
}

#[tokio::test]
async fn a_client_expecting_another_node_is_refused_and_closes() {
    let mut server = Server::start(1, &[CLIENT_ALPN]);
    let endpoint = client_endpoint(&key(2), server.addr).unwrap();
    let expected = key(7).node_id();
    let error = within(connect(&endpoint, server.addr, expected, CLIENT_ALPN))
        .await
        .unwrap_err();
    match error {
        TransportError::UnexpectedPeer { expected: e, found } => {
            assert_eq!(e, expected);
            assert_eq!(found, server.id());
        }
        other => panic!("unexpected error {other}"),
    }
    // The server sees the connection closed with the code that says why.
    let accepted = server.next().await.unwrap();
    let closed = within(accepted.closed()).await;
    assert_eq!(
        application_close_code(&closed),
        Some(CloseCode::UnexpectedPeer.code())
    );
}

#[tokio::test]
async fn a_server_that_cannot_sign_for_its_key_is_refused() {
    // It presents the real node's public key but holds another secret key.
    let real = key(1);
    let crypto = tls::server_crypto(&Identity::impostor(&real, &key(6)), &[CLIENT_ALPN]).unwrap();
    let endpoint =
        quinn::Endpoint::server(quinn::ServerConfig::with_crypto(crypto), localhost()).unwrap();
    let mut impostor = Server::serve(real, endpoint);
    let client = client_endpoint(&key(2), impostor.addr).unwrap();
    let result = within(connect(&client, impostor.addr, impostor.id(), CLIENT_ALPN)).await;
    // The client refuses the server's handshake signature.
    let decrypt_error = Some(TransportErrorCode::crypto(DECRYPT_ERROR));
    assert_eq!(connect_alert(&result.unwrap_err()), decrypt_error);
    assert_eq!(
        connect_alert(&impostor.next().await.unwrap_err()),
        decrypt_error
    );
}

#[tokio::test]
async fn a_client_that_cannot_sign_for_its_key_is_refused() {
    let mut server = Server::start(1, &[CLIENT_ALPN]);
    // It presents a registered user's public key but holds another secret key.
    let victim = key(2);
    let crypto = tls::client_crypto(&Identity::impostor(&victim, &key(6)), CLIENT_ALPN).unwrap();
    let endpoint = quinn::Endpoint::client(localhost()).unwrap();
    let attempt = async {
        let connection = endpoint
            .connect_with(quinn::ClientConfig::new(crypto), server.addr, "parley")
            .unwrap()
            .await?;
        // The client's handshake may finish before the server has checked its
        // signature; the server's refusal then closes the connection.
        Err::<(), _>(connection.closed().await)
    };
    let refused = within(attempt).await.unwrap_err();
    let decrypt_error = Some(TransportErrorCode::crypto(DECRYPT_ERROR));
    assert_eq!(tls_alert(&refused), decrypt_error, "{refused}");
    assert_eq!(
        connect_alert(&server.next().await.unwrap_err()),
        decrypt_error
    );
    assert_still_serving(&mut server).await;
}

#[tokio::test]
async fn a_client_presenting_no_key_cannot_connect() {
    let mut server = Server::start(1, &[CLIENT_ALPN]);
    let endpoint = quinn::Endpoint::client(localhost()).unwrap();
    let config = quinn::ClientConfig::new(tls::misbehaving::without_key(CLIENT_ALPN));
    let result = within(
        endpoint
            .connect_with(config, server.addr, "parley")
            .unwrap(),
    )
    .await;
    // Refused at the hello: it does not offer a raw public key.
    let handshake_failure = Some(TransportErrorCode::crypto(HANDSHAKE_FAILURE));
    assert_eq!(tls_alert(&result.unwrap_err()), handshake_failure);
    assert_eq!(
        connect_alert(&server.next().await.unwrap_err()),
        handshake_failure
    );
    assert_still_serving(&mut server).await;
}

#[tokio::test]
async fn a_client_offering_x509_cannot_connect() {
    let mut server = Server::start(1, &[CLIENT_ALPN]);
    let endpoint = quinn::Endpoint::client(localhost()).unwrap();
    let identity = Identity::new(&key(2)).unwrap();
    let config = quinn::ClientConfig::new(tls::misbehaving::with_x509(&identity, CLIENT_ALPN));
    let result = within(
        endpoint
            .connect_with(config, server.addr, "parley")
            .unwrap(),
    )
    .await;
    // Refused at the hello: it does not offer a raw public key.
    let handshake_failure = Some(TransportErrorCode::crypto(HANDSHAKE_FAILURE));
    assert_eq!(tls_alert(&result.unwrap_err()), handshake_failure);
    assert_eq!(
        connect_alert(&server.next().await.unwrap_err()),
        handshake_failure
    );
    assert_still_serving(&mut server).await;
}

#[tokio::test]
async fn an_alpn_the_server_does_not_serve_is_refused() {
    let mut server = Server::start(1, &[CLIENT_ALPN]);
    let endpoint = client_endpoint(&key(2), server.addr).unwrap();
    for wrong in [NODE_ALPN, ADMIN_ALPN, b"parley-client/1".as_slice()] {
        let result = within(connect(&endpoint, server.addr, server.id(), wrong)).await;
        let no_protocol = Some(TransportErrorCode::crypto(NO_APPLICATION_PROTOCOL));
        assert_eq!(connect_alert(&result.unwrap_err()), no_protocol);
        assert_eq!(
            connect_alert(&server.next().await.unwrap_err()),
            no_protocol
        );
    }
    assert_still_serving(&mut server).await;
}

#[tokio::test]
async fn an_oversized_frame_is_refused_before_its_bytes_arrive() {
    let mut server = Server::start(1, &[CLIENT_ALPN]);
    let (_endpoint, client, accepted) = pair(&mut server, &key(2)).await;
    for claimed in [1025u32, u32::MAX] {
        // Only the length is sent, and the stream stays open: a reader that waited
        // for (or allocated) the body would hang here.
        let (mut send, _recv) = within(client.open_bi()).await.unwrap();
        send.write_all(&claimed.to_le_bytes()).await.unwrap();
        let (_send, mut recv) = within(accepted.accept_bi()).await.unwrap();
        let error = within(read_frame(&mut recv, 1024)).await.unwrap_err();
        assert!(
            matches!(error, TransportError::FrameTooLarge { len, max: 1024 } if len == u64::from(claimed)),
            "{error:?}"
        );
    }
}

#[tokio::test]
async fn frames_end_cleanly_or_with_a_typed_truncation() {
    let mut server = Server::start(1, &[CLIENT_ALPN]);
    let (_endpoint, client, accepted) = pair(&mut server, &key(2)).await;
    let mut streams = Vec::new();
    for bytes in [
        Vec::new(),
        vec![7, 0],
        [100u32.to_le_bytes().as_slice(), &[1; 10]].concat(),
        [3u32.to_le_bytes().as_slice(), b"abc", &0u32.to_le_bytes()].concat(),
    ] {
        let (mut send, recv) = within(client.open_bi()).await.unwrap();
        send.write_all(&bytes).await.unwrap();
        send.finish().unwrap();
        streams.push(recv);
    }
    let next = async || within(accepted.accept_bi()).await.unwrap().1;

    let mut empty = next().await;
    assert!(within(read_frame(&mut empty, 64)).await.unwrap().is_none());
    let mut short_length = next().await;
    assert!(matches!(
        within(read_frame(&mut short_length, 64)).await,
        Err(TransportError::TruncatedLength { received: 2 })
    ));
    let mut short_body = next().await;
    assert!(matches!(
        within(read_frame(&mut short_body, 1024)).await,
        Err(TransportError::TruncatedFrame {
            expected: 100,
            received: 10
        })
    ));
    let mut two_frames = next().await;
    let first = within(read_frame(&mut two_frames, 64)).await.unwrap();
    assert_eq!(first.as_deref(), Some(b"abc".as_slice()));
    let second = within(read_frame(&mut two_frames, 64)).await.unwrap();
    assert_eq!(second.as_deref(), Some([].as_slice()));
    assert!(
        within(read_frame(&mut two_frames, 64))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_request_without_a_response_is_an_error() {
    let mut server = Server::start(1, &[CLIENT_ALPN]);
    let (_endpoint, client, accepted) = pair(&mut server, &key(2)).await;
    tokio::spawn(async move {
        while let Ok((mut send, mut recv)) = accepted.accept_bi().await {
            let _ = read_frame(&mut recv, 64).await;
            let _ = send.finish();
        }
    });
    let result = within(request(&client, b"anyone?", 64)).await;
    assert!(
        matches!(result, Err(TransportError::NoResponse)),
        "{result:?}"
    );
}

#[tokio::test]
async fn garbage_datagrams_do_not_disturb_the_server() {
    let mut server = Server::start(1, &[CLIENT_ALPN]);
    let socket = UdpSocket::bind(localhost()).unwrap();
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut random = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for i in 0..400usize {
        let len = [0, 1, 5, 21, 1200, 1350, 1500][i % 7];
        let mut datagram: Vec<u8> = (0..len).map(|_| random() as u8).collect();
        if i % 2 == 0 && len >= 1200 {
            // A long-header Initial of QUIC v1 with a plausible connection id, whose
            // protected payload is noise.
            datagram[0] = 0xc3;
            datagram[1..5].copy_from_slice(&1u32.to_be_bytes());
            datagram[5] = 8;
        }
        socket.send_to(&datagram, server.addr).unwrap();
    }
    assert_still_serving(&mut server).await;
}

#[test]
fn frames_round_trip() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (_server, _endpoint, client, accepted) = runtime.block_on(async {
        let mut server = Server::start(1, &[CLIENT_ALPN]);
        let (endpoint, client, accepted) = pair(&mut server, &key(2)).await;
        (server, endpoint, client, accepted)
    });
    let frames = proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..3000), 0..8);
    let mut runner = TestRunner::new(Config::with_cases(16));
    runner
        .run(&frames, |frames| {
            let received = runtime.block_on(async {
                let (mut send, _recv) = within(client.open_bi()).await.unwrap();
                for frame in &frames {
                    write_frame(&mut send, frame).await.unwrap();
                }
                send.finish().unwrap();
                let (mut reply, mut recv) = within(accepted.accept_bi()).await.unwrap();
                let mut received = Vec::new();
                while let Some(frame) = within(read_frame(&mut recv, 3000)).await.unwrap() {
                    received.push(frame);
                }
                reply.finish().unwrap();
                received
            });
            prop_assert_eq!(received, frames);
            Ok(())
        })
        .unwrap();
}
