//! The cluster transport of one node: its listener, its connections to peers, the groups they
//! serve and the heartbeat ticker, started and stopped together.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use openraft::Raft;
use openraft::storage::RaftStateMachine;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::call_handler::CallHandler;
use super::config::TransportConfig;
use super::dial::Dialer;
use super::error::CallError;
use super::error::TransportError;
use super::frame::FrameCodec;
use super::heartbeat_ticker::{Ticker, run_heartbeat_ticker};
use super::last_heard::LastHeard;
use super::listener::accept_connections;
use super::message::{RemoteError, Request, Response};
use super::network::GroupNetworkFactory;
use super::peer_table::PeerTable;
use super::peers::{PeerStats, Peers};
use super::quiet_group::{QuietGroup, QuietTiming};
use super::registry::{GroupRegistry, Registered};
use super::server_context::ServerContext;
use super::snapshot_files::SnapshotFiles;
use super::snapshot_receive::remove_stale_staging;
use crate::group_id::GroupId;
use crate::types::{NeoRaft, NodeId};

/// One node's cluster RPC: one connection per peer carries every group's Raft messages.
///
/// Start it, tell it the peers' addresses, give each group's Raft [`network`](Self::network)
/// as its network factory and [`register`](Self::register) the Raft once built; the transport
/// then delivers peers' requests to it and drives its heartbeats.
pub struct ClusterTransport {
    node_id: NodeId,
    local_addr: SocketAddr,
    config: Arc<TransportConfig>,
    peer_table: Arc<PeerTable>,
    peers: Arc<Peers>,
    registry: Arc<GroupRegistry>,
    calls: Arc<parking_lot::RwLock<Option<Arc<dyn CallHandler>>>>,
    last_heard: Arc<LastHeard>,
    /// Elections the node's clock started for the quiet groups it follows.
    elections_started: Arc<AtomicU64>,
    tasks: [JoinHandle<()>; 2],
}

impl ClusterTransport {
    /// Listens on `listen` for peers (port 0 picks one: see [`local_addr`](Self::local_addr)).
    /// Received snapshots are staged in `staging_dir` (created if missing; what a crash left
    /// there is removed now); it should be on the file system of the data, so that a group can
    /// move the files it keeps.
    pub async fn start(
        node_id: NodeId,
        listen: SocketAddr,
        staging_dir: impl Into<PathBuf>,
        config: TransportConfig,
    ) -> Result<Self, TransportError> {
        config.validate()?;
        let staging_dir = staging_dir.into();
        remove_stale_staging(&staging_dir)
            .await
            .map_err(|source| TransportError::StagingDir {
                path: staging_dir.clone(),
                source,
            })?;
        let listen_error = |source| TransportError::Listen {
            addr: listen,
            source,
        };
        let listener = TcpListener::bind(listen).await.map_err(listen_error)?;
        let local_addr = listener.local_addr().map_err(listen_error)?;

        let config = Arc::new(config);
        let codec = FrameCodec::new(config.max_frame_bytes);
        let registry = Arc::new(GroupRegistry::default());
        let peer_table = Arc::new(PeerTable::default());
        let peers = Arc::new(Peers::new(Dialer {
            node_id,
            config: config.clone(),
            codec,
            peers: peer_table.clone(),
        }));
        let calls = Arc::new(parking_lot::RwLock::new(None));
        let last_heard = Arc::new(LastHeard::default());
        let context = Arc::new(ServerContext {
            node_id,
            config: config.clone(),
            codec,
            registry: registry.clone(),
            staging_dir,
            calls: calls.clone(),
            last_heard: last_heard.clone(),
        });
        let elections_started = Arc::new(AtomicU64::new(0));
        let tasks = [
            tokio::spawn(accept_connections(listener, context)),
            tokio::spawn(run_heartbeat_ticker(Ticker {
                node_id,
                elections_started: elections_started.clone(),
                registry: registry.clone(),
                peers: peers.clone(),
                peer_table: peer_table.clone(),
                last_heard: last_heard.clone(),
                interval: config.heartbeat_interval,
                quiet: QuietTiming {
                    election_timeout: config.election_timeout,
                    keepalive: config.keepalive,
                },
            })),
        ];
        tracing::info!(node_id, %local_addr, "cluster transport listening");
        Ok(Self {
            node_id,
            local_addr,
            config,
            peer_table,
            peers,
            registry,
            calls,
            last_heard,
            elections_started,
            tasks,
        })
    }

    /// Elections this node's clock started so far for the partition groups it follows (each
    /// time a group's leader had been silent for the election timeout). The controller group
    /// keeps its own timers and is not counted.
    pub fn elections_started(&self) -> u64 {
        self.elections_started.load(Ordering::Relaxed)
    }

