//! Talking to the user's node: QUIC with the user's key as the TLS identity (through
//! `parley_node::transport`), ALPN `parley-client/1`, one request per bidirectional
//! stream, each message framed by the transport.
//!
//! Commands see only the [`Api`] trait, so their logic is tested against an in-memory
//! node; [`NodeClient`] is the real one.

use std::time::Duration;

use parley_node::transport::{self, ClientEndpoint};
use parley_protocol::api::{CLIENT_ALPN, NodeAddress, Request, Response};
use parley_protocol::limits::MAX_MESSAGE_BYTES;
use parley_protocol::{SecretKey, SpaceId};

use crate::error::ClientError;

/// A node that answers requests: the real one over QUIC, or a fake in tests.
pub(crate) trait Api {
    /// The stream of a watch.
    type Watch: Watch;

    /// Sends one request and returns the node's answer, whatever it is.
    async fn call(&mut self, request: Request) -> Result<Response, ClientError>;

    /// Starts a watch. The node's first answer (established, or an error) is read
    /// before this returns.
    async fn watch(&mut self, space: Option<SpaceId>) -> Result<Self::Watch, ClientError>;

    /// Lets go of the connection while a person takes their time (in the editor); the
    /// next request connects again.
    fn pause(&mut self) {}

    /// Sends one request; a refusal becomes [`ClientError::Node`].
    async fn ask(&mut self, request: Request) -> Result<Response, ClientError> {
        match self.call(request).await? {
            Response::Error { code, message } => Err(ClientError::Node { code, message }),
            response => Ok(response),
        }
    }
}

/// The answers streamed to a watch.
pub(crate) trait Watch {
    /// The next answer; `None` when the node ended the stream.
    async fn next(&mut self) -> Result<Option<Response>, ClientError>;
}

/// An answer of a kind the request does not expect.
pub(crate) fn unexpected(response: &Response) -> ClientError {
    let debug = format!("{response:?}");
    let name: String = debug
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    ClientError::Protocol(format!("the node answered {name}"))
}

/// The user's node, reached over QUIC. Connects on the first request.
pub(crate) struct NodeClient {
    address: NodeAddress,
    key: SecretKey,
    connect_timeout: Duration,
    link: Option<Link>,
}

impl std::fmt::Debug for NodeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeClient")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// An open connection and the endpoint it runs on.
struct Link {
    endpoint: ClientEndpoint,
    connection: quinn::Connection,
}

impl NodeClient {
    /// A client of the node at `address`, authenticating as `key`, that gives up on a
    /// connection attempt after `connect_timeout`.
    pub(crate) fn new(address: NodeAddress, key: SecretKey, connect_timeout: Duration) -> Self {
        Self {
            address,
            key,
            connect_timeout,
            link: None,
        }
    }

    /// Closes the connection cleanly, so the node does not wait for it to time out.
    pub(crate) async fn close(mut self) {
        if let Some(link) = self.link.take() {
            link.connection.close(0u32.into(), b"done");
            let _ = tokio::time::timeout(Duration::from_secs(1), link.endpoint.wait_idle()).await;
        }
    }

    fn unreachable(&self, reason: impl std::fmt::Display) -> ClientError {
        ClientError::Unreachable {
            address: self.address.to_string(),
            reason: reason.to_string(),
        }
    }

    /// The connection, opened if needed.
    async fn connection(&mut self) -> Result<quinn::Connection, ClientError> {
        if let Some(link) = &self.link
            && link.connection.close_reason().is_none()
        {
            return Ok(link.connection.clone());
        }
        let link = tokio::time::timeout(self.connect_timeout, self.connect())
            .await
            .map_err(|_| {
                self.unreachable(format!(
                    "no answer within {} s; is parleyd running there?",
                    self.connect_timeout.as_secs_f64()
                ))
            })??;
        let connection = link.connection.clone();
        self.link = Some(link);
        Ok(connection)
    }

    async fn connect(&self) -> Result<Link, ClientError> {
        let addresses: Vec<_> = tokio::net::lookup_host(&self.address.host_port)
            .await
            .map_err(|error| {
                self.unreachable(format!(
                    "cannot resolve {}: {error}",
                    self.address.host_port
                ))
            })?
            .collect();
        let mut last_error =
            self.unreachable(format!("{} resolves to no address", self.address.host_port));
        for socket in addresses {
            let endpoint = transport::client_endpoint(&self.key, socket)
                .map_err(|error| self.unreachable(error))?;
            match transport::connect(&endpoint, socket, self.address.node, CLIENT_ALPN).await {
                Ok(connection) => {
                    return Ok(Link {
                        endpoint,
                        connection,
                    });
                }
                Err(error) => last_error = self.unreachable(error),
            }
        }
        Err(last_error)
    }

    /// Opens a stream and sends `request` on it.
    async fn send(
        &mut self,
        request: &Request,
    ) -> Result<(quinn::SendStream, quinn::RecvStream), ClientError> {
        let connection = self.connection().await?;
        let (mut send, recv) = connection
            .open_bi()
            .await
            .map_err(|error| self.lost(error))?;
        transport::write_frame(&mut send, &request.encode())
            .await
            .map_err(|error| self.lost(error))?;
        Ok((send, recv))
    }

