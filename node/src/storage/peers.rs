//! Peer nodes: their addresses, by node id.

use parley_protocol::NodeId;
use parley_protocol::api::NodeAddress;
use serde::{Deserialize, Serialize};

use super::error::StorageError;
use super::record::{self, text};
use super::{Storage, keys};

/// The stored record of a peer.
#[derive(Serialize, Deserialize)]
struct PeerRecord {
    #[serde(with = "text")]
    address: NodeAddress,
}

impl Storage {
    /// Adds the peer `address.node`, or updates its address. Durable on return.
    pub fn add_peer(&self, address: &NodeAddress) -> Result<(), StorageError> {
        let record = PeerRecord {
            address: address.clone(),
        };
        self.db
            .insert(keys::peer(&address.node), record::encode(&record))?;
        self.flush()
    }

    /// Removes the peer `node`; `false` if it was not a peer. Durable on return.
    pub fn remove_peer(&self, node: &NodeId) -> Result<bool, StorageError> {
        let removed = self.db.remove(keys::peer(node))?.is_some();
        self.flush()?;
        Ok(removed)
    }

    /// The peers, by node id.
    pub fn peers(&self) -> Result<Vec<NodeAddress>, StorageError> {
        let mut peers = Vec::new();
        for entry in self.db.scan_prefix([keys::PEER]) {
            let (key, bytes) = entry?;
            let node = NodeId::from_bytes(keys::single_id(&key)?);
            let record: PeerRecord = record::decode(&key, &bytes)?;
            // The key is the truth about which node this is.
            peers.push(NodeAddress {
                node,
                host_port: record.address.host_port,
            });
        }
        Ok(peers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_are_added_updated_and_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let storage = crate::storage::testing::reopen(tmp.path());
        let a = NodeAddress {
            node: NodeId([1; 32]),
            host_port: "a.example:4433".into(),
        };
        let b = NodeAddress {
            node: NodeId([2; 32]),
            host_port: "[::1]:4433".into(),
        };
        storage.add_peer(&b).unwrap();
        storage.add_peer(&a).unwrap();
        let moved = NodeAddress {
            host_port: "a.example:5000".into(),
            ..a.clone()
        };
        storage.add_peer(&moved).unwrap();
        assert_eq!(storage.peers().unwrap(), [moved, b.clone()]);
        assert!(storage.remove_peer(&a.node).unwrap());
        assert!(!storage.remove_peer(&a.node).unwrap());
        assert_eq!(storage.peers().unwrap(), [b]);
    }
}
