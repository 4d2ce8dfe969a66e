//! Parley's team node: storage, the QUIC transport, the client API and admin commands.
//!
//! Without the default `server` feature the crate is only [`transport`], the QUIC
//! and raw-public-key TLS layer the `parley` client shares with the node.

pub mod transport;

#[cfg(feature = "server")]
pub mod clock;
#[cfg(feature = "server")]
pub mod config;
#[cfg(feature = "server")]
pub mod federation;
#[cfg(feature = "server")]
pub mod keyfile;
#[cfg(feature = "server")]
pub mod lock;
#[cfg(feature = "server")]
pub mod search;
#[cfg(feature = "server")]
pub mod server;

#[cfg(feature = "server")]
pub mod storage;
