//! The running node: accepts QUIC connections, authenticates each by its key, and serves
//! the client API (`parley-client/1`) to registered users and the admin API
//! (`parley-admin/1`) to the node's own key.

mod admin;
mod api;
mod spaces;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use parley_protocol::api::{ADMIN_ALPN, CLIENT_ALPN, Request, Response};
use parley_protocol::encoding::ByteString;
use parley_protocol::limits::MAX_MESSAGE_BYTES;
use parley_protocol::view::SpaceView;
use parley_protocol::{NodeId, Post, SecretKey, SpaceId, UserId};
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::broadcast;

use crate::clock;
use crate::storage::{CommitHandle, Committer, Storage, StorageError};
use crate::transport::{self, TransportError};

pub use admin::{
    AdminRequest, AdminResponse, MAX_ADMIN_BYTES, PeerRecord, SpaceStatus, Status,
    execute as admin_execute,
};

/// Why the node stopped or could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The QUIC endpoint failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// A running node's shared state.
pub(crate) struct Node {
    key: SecretKey,
    address: String,
    pub(crate) storage: Storage,
    pub(crate) commit: CommitHandle,
    pub(crate) spaces: Mutex<spaces::Spaces>,
    pub(crate) events: broadcast::Sender<Arc<Post>>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.id())
            .finish_non_exhaustive()
    }
}

impl Node {
    /// This node's id.
    pub(crate) fn id(&self) -> NodeId {
        self.key.node_id()
    }

    /// The in-memory space state. Held briefly, never across an await.
    pub(crate) fn spaces(&self) -> MutexGuard<'_, spaces::Spaces> {
        self.spaces.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The full view of `space`: cached, or folded from the space's posts, which are
    /// read (and verified) from storage once and then kept in memory.
    pub(crate) fn view(&self, space: &SpaceId) -> Result<Arc<SpaceView>, StorageError> {
        let (generation, posts) = {
            let spaces = self.spaces();
            if let Some(view) = spaces.cached_view(space) {
                return Ok(view);
            }
            (spaces.generation(space), spaces.posts(space))
        };
        let posts = match posts {
            Some(posts) => posts,
            None => {
                let posts = self.storage.space_posts(space, clock::now())?;
                self.spaces().load_posts(*space, generation, posts.clone());
                posts
            }
        };
        let view = Arc::new(SpaceView::fold(*space, posts.iter()));
        self.spaces().cache_view(*space, generation, view.clone());
        Ok(view)
    }

    /// Drops the bytes of posts an effective retraction withdrew, keeping tombstones.
    pub(crate) async fn drop_retracted(&self, space: &SpaceId) {
        let result = self
            .storage
            .space_posts(space, clock::now())
            .and_then(|posts| {
                let retracted = SpaceView::retracted(*space, posts.iter());
                self.storage.drop_retracted(space, &retracted)
            });
        if let Err(error) = result {
            tracing::warn!(%error, %space, "could not drop retracted posts; they stay hidden");
        }
    }
}

/// Serves until `shutdown` completes, on an endpoint bound to `listen`.
pub async fn run(
    key: SecretKey,
    storage: Storage,
    listen: SocketAddr,
    advertised: String,
    shutdown: impl Future<Output = ()>,
) -> Result<(), NodeError> {
    let endpoint = transport::server_endpoint(&key, listen, &[CLIENT_ALPN, ADMIN_ALPN])?;
    serve(key, storage, endpoint, advertised, shutdown).await
}

/// Serves on an already bound endpoint (tests bind port 0) until `shutdown` completes.
pub async fn serve(
    key: SecretKey,
    storage: Storage,
    endpoint: quinn::Endpoint,
    advertised: String,
    shutdown: impl Future<Output = ()>,
) -> Result<(), NodeError> {
    let commit = Committer::spawn(storage.clone());
    let (events, _) = broadcast::channel(1024);
    let mut spaces = spaces::Spaces::default();
    for space in storage.spaces()? {
        for post in storage.space_posts(&space, clock::now())? {
            if spaces::is_governance(&post) {
                spaces.record(&post);
            }
        }
    }
    let node = Arc::new(Node {
        key,
        address: advertised,
        storage,
        commit,
        spaces: Mutex::new(spaces),
        events,
    });
    tracing::info!(node = %node.id(), address = %node.address, "serving");
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            incoming = endpoint.accept() => {
                let Some(incoming) = incoming else { break };
                let node = node.clone();
                tokio::spawn(async move {
                    if let Err(error) = connection(node, incoming).await {
                        tracing::debug!(%error, "connection ended");
                    }
                });
            }
        }
    }
    tracing::info!("shutting down");
    endpoint.close(0u32.into(), b"node shutting down");
    node.storage.flush()?;
    endpoint.wait_idle().await;
    Ok(())
}

/// Handles one connection: authenticates its key, then serves its streams.
async fn connection(node: Arc<Node>, incoming: quinn::Incoming) -> Result<(), TransportError> {
    let connection = incoming.await.map_err(TransportError::from)?;
    let key = transport::peer_key(&connection)?;
    let alpn = transport::alpn(&connection);
    if alpn.as_deref() == Some(ADMIN_ALPN) {
        if key != *node.id().as_bytes() {
            connection.close(1u32.into(), b"only the node's own key may administer it");
            return Ok(());
        }
        return admin::serve(node, connection).await;
    }
    let user = UserId::from_bytes(key);
    loop {
        let Ok((mut send, mut recv)) = connection.accept_bi().await else {
            return Ok(());
        };
        let node = node.clone();
        tokio::spawn(async move {
            let response = match transport::read_frame(&mut recv, MAX_MESSAGE_BYTES).await {
                Ok(Some(bytes)) => match Request::decode(&bytes) {
                    Ok(Request::Watch { space }) => return watch(&node, user, space, send).await,
                    Ok(request) => api::handle(&node, user, request).await,
                    Err(error) => Response::error(
                        parley_protocol::api::ApiErrorCode::Malformed,
                        format!("could not decode the request: {error}"),
                    ),
                },
                Ok(None) => return,
                Err(error) => {
                    tracing::debug!(%error, "bad request frame");
                    return;
                }
            };
            if transport::write_frame(&mut send, &response.encode())
                .await
                .is_ok()
            {
                let _ = send.finish();
            }
        });
    }
}

/// Streams new posts of the user's spaces (or of one) until the client goes away.
async fn watch(node: &Node, user: UserId, space: Option<SpaceId>, mut send: quinn::SendStream) {
    let mut events = node.events.subscribe();
    if let Some(space) = space {
        let allowed = node.spaces().is_member(&space, &user);
        if !allowed {
            let response = Response::error(
                parley_protocol::api::ApiErrorCode::NotMember,
                format!("you are not a member of space {space}"),
            );
            let _ = transport::write_frame(&mut send, &response.encode()).await;
            let _ = send.finish();
            return;
        }
    }
    // An empty `Done` tells the client the watch is established.
    if transport::write_frame(&mut send, &Response::Done.encode())
        .await
        .is_err()
    {
        return;
    }
    loop {
        let post = match events.recv().await {
            Ok(post) => post,
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::debug!(missed, "a watcher fell behind");
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if space.is_some_and(|s| s != post.space()) {
            continue;
        }
        if !node.spaces().is_member(&post.space(), &user) {
            continue;
        }
        let event = Response::Event(parley_protocol::api::Event::Post {
            envelope: ByteString(post.bytes().to_vec()),
        });
        if transport::write_frame(&mut send, &event.encode())
            .await
            .is_err()
        {
            return;
        }
    }
}
