//! The running node: accepts QUIC connections, authenticates each by its key, and serves
//! the client API (`parley-client/2`) to registered users and the admin API
//! (`parley-admin/1`) to the node's own key.

mod admin;
mod api;
pub mod limits;
mod refold;
mod scrub;
mod search;
pub(crate) mod spaces;
#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
mod unread;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use parley_protocol::api::{ADMIN_ALPN, CLIENT_ALPN, NodeAddress, Request, Response};
use parley_protocol::encoding::ByteString;
use parley_protocol::limits::MAX_MESSAGE_BYTES;
use parley_protocol::view::SpaceView;
use parley_protocol::{NodeId, Post, SecretKey, SpaceId, UserId};
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::broadcast;

use crate::federation::{self, Federation, FederationConfig};
use crate::search::{Indexer, SearchIndex, SearchSettings};
use crate::storage::{CommitHandle, Committer, Inserted, Storage, StorageError};
use crate::transport::{self, NODE_ALPN, TransportError};

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
    pub(crate) federation: Federation,
    /// Live connections by source address.
    connections: Arc<limits::Connections>,
    /// The node-wide budget of request bytes being received.
    request_bytes: Arc<tokio::sync::Semaphore>,
    /// Budgets of answers not yet read, per user and node-wide.
    answers: limits::Answers,
    /// Held while threads are folded again, so one refolder writes lines at a time.
    refolding: Mutex<()>,
    /// Wakes the background refold task after posts are stored.
    refold_wake: Arc<tokio::sync::Notify>,
    /// The full-text index, unless it is turned off or could not be opened.
    pub(crate) search: Option<Arc<SearchIndex>>,
    /// Why there is no index, for those who search.
    pub(crate) search_missing: Option<String>,
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

    /// The full view of `space`, folded from all its posts: for tests and tools that
    /// compare nodes; the client API never folds a whole space.
    pub(crate) fn view(&self, space: &SpaceId) -> Result<SpaceView, StorageError> {
        let posts = self.storage.space_posts(space)?;
        Ok(SpaceView::fold(*space, posts.iter()))
    }

    /// What follows storing new posts of `space`, written here (`source` is `None`) or
    /// received from the peer `source`: the in-memory state learns them, watchers see
    /// them, retracted bytes are dropped, and peers hear of them.
    pub(crate) async fn stored(
        self: &Arc<Self>,
        space: SpaceId,
        posts: &[Post],
        source: Option<NodeId>,
    ) {
        let mut replicas = false;
        {
            let mut spaces = self.spaces();
            for post in posts {
                spaces.record(post);
                replicas |= spaces::is_governance(post);
            }
        }
        for post in posts {
            let _ = self.events.send(Arc::new(post.clone()));
        }
        self.drop_retracted(space, posts);
        self.refold_wake.notify_one();
        federation::announce(self, space, posts, source);
        if replicas {
            federation::replicas_changed(self);
        }
    }

    /// Drops the bytes of posts that an effective retraction withdrew, keeping
    /// tombstones: those the new `posts` retract, and new posts a stored retraction
    /// withdraws already (they may arrive in any order). Whether a retraction counts
    /// depends only on the space's governance, the retraction and its target (spec 6),
    /// so each pair is judged without reading the space.
    pub(crate) fn drop_retracted(&self, space: SpaceId, posts: &[Post]) {
        let result = (|| -> Result<usize, StorageError> {
            let mut pairs: Vec<(Post, Post)> = Vec::new();
            for post in posts {
                if let parley_protocol::Content::Retraction(retraction) = post.content()
                    && let Some(target) = self.storage.get(&retraction.target)?
                {
                    pairs.push((post.clone(), target));
                }
                for retraction in self.storage.retractions_of(&space, &post.id())? {
                    pairs.push((retraction, post.clone()));
                }
            }
            if pairs.is_empty() {
                return Ok(0);
            }
            let spine = self.spaces().spine_posts(&space);
            let mut withdrawn = std::collections::BTreeSet::new();
            for (retraction, target) in &pairs {
                withdrawn.extend(SpaceView::retracted(
                    space,
                    spine.iter().chain([retraction, target]),
                ));
            }
            self.storage.drop_retracted(&space, &withdrawn)
        })();
        if let Err(error) = result {
            tracing::warn!(%error, %space, "could not drop retracted posts; they stay hidden");
        }
    }
}

