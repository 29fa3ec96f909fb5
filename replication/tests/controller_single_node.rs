//! A controller group of one node: commands are committed and applied in order, the reply
//! comes back to the proposer, and a restart rebuilds the state from the snapshot and the log.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use neo_replication::controller::{ControllerMachine, ReplicatedState};
use neo_replication::entry_log::EntryLog;
use neo_replication::no_peers::NoPeers;
use neo_replication::types::{NeoRaft, Proposal};
use neo_storage::Flusher;
use openraft::{BasicNode, Config, Raft, SnapshotPolicy};
use parking_lot::RwLock;

/// Appends every command to a list; replies with the list's length.
#[derive(Default)]
struct Journal(Vec<String>);

impl ReplicatedState for Journal {
    fn apply(&mut self, command: &[u8]) -> Bytes {
        self.0.push(String::from_utf8_lossy(command).into_owned());
        Bytes::from(self.0.len().to_string())
    }
    fn snapshot(&self) -> Vec<u8> {
        self.0.join("\n").into_bytes()
    }
    fn restore(&mut self, snapshot: &[u8]) -> Result<(), String> {
        let text = String::from_utf8_lossy(snapshot);
        self.0 = text
            .split('\n')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        Ok(())
    }
}

async fn start(
    dir: &std::path::Path,
    state: Arc<RwLock<Journal>>,
) -> (Raft<NeoRaft, ControllerMachine<Journal>>, EntryLog) {
    let config = Config {
        heartbeat_interval: 100,
        election_timeout_min: 300,
        election_timeout_max: 600,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(20),
        max_in_snapshot_log_to_keep: 5,
        ..Config::default()
    };
    let log = EntryLog::open(&dir.join("log"), Flusher::new(1)).unwrap();
    let machine = ControllerMachine::open(dir, state).unwrap();
    let raft = Raft::new(
        1,
        Arc::new(config.validate().unwrap()),
        NoPeers,
        log.clone(),
        machine,
    )
    .await
    .unwrap();
    (raft, log)
}

#[tokio::test]
async fn commands_apply_in_order_and_survive_a_restart_past_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let state = Arc::new(RwLock::new(Journal::default()));
    let (raft, log) = start(dir.path(), Arc::clone(&state)).await;
    raft.initialize(BTreeMap::from([(1, BasicNode::new("127.0.0.1:1"))]))
        .await
        .unwrap();
    for i in 0..50 {
        let reply = raft
            .client_write(Proposal::new(Bytes::from(format!("c{i}"))))
            .await
            .unwrap();
        assert_eq!(reply.data, Bytes::from((i + 1).to_string()));
    }
    raft.shutdown().await.unwrap();
    log.close().unwrap();
    drop(raft);

    let again = Arc::new(RwLock::new(Journal::default()));
    let (raft, _log) = start(dir.path(), Arc::clone(&again)).await;
    raft.wait(Some(Duration::from_secs(10)))
        .applied_index_at_least(Some(50), "replayed")
        .await
        .unwrap();
    let reply = raft
        .client_write(Proposal::new(Bytes::from("after")))
        .await
        .unwrap();
    assert_eq!(reply.data, Bytes::from("51"));
    let (first, last) = {
        let journal = again.read();
        (journal.0.first().cloned(), journal.0.last().cloned())
    };
    assert_eq!(first.as_deref(), Some("c0"));
    assert_eq!(last.as_deref(), Some("after"));
    raft.shutdown().await.unwrap();
}
