//! The cluster RPC of this broker: started with the broker, knowing every voter's address.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use neo_replication::group_id::GroupId;
use neo_replication::transport::{
    CallHandler, ClusterTransport, GroupNetworkFactory, TransportConfig, TransportError,
};

use crate::config::{BrokerConfig, ClusterConfig};
use crate::error::BrokerError;

/// Directory of snapshots being received, under the data directory.
const STAGING_DIR: &str = "cluster-staging";

/// This broker's cluster RPC.
pub struct ClusterNode {
    node_id: u64,
    config: ClusterConfig,
    advertised: SocketAddr,
    transport: ClusterTransport,
}

impl std::fmt::Debug for ClusterNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterNode")
            .field("node_id", &self.node_id)
            .field("advertised", &self.advertised)
            .finish_non_exhaustive()
    }
}

impl ClusterNode {
    /// Starts listening for the other brokers and tells the transport where each voter is.
    pub async fn start(config: &BrokerConfig) -> Result<ClusterNode, BrokerError> {
        let cluster = &config.cluster;
        let local_address = Some(cluster.listen.ip()).filter(|ip| !ip.is_unspecified());
        let transport_config = TransportConfig {
            cluster_id: cluster.cluster_id.clone(),
            local_address,
            heartbeat_interval: cluster.heartbeat_interval,
            election_timeout: cluster.election_timeout,
            keepalive: cluster.election_timeout * 3,
            ..TransportConfig::default()
        };
        let transport = ClusterTransport::start(
            config.node_id,
            cluster.listen,
            config.data_dir.join(STAGING_DIR),
            transport_config,
        )
        .await
        .map_err(|e| BrokerError::Cluster(e.to_string()))?;
        for (&id, &addr) in &cluster.voters {
            if id != config.node_id {
                transport.set_peer(id, addr);
            }
        }
        let advertised = cluster
            .advertised
            .or_else(|| cluster.voters.get(&config.node_id).copied())
            .unwrap_or_else(|| transport.local_addr());
        Ok(ClusterNode {
            node_id: config.node_id,
            config: cluster.clone(),
            advertised,
            transport,
        })
    }

    /// This broker's node id.
    pub fn node_id(&self) -> u64 {
        self.node_id
    }

    /// Where the other brokers reach this one.
    pub fn advertised(&self) -> SocketAddr {
        self.advertised
    }

    /// The voters of the controller (every broker), this one included; a cluster of one when
    /// none were configured.
    pub fn voters(&self) -> Vec<(u64, SocketAddr)> {
        if self.config.voters.is_empty() {
            vec![(self.node_id, self.advertised)]
        } else {
            self.config.voters.iter().map(|(&id, &a)| (id, a)).collect()
        }
    }

    /// The transport every group of this broker talks through.
    pub fn transport(&self) -> &ClusterTransport {
        &self.transport
    }

    /// The network of `group`.
    pub fn network(&self, group: GroupId) -> GroupNetworkFactory {
        self.transport.network(group)
    }

    /// How often leaders send heartbeats.
    pub fn heartbeat_interval(&self) -> Duration {
        self.config.heartbeat_interval
    }

    /// A follower's wait before it starts an election.
    pub fn election_timeout(&self) -> Duration {
        self.config.election_timeout
    }

    /// Sets what answers the other brokers' calls.
    pub fn answer_calls(&self, handler: Arc<dyn CallHandler>) {
        self.transport.set_call_handler(handler);
    }

    /// Calls broker `node` with `payload`. `TransportError::Unreachable` says the call was
    /// not sent (safe to send again).
    pub async fn call(&self, node: u64, payload: Bytes) -> Result<Bytes, TransportError> {
        self.transport
            .call(node, payload, self.config.election_timeout * 2)
            .await
    }

    /// Calls broker `node` with `payload`, for an answer that may take up to `wait`.
    pub async fn call_within(
        &self,
        node: u64,
        payload: Bytes,
        wait: Duration,
    ) -> Result<Bytes, TransportError> {
        self.transport.call(node, payload, wait).await
    }

    /// Whether broker `node` was heard from within `within` (this broker always is).
    pub fn heard_within(&self, node: u64, within: Duration) -> bool {
        node == self.node_id
            || self
                .transport
                .last_heard(node)
                .is_some_and(|at| at.elapsed() <= within)
    }

    /// Whether broker `node` seems alive: heard from within `within`, and since the
    /// connection to it was lost, if it was (this broker always is).
    pub fn seems_alive(&self, node: u64, within: Duration) -> bool {
        if node == self.node_id {
            return true;
        }
        let heard = self.transport.last_heard(node);
        let lost = self.transport.connection_lost_since(node);
        heard.is_some_and(|at| at.elapsed() <= within && lost.is_none_or(|lost| at > lost))
    }

    /// Stops the cluster RPC.
    pub fn shutdown(&self) {
        self.transport.shutdown();
    }
}