/// The node's QUIC endpoint bound to `listen`: it serves the client, admin and node
/// protocols, and dials peers from the same port.
pub fn endpoint(
    key: &SecretKey,
    listen: SocketAddr,
    federation: &FederationConfig,
) -> Result<quinn::Endpoint, NodeError> {
    Ok(transport::server_endpoint_with(
        key,
        listen,
        &[CLIENT_ALPN, ADMIN_ALPN, NODE_ALPN],
        federation.timeouts,
    )?)
}

/// Serves on an already bound endpoint (from [`endpoint`]; tests bind port 0) until
/// `shutdown` completes, federating with the peers of the store and `peers` (from the
/// config file).
pub async fn serve(
    key: SecretKey,
    storage: Storage,
    endpoint: quinn::Endpoint,
    advertised: String,
    federation: FederationConfig,
    peers: Vec<NodeAddress>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), NodeError> {
    let handle = start(key, storage, endpoint, advertised, federation, peers)?;
    shutdown.await;
    handle.shutdown().await
}

/// Starts serving on an already bound endpoint (from [`endpoint`]) in the background of
/// the current tokio runtime, and returns a handle to the running node.
pub fn start(
    key: SecretKey,
    storage: Storage,
    endpoint: quinn::Endpoint,
    advertised: String,
    federation: FederationConfig,
    peers: Vec<NodeAddress>,
) -> Result<NodeHandle, NodeError> {
    start_with_search(
        key,
        storage,
        endpoint,
        advertised,
        federation,
        peers,
        SearchSettings::default(),
    )
}

/// [`start`], with the search index kept as `search` says.
pub fn start_with_search(
    key: SecretKey,
    storage: Storage,
    endpoint: quinn::Endpoint,
    advertised: String,
    federation: FederationConfig,
    peers: Vec<NodeAddress>,
    search: SearchSettings,
) -> Result<NodeHandle, NodeError> {
    let commit = Committer::spawn(storage.clone());
    // The index is derived data: a node that cannot keep one still serves, and says
    // why to those who search.
    let (index, writing, search_missing) = if search.enabled {
        match SearchIndex::open(&storage, &search) {
            Ok((index, writing)) => (Some(Arc::new(index)), Some(writing), None),
            Err(error) => {
                tracing::error!(%error, "search is unavailable");
                (
                    None,
                    None,
                    Some(format!(
                        "this node could not open its search index: {error}"
                    )),
                )
            }
        }
    } else {
        (
            None,
            None,
            Some("search is turned off on this node ([search] enabled = false)".to_owned()),
        )
    };
    let (events, _) = broadcast::channel(1024);
    let spaces = spaces::Spaces::load(&storage)?;
    let dialer = transport::ClientEndpoint::from_endpoint(endpoint.clone(), &key)?;
    let node = Arc::new(Node {
        key,
        address: advertised,
        storage,
        commit,
        spaces: Mutex::new(spaces),
        events,
        federation: Federation::new(federation, dialer),
        connections: Arc::default(),
        request_bytes: limits::node_budget(),
        answers: limits::Answers::default(),
        refolding: Mutex::new(()),
        refold_wake: Arc::default(),
        search: index,
        search_missing,
    });
    tracing::info!(node = %node.id(), address = %node.address, "serving");
    let mut configured = node.storage.peers()?;
    for peer in peers {
        if !configured.iter().any(|p| p.node == peer.node) {
            configured.push(peer);
        }
    }
    federation::start(&node, configured);
    let scrub = scrub::Scrub::spawn(node.clone());
    let refolder = refold::Refolder::spawn(node.clone());
    let indexer = match (&node.search, writing) {
        (Some(index), Some(writing)) => {
            let folder = node.clone();
            let fold: crate::search::Fold = Box::new(move |space, root| {
                let refolding = folder.refolding();
                match refolding.spine(space)? {
                    Some(spine) => refolding.fold_thread(space, &spine, root),
                    None => Ok(None),
                }
            });
            match Indexer::spawn(index.clone(), writing, node.storage.clone(), fold) {
                Ok(indexer) => Some(indexer),
                Err(error) => {
                    tracing::error!(%error, "could not start the search indexer");
                    None
                }
            }
        }
        _ => None,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(accept_loop(node.clone(), endpoint.clone(), stopped));
    Ok(NodeHandle {
        node,
        endpoint,
        stop,
        task,
        scrub,
        refolder,
        indexer,
    })
}

/// A node running in the background ([`start`]): what tests, benchmarks and tools
/// embedding a node need of it.
pub struct NodeHandle {
    node: Arc<Node>,
    endpoint: quinn::Endpoint,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
    scrub: scrub::Scrub,
    refolder: refold::Refolder,
    indexer: Option<Indexer>,
}

impl std::fmt::Debug for NodeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeHandle")
            .field("node", &self.node.id())
            .finish_non_exhaustive()
    }
}

