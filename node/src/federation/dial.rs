//! Dialing a configured peer, and redialing with backoff and jitter whenever the
//! connection is down.

use std::sync::Arc;
use std::time::Duration;

use parley_protocol::api::NodeAddress;
use parley_protocol::gossip::Backoff;

use crate::clock;
use crate::server::Node;
use crate::transport::{self, NODE_ALPN};

use super::connection::{self, random_u64};

/// Keeps a connection to `address` up for as long as the node runs and the peer stays
/// configured (the task is aborted when it is removed).
pub(crate) async fn dial_loop(node: Arc<Node>, address: NodeAddress) {
    let peer = address.node;
    let mut backoff = Backoff::new(node.federation.config.backoff);
    loop {
        // The peer may have dialed us: wait for that connection to end.
        loop {
            let link = node.federation.table().link(&peer);
            match link {
                Some(link) => {
                    link.connection.closed().await;
                }
                None => break,
            }
        }
        let banned = node.federation.table().banned(&peer, clock::now());
        if let Some(until) = banned {
            let wait = until.as_millis().saturating_sub(clock::now().as_millis());
            tokio::time::sleep(Duration::from_millis(wait)).await;
            continue;
        }
        match connect(&node, &address).await {
            Ok(established) => {
                let result = connection::dialed(node.clone(), established, peer).await;
                match result {
                    Ok(_) => backoff.reset(),
                    Err(error) => {
                        tracing::debug!(%peer, %error, "connection to peer ended");
                        node.federation
                            .table()
                            .dial_failed(&peer, error.to_string());
                    }
                }
            }
            Err(reason) => {
                tracing::debug!(%peer, %reason, "could not reach peer");
                node.federation.table().dial_failed(&peer, reason);
            }
        }
        let delay = backoff.next_delay_ms(random_u64());
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
}

/// One attempt: resolve the address and complete the QUIC handshake with the node it
/// names (any other key is refused).
async fn connect(node: &Node, address: &NodeAddress) -> Result<quinn::Connection, String> {
    let target = tokio::net::lookup_host(address.host_port.as_str())
        .await
        .map_err(|e| format!("resolving {}: {e}", address.host_port))?
        .next()
        .ok_or_else(|| format!("{} resolves to no address", address.host_port))?;
    let timeouts = node.federation.config.timeouts;
    let attempt = transport::connect_with(
        node.federation.endpoint(),
        target,
        address.node,
        NODE_ALPN,
        timeouts,
    );
    match tokio::time::timeout(Duration::from_secs(10), attempt).await {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err(format!("no answer from {target}")),
    }
}
