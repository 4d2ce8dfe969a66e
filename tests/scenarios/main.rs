//! Scenario tests across Parley's crates. One test binary; one module per scenario.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin_race;
mod corpus;
mod federation;
mod federation_mesh;
mod federation_netns;
mod federation_orgs;
mod federation_property;
mod federation_recovery;
mod replication;
mod store_recovery;
mod team_node;
mod transcripts;
