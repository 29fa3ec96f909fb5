//! Nodes of a test cluster in one process: each has its own transport (on 127.0.0.N, binding
//! that address for outgoing connections too), and any number of groups over an in-memory log
//! and state machine.

mod mem_log;
mod mem_state_machine;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use neo_replication::group_id::GroupId;
use neo_replication::transport::{ClusterTransport, TransportConfig};
use neo_replication::types::{NeoRaft, NodeId, Proposal};
use openraft::async_runtime::watch::WatchReceiver;
use openraft::{BasicNode, Config, Raft};
use tempfile::TempDir;
use tokio::time::Instant;

pub use mem_log::MemLog;
pub use mem_state_machine::{MemStateMachine, segment_content};

/// A group's Raft on one node.
pub type TestRaft = Raft<NeoRaft, MemStateMachine>;

/// How long a test waits for a condition before failing.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The openraft settings of the test groups: the transport's heartbeat interval, elections
/// after 1.5-3 s of silence.
fn raft_config(heartbeat_interval: Duration) -> Arc<Config> {
    let config = Config {
        cluster_name: "neo-test".to_owned(),
        heartbeat_interval: heartbeat_interval.as_millis() as u64,
        election_timeout_min: 1500,
        election_timeout_max: 3000,
        ..Config::default()
    };
    Arc::new(config.validate().unwrap())
}

/// The transport settings of the test nodes.
pub fn transport_config() -> TransportConfig {
    TransportConfig {
        cluster_id: "neo-test".to_owned(),
        ..TransportConfig::default()
    }
}

/// A group on one node, with its state machine for inspection.
pub struct Group {
    pub raft: TestRaft,
    pub state_machine: MemStateMachine,
}

/// One broker of the test cluster.
pub struct Node {
    pub id: NodeId,
    pub transport: ClusterTransport,
    pub groups: HashMap<GroupId, Group>,
    pub dir: TempDir,
    raft_config: Arc<Config>,
}

impl Node {
    /// Opens `group` here (not yet initialized) with snapshots carrying a segment file of
    /// `segment_bytes`.
    pub async fn open_group(&mut self, group: GroupId, segment_bytes: usize) -> TestRaft {
        let dir = self.dir.path().join(format!("group-{group}"));
        let state_machine = MemStateMachine::new(&dir, segment_bytes);
        let raft = Raft::new(
            self.id,
            self.raft_config.clone(),
            self.transport.network(group),
            MemLog::default(),
            state_machine.clone(),
        )
        .await
        .unwrap();
        self.transport.register(group, &raft);
        let opened = Group {
            raft: raft.clone(),
            state_machine,
        };
        self.groups.insert(group, opened);
        raft
    }

    pub fn raft(&self, group: GroupId) -> &TestRaft {
        &self.groups[&group].raft
    }

    /// Stops this broker: its transport and every group's Raft.
    pub async fn kill(&mut self) {
        self.transport.shutdown();
        for (_, group) in self.groups.drain() {
            group.raft.shutdown().await.unwrap();
        }
    }
}

/// Held by each test that runs a cluster: they measure time (heartbeats, elections) on a
/// machine of two cores, so they run one at a time.
pub async fn one_cluster_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static CLUSTERS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    CLUSTERS.lock().await
}

/// Starts `count` nodes (ids 1..=count) on 127.0.0.1..=127.0.0.count, each knowing the others.
pub async fn start_nodes(count: u8, config: TransportConfig) -> Vec<Node> {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
    let mut nodes = Vec::new();
    for n in 1..=count {
        let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, n));
        let dir = tempfile::tempdir().unwrap();
        let config = TransportConfig {
            local_address: Some(ip),
            ..config.clone()
        };
        let raft_config = raft_config(config.heartbeat_interval);
        let transport = ClusterTransport::start(
            NodeId::from(n),
            SocketAddr::new(ip, 0),
            dir.path().join("staging"),
            config,
        )
        .await
        .unwrap();
        nodes.push(Node {
            id: NodeId::from(n),
            transport,
            groups: HashMap::new(),
            dir,
            raft_config,
        });
    }
    let addresses: Vec<(NodeId, SocketAddr)> = nodes
        .iter()
        .map(|n| (n.id, n.transport.local_addr()))
        .collect();
    for node in &nodes {
        for &(id, addr) in &addresses {
            if id != node.id {
                node.transport.set_peer(id, addr);
            }
        }
    }
    nodes
}

/// The membership naming `nodes` with their cluster addresses.
pub fn members(nodes: &[Node]) -> BTreeMap<NodeId, BasicNode> {
    nodes
        .iter()
        .map(|n| (n.id, BasicNode::new(n.transport.local_addr())))
        .collect()
}

/// Waits until `condition` yields a value, failing the test after [`PATIENCE`].
pub async fn eventually<T, F, Fut>(what: &str, mut condition: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = condition().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The leader all of `nodes` agree on for `group`, once they do.
pub async fn leader_of(nodes: &[&Node], group: GroupId) -> NodeId {
    eventually(&format!("a leader of {group}"), || async {
        let leaders: Vec<Option<NodeId>> = nodes
            .iter()
            .map(|n| n.raft(group).metrics().borrow_watched().current_leader)
            .collect();
        let leader = leaders.first().copied().flatten()?;
        let agreed = leaders.iter().all(|l| *l == Some(leader));
        let known = nodes.iter().any(|n| n.id == leader);
        (agreed
            && known
            && nodes
                .iter()
                .any(|n| n.id == leader && n.raft(group).is_leader()))
        .then_some(leader)
    })
    .await
}

/// Proposes `value` to `group` through its leader among `nodes`, again while the leader
/// changes or has not yet heard from a quorum (as a client would).
pub async fn write(nodes: &[&Node], group: GroupId, value: &str) {
    let proposal = Proposal::new(Bytes::copy_from_slice(value.as_bytes()));
    eventually(&format!("{value:?} written to {group}"), || async {
        let leader = leader_of(nodes, group).await;
        let node = nodes.iter().find(|n| n.id == leader)?;
        match node.raft(group).client_write(proposal.clone()).await {
            Ok(_) => Some(()),
            Err(error) if error.forward_to_leader().is_some() => None,
            Err(error) => panic!("writing to {group}: {error}"),
        }
    })
    .await
}

/// Waits until `node` has applied exactly `values` in `group`.
pub async fn applied(node: &Node, group: GroupId, values: &[&str]) {
    let want: Vec<Bytes> = values
        .iter()
        .map(|v| Bytes::copy_from_slice(v.as_bytes()))
        .collect();
    let state_machine = &node.groups[&group].state_machine;
    eventually(
        &format!("node {} to apply {values:?} in {group}", node.id),
        || async { (state_machine.values().await == want).then_some(()) },
    )
    .await
}

/// Partition `n` of a test topic.
pub fn partition(n: u32) -> GroupId {
    GroupId::Partition {
        topic_id: 0x5eed,
        partition: n,
    }
}
