//! Admin commands (`parleyd invite|status|peer`): executed by the running node over the
//! admin ALPN, which only the node's own key may use, or directly on the store when the
//! node is stopped. Both paths run [`execute`].

use std::sync::Arc;

use parley_protocol::api::{Invite, InviteToken, NodeAddress};
use parley_protocol::{NodeId, Timestamp};
use serde::{Deserialize, Serialize};

use crate::federation::{self, PeerStatus};
use crate::storage::{Quarantined, Storage};
use crate::transport::{self, TransportError};

use super::Node;

/// Admin messages are small; anything larger is refused before it is read.
pub const MAX_ADMIN_BYTES: usize = 64 * 1024;

/// An admin command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum AdminRequest {
    /// Create an invite.
    Invite {
        /// How many keys may join with it.
        uses: u32,
        /// When it stops working, if ever.
        expires_at: Option<Timestamp>,
    },
    /// Report the node's state.
    Status,
    /// Add or update a peer node.
    PeerAdd {
        /// The peer.
        address: NodeAddress,
    },
    /// Remove a peer node.
    PeerRemove {
        /// The peer.
        node: NodeId,
    },
    /// List peer nodes.
    PeerList,
}

/// A peer node: configured, connected, or both.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerRecord {
    /// The peer's id.
    pub node_id: String,
    /// Its address `NODE_ID@HOST:PORT`, or empty for a node that is not a configured
    /// peer but connected as a replica of a shared space.
    pub address: String,
    /// Whether a connection to it is up (always false when the node is stopped).
    pub connected: bool,
    /// When the connection came up, or the last one went down (ms since the epoch).
    #[serde(default)]
    pub since: Option<Timestamp>,
    /// When a reconciliation with it last finished.
    #[serde(default)]
    pub last_sync: Option<Timestamp>,
    /// Posts sent to it since the node started.
    #[serde(default)]
    pub posts_sent: u64,
    /// New posts received from it and stored since the node started.
    #[serde(default)]
    pub posts_received: u64,
    /// Envelopes and messages from it refused as invalid since the node started.
    #[serde(default)]
    pub invalid: u64,
    /// Why the last connection attempt failed or the last connection ended.
    #[serde(default)]
    pub last_error: Option<String>,
}

/// One space's line in the status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpaceStatus {
    /// The space id.
    pub space: String,
    /// Its name.
    pub name: String,
    /// Posts stored.
    pub posts: u64,
}

/// The node's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The node id.
    pub node_id: String,
    /// Its address.
    pub address: String,
    /// Whether it is serving (else the store was read directly).
    pub running: bool,
    /// Registered users.
    pub users: u64,
    /// Peers.
    pub peers: Vec<PeerRecord>,
    /// Spaces.
    pub spaces: Vec<SpaceStatus>,
    /// Bytes the store takes on disk.
    pub disk_bytes: u64,
    /// Bytes free on the disk holding the store.
    #[serde(default)]
    pub disk_free_bytes: u64,
    /// Bytes the node keeps free: below that it refuses posts.
    #[serde(default)]
    pub min_free_bytes: u64,
    /// Posts whose record was found damaged, not held until a peer sends them again.
    #[serde(default)]
    pub quarantined: Vec<Quarantined>,
    /// The search index, when the node is running and keeps one.
    #[serde(default)]
    pub search: Option<crate::search::SearchStatus>,
    /// Why the running node keeps no search index.
    #[serde(default)]
    pub search_missing: Option<String>,
}

/// The answer to an admin command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum AdminResponse {
    /// The invite to hand out.
    Invite {
        /// `NODE_ID@HOST:PORT/TOKEN`.
        invite: String,
        /// Uses.
        uses: u32,
        /// Expiry.
        expires_at: Option<Timestamp>,
    },
    /// The state.
    Status(Status),
    /// The peers.
    Peers(Vec<PeerRecord>),
    /// Done.
    Done,
    /// Nothing to do: it was so already.
    Unchanged {
        /// What was so.
        message: String,
    },
    /// Refused.
    Error {
        /// Why.
        message: String,
    },
}

