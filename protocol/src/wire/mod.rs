//! Every message nodes exchange, with its bounds (`spec/07-sync-and-gossip.md`).