impl NodeHandle {
    /// The node's id.
    pub fn id(&self) -> NodeId {
        self.node.id()
    }

    /// The socket address the node listens on.
    pub fn local_addr(&self) -> Result<SocketAddr, NodeError> {
        Ok(self
            .endpoint
            .local_addr()
            .map_err(|source| TransportError::Bind {
                addr: SocketAddr::from(([0, 0, 0, 0], 0)),
                source,
            })?)
    }

    /// Stores posts written at this node as a client's `Publish` does after its checks
    /// (durably, then pushed to peers), without a client connection: for tools that
    /// import posts, tests and benchmarks. The posts are verified already (a [`Post`]
    /// only comes from validation). Returns what became of each.
    pub async fn publish(&self, posts: Vec<Post>) -> Result<Vec<Inserted>, StorageError> {
        let results = self.node.commit.commit(posts.clone()).await?;
        let mut by_space: std::collections::BTreeMap<SpaceId, Vec<Post>> = Default::default();
        for (post, result) in posts.into_iter().zip(&results) {
            if *result == Inserted::New {
                by_space.entry(post.space()).or_default().push(post);
            }
        }
        for (space, posts) in by_space {
            self.node.stored(space, &posts, None).await;
        }
        Ok(results)
    }

    /// Adds a configured peer (stored, then dialed), as `parleyd peer add` does.
    pub fn add_peer(&self, address: NodeAddress) -> Result<(), StorageError> {
        self.node.storage.add_peer(&address)?;
        federation::add_peer(&self.node, address);
        Ok(())
    }

    /// Removes a configured peer (and closes its connection), as `parleyd peer remove`.
    pub fn remove_peer(&self, peer: &NodeId) -> Result<bool, StorageError> {
        let removed = self.node.storage.remove_peer(peer)?;
        federation::remove_peer(&self.node, peer);
        Ok(removed)
    }

    /// Every peer's state.
    pub fn peers(&self) -> Vec<federation::PeerStatus> {
        self.node.federation.status()
    }

    /// The search index's state, if the node keeps one.
    pub fn search_status(&self) -> Option<crate::search::SearchStatus> {
        self.node
            .search
            .as_ref()
            .map(|index| index.status(&self.node.storage))
    }

    /// The spaces this node holds posts of.
    pub fn spaces(&self) -> Result<Vec<SpaceId>, StorageError> {
        self.node.storage.spaces()
    }

    /// The reconciliation items (posts and tombstones) of `space`.
    pub fn items(&self, space: &SpaceId) -> Result<Vec<parley_protocol::sync::Item>, StorageError> {
        self.node.storage.items(space)
    }

