//! Set reconciliation of a space's `(created_at, id)` items, sans-IO (`spec/07-sync-and-gossip.md`).
