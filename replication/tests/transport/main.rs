//! The cluster transport under openraft: groups on three nodes in one process, each node with
//! its own transport listener, talking over real sockets.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod elections;
mod heartbeats;
mod large_entries;
mod peer_loss;
mod snapshots;
mod support;
mod wire;