    /// How many posts of `space` this node holds in full (not tombstones).
    pub fn count(&self, space: &SpaceId) -> Result<u64, StorageError> {
        self.node.storage.count(space)
    }

    /// The full view of `space`, folded from every post it holds (a whole-space read,
    /// for tests and tools; users' reads go through the read model).
    pub fn view(&self, space: &SpaceId) -> Result<SpaceView, StorageError> {
        self.node.view(space)
    }

    /// Posts stored here from now on, as the client API's `Watch` streams them.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Post>> {
        self.node.events.subscribe()
    }

    /// Stops serving: closes every connection, flushes the store and returns once the
    /// node's tasks let go of it.
    pub async fn shutdown(self) -> Result<(), NodeError> {
        let Self {
            node,
            endpoint,
            stop,
            task,
            scrub,
            refolder,
            indexer,
        } = self;
        let _ = stop.send(());
        let _ = task.await;
        scrub.stop().await;
        refolder.stop().await;
        if let Some(indexer) = indexer {
            // It commits what it holds first.
            let _ = tokio::task::spawn_blocking(move || indexer.stop()).await;
        }
        federation::stop(&node);
        tracing::info!("shutting down");
        endpoint.close(0u32.into(), b"node shutting down");
        node.storage.flush()?;
        drop(node);
        endpoint.wait_idle().await;
        Ok(())
    }

    /// Stops at once, as a crash would: no flush, connections dropped. What was
    /// acknowledged is on disk already.
    pub fn abort(self) {
        federation::stop(&self.node);
        self.endpoint.close(0u32.into(), b"node stopped");
        self.task.abort();
        self.scrub.abandon();
        self.refolder.abandon();
        if let Some(indexer) = &self.indexer {
            indexer.abandon();
        }
    }
}

/// Accepts connections until told to stop or the endpoint closes.
async fn accept_loop(
    node: Arc<Node>,
    endpoint: quinn::Endpoint,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    loop {
        tokio::select! {
            _ = &mut stop => break,
            incoming = endpoint.accept() => {
                let Some(incoming) = incoming else { break };
                // Refused before the handshake costs anything: too many connections
                // from this address, or in all.
                let Some(slot) = node.connections.admit(incoming.remote_address().ip()) else {
                    tracing::debug!(address = %incoming.remote_address(), "refused a connection over the bounds");
                    incoming.refuse();
                    continue;
                };
                let node = node.clone();
                tokio::spawn(async move {
                    let _slot = slot;
                    if let Err(error) = connection(node, incoming).await {
                        tracing::debug!(%error, "connection ended");
                    }
                });
            }
        }
    }
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
    if alpn.as_deref() == Some(NODE_ALPN) {
        if let Err(error) = federation::accept(node, connection).await {
            tracing::debug!(%error, "peer connection ended");
        }
        return Ok(());
    }
    let user = UserId::from_bytes(key);
    let budget = limits::Budget::for_connection(&node.request_bytes);
    let mut registered = node.storage.is_registered(&user).unwrap_or(false);
    let mut stranger = None;
    if !registered {
        // A key the node does not serve may only join: few such connections per
        // address, and their requests one at a time.
        stranger = node
            .connections
            .admit_unregistered(connection.remote_address().ip());
        if stranger.is_none() {
            connection.close(
                2u32.into(),
                b"too many connections from keys this node does not serve",
            );
            return Ok(());
        }
        connection
            .set_max_concurrent_bi_streams(quinn::VarInt::from_u32(limits::UNREGISTERED_STREAMS));
    }
    loop {
        let Ok((send, recv)) = connection.accept_bi().await else {
            return Ok(());
        };
        if !registered && node.storage.is_registered(&user).unwrap_or(false) {
            // Joined on this connection.
            registered = true;
            drop(stranger.take());
            connection
                .set_max_concurrent_bi_streams(quinn::VarInt::from_u32(limits::REGISTERED_STREAMS));
        }
        let serve = request(node.clone(), user, registered, budget.clone(), send, recv);
        if registered {
            tokio::spawn(serve);
        } else {
            serve.await;
        }
    }
}

