//! neo-replication: the Raft groups a Neo cluster runs (openraft, pinned in this crate only)
//! and the cluster RPC between brokers. See `docs/replication.md`.

pub mod controller;
pub mod entry_log;
pub mod group_id;
mod small_file;
pub mod snapshot_files;
pub mod types;