/// Runs an admin command on `storage` for the node `node` reached at `address`;
/// `live` is the state of its peers when the node is running (`None` when the store
/// is read directly).
pub fn execute(
    storage: &Storage,
    node: NodeId,
    address: &str,
    live: Option<&[PeerStatus]>,
    request: AdminRequest,
) -> AdminResponse {
    let result = match request {
        AdminRequest::Invite { uses, expires_at } => {
            invite(storage, node, address, uses, expires_at)
        }
        AdminRequest::Status => status(storage, node, address, live).map(AdminResponse::Status),
        AdminRequest::PeerAdd { address } if address.node == node => {
            Err("that is this node's own address; add the address of another node".to_owned())
        }
        AdminRequest::PeerAdd { address } => match storage.peers() {
            Ok(peers) if peers.contains(&address) => Ok(AdminResponse::Unchanged {
                message: format!("{address} is a peer already; nothing changed"),
            }),
            Ok(_) => storage
                .add_peer(&address)
                .map(|()| AdminResponse::Done)
                .map_err(|e| e.to_string()),
            Err(error) => Err(error.to_string()),
        },
        AdminRequest::PeerRemove { node } => match storage.remove_peer(&node) {
            Ok(true) => Ok(AdminResponse::Done),
            Ok(false) => Err(format!("{node} is not a peer of this node")),
            Err(error) => Err(error.to_string()),
        },
        AdminRequest::PeerList => peers(storage, live).map(AdminResponse::Peers),
    };
    result.unwrap_or_else(|message| AdminResponse::Error { message })
}

fn invite(
    storage: &Storage,
    node: NodeId,
    address: &str,
    uses: u32,
    expires_at: Option<Timestamp>,
) -> Result<AdminResponse, String> {
    if uses == 0 {
        return Err("an invite needs at least one use".to_owned());
    }
    let mut token = [0u8; 16];
    getrandom::fill(&mut token)
        .map_err(|e| format!("no randomness from the operating system: {e}"))?;
    let token = InviteToken(token);
    storage
        .create_invite(&token, uses, expires_at)
        .map_err(|e| e.to_string())?;
    let address = NodeAddress {
        node,
        host_port: address.to_owned(),
    };
    Ok(AdminResponse::Invite {
        invite: Invite { address, token }.to_string(),
        uses,
        expires_at,
    })
}

/// The configured peers, with their live state when the node runs, then the nodes
/// connected without being configured (replicas of a shared space that dialed in).
fn peers(storage: &Storage, live: Option<&[PeerStatus]>) -> Result<Vec<PeerRecord>, String> {
    let live = live.unwrap_or_default();
    let configured = storage.peers().map_err(|e| e.to_string())?;
    let mut records: Vec<PeerRecord> = configured
        .iter()
        .map(|address| {
            let state = live.iter().find(|p| p.node == address.node);
            record(address.node, address.to_string(), state)
        })
        .collect();
    for state in live {
        if state.connected && !configured.iter().any(|a| a.node == state.node) {
            records.push(record(state.node, String::new(), Some(state)));
        }
    }
    Ok(records)
}

fn record(node: NodeId, address: String, state: Option<&PeerStatus>) -> PeerRecord {
    PeerRecord {
        node_id: node.to_string(),
        address,
        connected: state.is_some_and(|s| s.connected),
        since: state.and_then(|s| s.since),
        last_sync: state.and_then(|s| s.last_sync),
        posts_sent: state.map_or(0, |s| s.posts_sent),
        posts_received: state.map_or(0, |s| s.posts_received),
        invalid: state.map_or(0, |s| s.invalid),
        last_error: state.and_then(|s| s.last_error.clone()),
    }
}