    fn lost(&mut self, error: impl std::fmt::Display) -> ClientError {
        self.link = None;
        self.unreachable(format!("connection lost: {error}"))
    }
}

impl Api for NodeClient {
    type Watch = NodeWatch;

    async fn call(&mut self, request: Request) -> Result<Response, ClientError> {
        let (mut send, mut recv) = self.send(&request).await?;
        let _ = send.finish();
        match read_response(&mut recv).await {
            Ok(Some(response)) => Ok(response),
            Ok(None) => Err(self.lost("the node ended the stream without an answer")),
            Err(ReadError::Transport(error)) => Err(self.lost(error)),
            Err(ReadError::Decode(error)) => Err(error),
        }
    }

    async fn watch(&mut self, space: Option<SpaceId>) -> Result<NodeWatch, ClientError> {
        let (send, recv) = self.send(&Request::Watch { space }).await?;
        let mut watch = NodeWatch {
            address: self.address.to_string(),
            _send: send,
            recv,
        };
        match watch.next().await? {
            Some(Response::Done) => Ok(watch),
            Some(Response::Error { code, message }) => Err(ClientError::Node { code, message }),
            Some(other) => Err(unexpected(&other)),
            None => Err(self.lost("the node ended the watch before it began")),
        }
    }

    fn pause(&mut self) {
        if let Some(link) = self.link.take() {
            link.connection.close(0u32.into(), b"paused");
        }
    }
}

/// A watch on the real node.
pub(crate) struct NodeWatch {
    address: String,
    // Kept open: finishing it is fine, but dropping it would reset the stream.
    _send: quinn::SendStream,
    recv: quinn::RecvStream,
}

impl std::fmt::Debug for NodeWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeWatch")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl Watch for NodeWatch {
    async fn next(&mut self) -> Result<Option<Response>, ClientError> {
        match read_response(&mut self.recv).await {
            Ok(response) => Ok(response),
            Err(ReadError::Transport(error)) => Err(ClientError::Unreachable {
                address: self.address.clone(),
                reason: format!("connection lost: {error}"),
            }),
            Err(ReadError::Decode(error)) => Err(error),
        }
    }
}

enum ReadError {
    Transport(String),
    Decode(ClientError),
}