/// Reads one request (whole within [`limits::REQUEST_DEADLINE`], within the byte
/// budgets, at most [`limits::MAX_UNREGISTERED_REQUEST_BYTES`] from a key the node does
/// not serve) and answers it.
async fn request(
    node: Arc<Node>,
    user: UserId,
    registered: bool,
    budget: limits::Budget,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
) {
    let max = if registered {
        MAX_MESSAGE_BYTES
    } else {
        limits::MAX_UNREGISTERED_REQUEST_BYTES
    };
    let read = async {
        let Some(len) = transport::read_length(&mut recv, max).await? else {
            return Ok(None);
        };
        let room = budget.room(len).await;
        let body = transport::read_body(&mut recv, len).await?;
        Ok::<_, TransportError>(Some((body, room)))
    };
    let (bytes, _room) = match tokio::time::timeout(limits::REQUEST_DEADLINE, read).await {
        Ok(Ok(Some(read))) => read,
        Ok(Ok(None)) => return,
        Ok(Err(TransportError::FrameTooLarge { len, max })) => {
            let response = if registered {
                Response::error(
                    parley_protocol::api::ApiErrorCode::Malformed,
                    format!("a request of {len} bytes is over the limit of {max} bytes"),
                )
            } else {
                api::not_registered(&user)
            };
            let _ = recv.stop(quinn::VarInt::from_u32(0));
            if transport::write_frame(&mut send, &response.encode())
                .await
                .is_ok()
            {
                let _ = send.finish();
            }
            return;
        }
        Ok(Err(error)) => {
            tracing::debug!(%error, "bad request frame");
            return;
        }
        Err(_) => {
            tracing::debug!(%user, "a request did not arrive whole in time");
            let _ = recv.stop(quinn::VarInt::from_u32(0));
            return;
        }
    };
    let request = match Request::decode(&bytes) {
        Ok(Request::Watch { space }) => return watch(&node, user, space, send).await,
        Ok(request) => Ok(request),
        Err(error) => Err(Response::error(
            parley_protocol::api::ApiErrorCode::Malformed,
            format!("could not decode the request: {error}"),
        )),
    };
    // Room for the answer is held from before it is computed until the client has it:
    // a client that does not read its answers holds at most its budget.
    let answers = node.answers.of(&user);
    let reserve = request.as_ref().map_or(1, limits::answer_reserve);
    let Some(mut room) = answers.room(reserve).await else {
        return;
    };
    let response = match request {
        Ok(request) => api::handle(&node, user, request).await,
        Err(refusal) => refusal,
    };
    let encoded = response.encode();
    drop(response);
    if answers.fit(&mut room, encoded.len()).await.is_none() {
        return;
    }
    if transport::write_frame(&mut send, &encoded).await.is_ok() {
        drop(encoded);
        let _ = send.finish();
        // Until the client acknowledged the answer (or the connection ends).
        let _ = send.stopped().await;
    }
    drop(room);
}

/// Streams new posts of the user's spaces (or of one) until the client goes away.
async fn watch(node: &Node, user: UserId, space: Option<SpaceId>, mut send: quinn::SendStream) {
    // Only `Join` is served to a key the node does not serve.
    let refused = match node.storage.is_registered(&user) {
        Ok(true) => None,
        Ok(false) => Some(api::not_registered(&user)),
        Err(error) => Some(Response::error(
            parley_protocol::api::ApiErrorCode::Internal,
            format!("the node failed: {error}"),
        )),
    };
    if let Some(response) = refused {
        let _ = transport::write_frame(&mut send, &response.encode()).await;
        let _ = send.finish();
        return;
    }
    let mut events = node.events.subscribe();
    if let Some(space) = space {
        let allowed = node.spaces().is_member(&space, &user);
        if !allowed {
            let response = api::no_such_space(&space);
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