    /// Sets what answers peers' [`Self::call`]s to this node.
    pub fn set_call_handler(&self, handler: Arc<dyn CallHandler>) {
        *self.calls.write() = Some(handler);
    }

    /// Calls `node` (its broker, not a group) with `payload`; its answer, or why there is none
    /// within `timeout`.
    pub async fn call(
        &self,
        node: NodeId,
        payload: Bytes,
        timeout: Duration,
    ) -> Result<Bytes, TransportError> {
        let deadline = Instant::now() + timeout;
        let peer = self
            .peers
            .get(node)
            .map_err(|e| TransportError::Unreachable(e.to_string()))?;
        let error = match peer.link.call(&Request::Call(payload), deadline).await {
            Ok(Response::Reply(answer)) => return Ok(answer),
            Ok(other) => CallError::unexpected(node, other, "reply"),
            Err(e) => e,
        };
        Err(match error {
            CallError::NoAddress(_)
            | CallError::Connect { .. }
            | CallError::Remote {
                error: RemoteError::NoCallHandler,
                ..
            } => TransportError::Unreachable(error.to_string()),
            _ => TransportError::Call(error.to_string()),
        })
    }

    /// When `node` last sent this node a request (Raft messages and heartbeats included).
    pub fn last_heard(&self, node: NodeId) -> Option<std::time::Instant> {
        self.last_heard.get(node)
    }

    /// Since when this node's connection to `node` is lost (closed, or `node` cannot be
    /// reached), if it was not opened again since: a process killed is known at once this
    /// way, where silence takes a while to tell.
    pub fn connection_lost_since(&self, node: NodeId) -> Option<std::time::Instant> {
        self.peers.lost_since(node)
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Sets where `node` listens; an open connection to it stays until it fails.
    pub fn set_peer(&self, node: NodeId, addr: SocketAddr) {
        self.peer_table.set(node, addr);
    }

    /// The nodes whose address is known.
    pub fn peers(&self) -> Vec<NodeId> {
        self.peer_table.nodes()
    }

    /// Forgets where `node` listens: requests to it fail until it is set again.
    pub fn remove_peer(&self, node: NodeId) {
        self.peer_table.remove(node);
    }

    /// The network factory for `group`'s Raft (`Raft::new`'s `network` argument).
    pub fn network(&self, group: GroupId) -> GroupNetworkFactory {
        GroupNetworkFactory::new(
            group,
            self.node_id,
            self.peers.clone(),
            self.config.max_frame_bytes,
            self.config.snapshot_chunk_bytes,
        )
    }

    /// Serves peers' requests for `group` with `raft`, and takes over its heartbeats: its own
    /// heartbeat timer is turned off, and the node's ticker has it send them every
    /// `heartbeat_interval` with every other group's.
    pub fn register<SM>(&self, group: GroupId, raft: &Raft<NeoRaft, SM>)
    where
        SM: RaftStateMachine<NeoRaft, SnapshotData = SnapshotFiles>,
    {
        raft.runtime_config().heartbeat(false);
        let raft = Arc::new(raft.clone());
        self.registry
            .insert(group, Registered { raft, quiet: None });
    }

    /// As [`Self::register`], for a group without timers of its own (openraft's `enable_tick`
    /// off): the node's clock sends its heartbeats only when they tell something (or its
    /// keepalive is due) and makes it stand for election when its leader goes silent (see
    /// [`super::quiet_group`]). Thousands of idle partition groups then cost nothing.
    pub fn register_quiet<SM>(&self, group: GroupId, raft: &Raft<NeoRaft, SM>)
    where
        SM: RaftStateMachine<NeoRaft, SnapshotData = SnapshotFiles>,
    {
        raft.runtime_config().heartbeat(false);
        let timing = QuietTiming {
            election_timeout: self.config.election_timeout,
            keepalive: self.config.keepalive,
        };
        let quiet = QuietGroup::new(group, self.node_id, timing);
        let raft = Arc::new(raft.clone());
        self.registry.insert(
            group,
            Registered {
                raft,
                quiet: Some(quiet),
            },
        );
    }

    /// Stops serving `group`: peers' requests for it get an unknown-group error.
    pub fn unregister(&self, group: GroupId) {
        self.registry.remove(group);
    }

    /// Traffic on the connection to `node` so far.
    pub fn peer_stats(&self, node: NodeId) -> PeerStats {
        self.peers.stats(node)
    }

    /// Stops listening, closes every connection and the heartbeat ticker. Groups' requests to
    /// peers fail from now on.
    pub fn shutdown(&self) {
        for task in &self.tasks {
            task.abort();
        }
        self.peers.close();
    }
}

impl Drop for ClusterTransport {
    fn drop(&mut self) {
        self.shutdown();
    }
}
