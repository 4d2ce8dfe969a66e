//! Scenario tests across Parley's crates. One test binary; one module per scenario.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod corpus;
mod federation;
mod federation_netns;
mod federation_orgs;
mod replication;
mod team_node;
