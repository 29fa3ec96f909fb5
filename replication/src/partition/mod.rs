//! Partition groups: a partition's replicas as a Raft group whose log is the partition log
//! itself (each data entry one record batch at its Kafka offsets), with a sidecar of every
//! entry. See `docs/replication.md`.

pub mod append_gate;
pub mod group;
pub mod group_members;
mod install_marker;
pub mod machine;
pub mod raft_log;
pub mod replica;
pub mod sidecar;
pub mod snapshot_store;
pub mod solo;
pub mod synced_sidecar;
