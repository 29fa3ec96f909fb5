//! neo-replication: the Raft groups a Neo cluster runs (openraft, pinned in this crate only)
//! and the cluster RPC between brokers. See `docs/replication.md`.

pub mod group_id;
pub mod transport;
pub mod types;
