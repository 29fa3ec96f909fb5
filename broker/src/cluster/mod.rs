//! This broker's place in its cluster: the cluster RPC to the other brokers (every Raft
//! group's messages, and the calls below), and the calls it answers.

mod calls;
mod node;

pub(crate) use calls::ClusterCall;
pub use node::ClusterNode;