fn status(
    storage: &Storage,
    node: NodeId,
    address: &str,
    live: Option<&[PeerStatus]>,
) -> Result<Status, String> {
    let mut spaces = Vec::new();
    for space in storage.spaces().map_err(|e| e.to_string())? {
        let posts = storage.count(&space).map_err(|e| e.to_string())?;
        let name = storage
            .space_name(&space)
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        spaces.push(SpaceStatus {
            space: space.to_string(),
            name,
            posts,
        });
    }
    Ok(Status {
        node_id: node.to_string(),
        address: NodeAddress {
            node,
            host_port: address.to_owned(),
        }
        .to_string(),
        running: live.is_some(),
        users: storage.users().map_err(|e| e.to_string())?.len() as u64,
        peers: peers(storage, live)?,
        spaces,
        disk_bytes: storage.size_on_disk().map_err(|e| e.to_string())?,
        disk_free_bytes: storage.free_bytes().map_err(|e| e.to_string())?,
        min_free_bytes: storage.min_free_bytes(),
        quarantined: storage.quarantined().map_err(|e| e.to_string())?,
        search: None,
        search_missing: None,
    })
}

/// Serves admin commands on a connection from the node's own key.
pub(super) async fn serve(
    node: Arc<Node>,
    connection: quinn::Connection,
) -> Result<(), TransportError> {
    loop {
        let Ok((mut send, mut recv)) = connection.accept_bi().await else {
            return Ok(());
        };
        let Some(bytes) = transport::read_frame(&mut recv, MAX_ADMIN_BYTES).await? else {
            continue;
        };
        let response = match serde_json::from_slice::<AdminRequest>(&bytes) {
            Ok(request) => {
                let live = node.federation.status();
                let mut response = execute(
                    &node.storage,
                    node.id(),
                    &node.address,
                    Some(&live),
                    request.clone(),
                );
                if let AdminResponse::Status(status) = &mut response {
                    status.search = node
                        .search
                        .as_ref()
                        .map(|index| index.status(&node.storage));
                    status.search_missing.clone_from(&node.search_missing);
                }
                if response == AdminResponse::Done {
                    // A peer added or removed while running is dialed or dropped now.
                    match request {
                        AdminRequest::PeerAdd { address } => federation::add_peer(&node, address),
                        AdminRequest::PeerRemove { node: peer } => {
                            federation::remove_peer(&node, &peer);
                        }
                        _ => {}
                    }
                }
                response
            }
            Err(error) => AdminResponse::Error {
                message: format!("malformed admin request: {error}"),
            },
        };
        let encoded = serde_json::to_vec(&response).unwrap_or_default();
        transport::write_frame(&mut send, &encoded).await?;
        let _ = send.finish();
    }
}

#[cfg(test)]
mod tests {
    use parley_protocol::NodeId;

    use super::*;

    #[test]
    fn adding_a_known_peer_says_so_and_a_new_address_replaces_the_old() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path()).unwrap();
        let me = NodeId::from_bytes([1; 32]);
        let peer = NodeAddress {
            node: NodeId::from_bytes([2; 32]),
            host_port: "10.0.0.2:7447".to_owned(),
        };
        let add = |address: &NodeAddress| {
            execute(
                &storage,
                me,
                "127.0.0.1:7447",
                None,
                AdminRequest::PeerAdd {
                    address: address.clone(),
                },
            )
        };
        assert_eq!(add(&peer), AdminResponse::Done);
        assert_eq!(
            add(&peer),
            AdminResponse::Unchanged {
                message: format!("{peer} is a peer already; nothing changed")
            }
        );
        let moved = NodeAddress {
            host_port: "10.0.0.3:7447".to_owned(),
            ..peer.clone()
        };
        assert_eq!(add(&moved), AdminResponse::Done);
        assert_eq!(storage.peers().unwrap(), vec![moved]);
    }
}
