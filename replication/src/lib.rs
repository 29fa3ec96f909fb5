//! neo-replication: the Raft groups a Neo cluster runs (openraft, pinned in this crate only)
//! and the cluster RPC between brokers. See `docs/replication.md`.

pub mod controller;
pub mod controller_group;
mod controller_members;
pub mod entry_log;
pub mod error;
pub mod group_id;
mod hand_over;
pub mod no_peers;
pub mod partition;
mod small_file;
pub mod transport;
pub mod types;
