//! Changing a partition group's replicas (`neo cluster reassign`): new replicas join as
//! learners and catch up (from a snapshot of sealed segments when they start empty), then one
//! joint-consensus change makes the new set the voters; replicas left out are removed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use openraft::BasicNode;
use openraft::async_runtime::WatchReceiver;

use super::group::{PartitionGroup, raft_error, write_error};
use crate::error::ReplicationError;
use crate::types::NodeId;

/// How long a new replica may take to catch up before the change is given up (and retried).
const CATCH_UP_WAIT: Duration = Duration::from_secs(600);
/// How long a snapshot of the whole log may take to appear.
const SNAPSHOT_WAIT: Duration = Duration::from_secs(60);

impl PartitionGroup {
    /// The voters of the membership in effect, as this replica knows it.
    pub fn voters(&self) -> BTreeSet<NodeId> {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow_watched();
        metrics.membership_config.membership().voter_ids().collect()
    }

    /// On the leader: makes `replicas` (node id → cluster address) the group's voters. Each
    /// new one is added as a learner and waited for until it caught up, then the voters
    /// change at once (joint consensus); replicas left out leave the group (a leader left
    /// out steps down). Returns once the new membership is committed.
    pub async fn change_replicas(
        &self,
        replicas: &BTreeMap<NodeId, String>,
    ) -> Result<(), ReplicationError> {
        let name = &self.name;
        let voters = self.voters();
        let log = self.log.partition_log();
        let snapshot = self.raft.metrics().borrow_watched().snapshot;
        if snapshot.is_none() && self.log.needed_from() > log.log_start_offset() {
            // Records written before the group existed are in no entry: a new replica must
            // get them as a snapshot.
            self.snapshot_whole_log().await?;
        }
        for (id, address) in replicas {
            if voters.contains(id) {
                continue;
            }
            self.renew_lease().await?;
            let added = self
                .raft
                .add_learner(*id, BasicNode::new(address.clone()), true);
            match tokio::time::timeout(CATCH_UP_WAIT, added).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(client_write_error(name, e)),
                Err(_) => {
                    return Err(raft_error(
                        name,
                        format!("replica {id} did not catch up within {CATCH_UP_WAIT:?}"),
                    ));
                }
            }
        }
        let wanted: BTreeSet<NodeId> = replicas.keys().copied().collect();
        if wanted != voters {
            // Catching up took long enough for an idle partition's lease to lapse.
            self.renew_lease().await?;
            self.raft
                .change_membership(wanted, false)
                .await
                .map_err(|e| client_write_error(name, e))?;
        }
        Ok(())
    }

    /// Makes all of the log reachable by replicas that start empty: rolls the active segment,
    /// waits for a snapshot of the sealed segments, and purges the Raft log up to it, so that a
    /// new replica is sent the snapshot. Needed once for a log written before its group
    /// existed (a partition of one replica that gains others): its first records are in no
    /// entry.
    async fn snapshot_whole_log(&self) -> Result<(), ReplicationError> {
        let name = &self.name;
        let log = self.log.partition_log();
        log.roll_now()
            .map_err(|e| raft_error(name, format!("cannot roll the active segment: {e}")))?;
        let end = log.log_end_offset();
        log.wait_durable(end)
            .await
            .map_err(|e| raft_error(name, e))?;
        let deadline = tokio::time::Instant::now() + SNAPSHOT_WAIT;
        loop {
            self.raft
                .trigger()
                .snapshot()
                .await
                .map_err(|e| raft_error(name, e))?;
            tokio::time::sleep(Duration::from_millis(100)).await;
            let snapshot = self.raft.metrics().borrow_watched().snapshot;
            if let Some(snapshot) = snapshot {
                return self
                    .raft
                    .trigger()
                    .purge_log(snapshot.index)
                    .await
                    .map_err(|e| raft_error(name, e));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(raft_error(
                    name,
                    format!("no snapshot of the whole log within {SNAPSHOT_WAIT:?}"),
                ));
            }
        }
    }

    /// Ends a group left with this replica alone (its only voter), so that the partition goes
    /// on without Raft: leads (electing itself if needed), confirms that everything committed
    /// is applied, stops, and moves its vote past the term, so that the leader epoch the
    /// replica goes on with is newer than every leadership of the group.
    pub async fn retire_alone(&self) -> Result<(), ReplicationError> {
        let name = &self.name;
        if self.voters() != BTreeSet::from([self.node_id]) {
            return Err(raft_error(name, "other replicas are still voters"));
        }
        self.lead_alone().await?;
        self.confirm_leadership().await?;
        let term = self.term();
        self.shutdown().await?;
        let vote = openraft::impls::Vote::new_committed(term + 1, self.node_id);
        let mut log = self.log.clone();
        openraft::storage::RaftLogStorage::save_vote(&mut log, &vote)
            .await
            .map_err(|e| raft_error(name, e))
    }
}

fn client_write_error(
    group: &str,
    e: openraft::error::RaftError<
        crate::types::NeoRaft,
        openraft::error::ClientWriteError<crate::types::NeoRaft>,
    >,
) -> ReplicationError {
    match e {
        openraft::error::RaftError::APIError(e) => write_error(group, e),
        other => raft_error(group, other),
    }
}