/// Reads one framed response; `None` at the end of the stream.
async fn read_response(recv: &mut quinn::RecvStream) -> Result<Option<Response>, ReadError> {
    let Some(bytes) = transport::read_frame(recv, MAX_MESSAGE_BYTES)
        .await
        .map_err(|error| ReadError::Transport(error.to_string()))?
    else {
        return Ok(None);
    };
    Response::decode(&bytes).map(Some).map_err(|error| {
        ReadError::Decode(ClientError::Protocol(format!(
            "could not decode the node's answer ({error}); is the node of the same version?"
        )))
    })
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex};

    use parley_protocol::api::{ApiErrorCode, Event};
    use parley_protocol::encoding::ByteString;
    use parley_protocol::{NodeId, UserId};

    use super::*;
    use crate::commands::fake::FakeNode;

    /// A QUIC server on loopback answering from a [`FakeNode`]; records the keys of the
    /// clients it served.
    struct TestServer {
        addr: SocketAddr,
        node: NodeId,
        clients: Arc<Mutex<Vec<UserId>>>,
        _task: tokio::task::JoinHandle<()>,
    }

    fn serve(fake: FakeNode) -> TestServer {
        let key = SecretKey::from_seed(&[200; 32]);
        let mut fake = fake;
        fake.id = key.node_id();
        let bind: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let endpoint = transport::server_endpoint(&key, bind, &[CLIENT_ALPN]).unwrap();
        let addr = endpoint.local_addr().unwrap();
        let fake = Arc::new(Mutex::new(fake));
        let clients = Arc::new(Mutex::new(Vec::new()));
        let seen = clients.clone();
        let task = tokio::spawn(async move {
            while let Some(incoming) = endpoint.accept().await {
                let Ok(connection) = incoming.await else {
                    continue;
                };
                let user = UserId::from_bytes(transport::peer_key(&connection).unwrap());
                seen.lock().unwrap().push(user);
                let fake = fake.clone();
                tokio::spawn(async move {
                    while let Ok((mut send, mut recv)) = connection.accept_bi().await {
                        let Ok(Some(bytes)) =
                            transport::read_frame(&mut recv, MAX_MESSAGE_BYTES).await
                        else {
                            continue;
                        };
                        let request = Request::decode(&bytes).unwrap();
                        if let Request::Watch { .. } = request {
                            let events: Vec<Response> =
                                fake.lock().unwrap().events.drain(..).collect();
                            transport::write_frame(&mut send, &Response::Done.encode())
                                .await
                                .unwrap();
                            for event in events {
                                transport::write_frame(&mut send, &event.encode())
                                    .await
                                    .unwrap();
                            }
                            // Held open, as a live node does.
                            tokio::spawn(async move {
                                let _send = send;
                                std::future::pending::<()>().await;
                            });
                            continue;
                        }
                        let response = fake.lock().unwrap().answer(request);
                        transport::write_frame(&mut send, &response.encode())
                            .await
                            .unwrap();
                        send.finish().unwrap();
                    }
                });
            }
        });
        TestServer {
            addr,
            node: key.node_id(),
            clients,
            _task: task,
        }
    }

    fn client(server: &TestServer, node: NodeId, user: &SecretKey) -> NodeClient {
        let address = NodeAddress {
            node,
            host_port: server.addr.to_string(),
        };
        NodeClient::new(
            address,
            SecretKey::from_seed(&user.to_seed()),
            Duration::from_secs(5),
        )
    }

    #[tokio::test]
    async fn requests_travel_over_quic_as_the_users_key() {
        let user = SecretKey::from_seed(&[1; 32]);
        let server = serve(FakeNode::new(user.user_id()));
        let mut node = client(&server, server.node, &user);
        let Response::Me {
            user: me, node: id, ..
        } = node.ask(Request::WhoAmI).await.unwrap()
        else {
            panic!("not Me");
        };
        assert_eq!((me, id), (user.user_id(), server.node));
        // The same connection serves the next request; after a pause, a new one does.
        node.ask(Request::Spaces).await.unwrap();
        assert_eq!(server.clients.lock().unwrap().len(), 1);
        node.pause();
        node.ask(Request::Spaces).await.unwrap();
        assert_eq!(*server.clients.lock().unwrap(), vec![user.user_id(); 2]);
        node.close().await;
    }

    #[tokio::test]
    async fn a_refusal_is_the_nodes_code_and_message() {
        let user = SecretKey::from_seed(&[1; 32]);
        let server = serve(FakeNode::new(user.user_id()));
        let mut node = client(&server, server.node, &user);
        let missing = parley_protocol::PostId([7; 32]);
        let error = node
            .ask(Request::Thread {
                id: missing,
                from: 0,
            })
            .await
            .unwrap_err();
        assert!(matches!(
            error,
            ClientError::Node {
                code: ApiErrorCode::Unknown,
                ..
            }
        ));
        assert!(error.to_string().contains(&missing.to_string()), "{error}");
    }

    #[tokio::test]
    async fn a_node_holding_another_key_is_refused_by_name() {
        let user = SecretKey::from_seed(&[1; 32]);
        let server = serve(FakeNode::new(user.user_id()));
        let impostor_expected = NodeId::from_bytes(SecretKey::from_seed(&[9; 32]).node_id().0);
        let mut node = client(&server, impostor_expected, &user);
        let error = node.ask(Request::WhoAmI).await.unwrap_err();
        assert_eq!(error.code(), "node_unreachable");
        let message = error.to_string();
        assert!(
            message.starts_with(&format!("node unreachable at {impostor_expected}@")),
            "{message}"
        );
        assert!(
            message.contains(&format!("is {}, not the expected", server.node)),
            "{message}"
        );
    }

    #[tokio::test]
    async fn nothing_listening_is_unreachable_within_the_timeout() {
        let user = SecretKey::from_seed(&[1; 32]);
        // A port just freed: nothing answers there.
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        drop(socket);
        let address = NodeAddress {
            node: NodeId([3; 32]),
            host_port: addr.to_string(),
        };
        let mut node = NodeClient::new(address.clone(), user, Duration::from_millis(200));
        let error = node.ask(Request::WhoAmI).await.unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "node unreachable at {address} (no answer within 0.2 s; is parleyd running there?)"
            )
        );
        let address = NodeAddress {
            node: NodeId([3; 32]),
            host_port: "no-such-host.invalid:7447".to_owned(),
        };
        let mut node = NodeClient::new(
            address,
            SecretKey::from_seed(&[1; 32]),
            Duration::from_secs(5),
        );
        let error = node.ask(Request::WhoAmI).await.unwrap_err();
        assert!(
            error
                .to_string()
                .contains("cannot resolve no-such-host.invalid:7447"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_watch_streams_what_the_node_sends() {
        let user = SecretKey::from_seed(&[1; 32]);
        let mut fake = FakeNode::new(user.user_id());
        let event = Response::Event(Event::Post {
            envelope: ByteString(vec![1, 2, 3]),
        });
        fake.events = vec![event.clone(), event.clone()];
        let server = serve(fake);
        let mut node = client(&server, server.node, &user);
        let mut watch = node.watch(None).await.unwrap();
        assert_eq!(watch.next().await.unwrap(), Some(event.clone()));
        assert_eq!(watch.next().await.unwrap(), Some(event));
        // Other requests still work while the watch is open.
        node.ask(Request::WhoAmI).await.unwrap();
        let waited = tokio::time::timeout(Duration::from_millis(100), watch.next()).await;
        assert!(waited.is_err(), "the watch stays open");
    }
}
