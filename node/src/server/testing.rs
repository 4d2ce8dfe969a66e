//! Helpers for the node's in-process tests: a node serving a prepared store on a free
//! loopback port.

use parley_protocol::SecretKey;

use crate::federation::FederationConfig;
use crate::storage::Storage;

use super::NodeHandle;

/// Starts the node of `key` on `storage`, on a free port of 127.0.0.1, with `config`
/// and no configured peers beyond the store's.
pub(crate) fn start_on_loopback(
    key: SecretKey,
    storage: Storage,
    config: FederationConfig,
) -> NodeHandle {
    let endpoint = super::endpoint(&key, "127.0.0.1:0".parse().unwrap(), &config).unwrap();
    let addr = endpoint.local_addr().unwrap();
    super::start(key, storage, endpoint, addr.to_string(), config, Vec::new()).unwrap()
}
