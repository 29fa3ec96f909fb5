//! The cluster RPC between brokers: one TCP connection per ordered broker pair carries the Raft
//! messages of every group, as bounded, length-prefixed frames with a correlation id
//! ([`frame`], [`message`]).
//!
//! - Client side: a lazily opened, multiplexed connection per peer ([`peer_link`]), reopened
//!   with backoff; openraft's network for each group ([`network`]) sends through it.
//! - Server side: a listener ([`listener`]) whose connections ([`connection`]) dispatch each
//!   request to the target group's Raft, found in the node's group registry ([`registry`]).
//! - Heartbeats: one node-level ticker ([`heartbeat_ticker`]) has all led groups send their
//!   heartbeats together, and a per-peer batcher ([`heartbeat_batcher`]) puts them in one frame.
//! - Snapshots: a snapshot is a set of files ([`SnapshotFiles`]) streamed in chunks
//!   ([`snapshot_send`]) into a staging directory on the receiver ([`snapshot_receive`]).

mod call_handler;
mod cluster_transport;
mod config;
mod connection;
mod dial;
mod dispatch;
mod error;
pub mod frame;
mod frame_io;
mod heartbeat_batcher;
mod heartbeat_ticker;
mod last_heard;
mod listener;
pub mod message;
mod network;
mod peer_link;
mod peer_table;
mod peers;
mod quiet_group;
mod registry;
mod server_context;
mod snapshot_files;
mod snapshot_receive;
mod snapshot_send;

pub use call_handler::CallHandler;
pub use cluster_transport::ClusterTransport;
pub use config::TransportConfig;
pub use error::TransportError;
pub use network::{GroupNetwork, GroupNetworkFactory};
pub use peers::PeerStats;
pub use snapshot_files::{SnapshotFile, SnapshotFiles};
