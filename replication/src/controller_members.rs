//! Who the controller group's voters are, and changing them (`neo cluster add-broker` and
//! `remove-broker`): a broker joins as a learner, is waited for until it caught up, then
//! becomes a voter; a broker removed stops being one.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use openraft::BasicNode;
use openraft::async_runtime::WatchReceiver;

use crate::controller::ReplicatedState;
use crate::controller_group::{ControllerGroup, GROUP, raft_error, write_error};
use crate::error::ReplicationError;
use crate::types::NodeId;

/// How long a new broker may take to catch up with the controller's log.
const CATCH_UP_WAIT: Duration = Duration::from_secs(600);
/// How often a broker waiting to be added says so.
const WAITING_NOTICE: Duration = Duration::from_secs(10);

impl<S: ReplicatedState> ControllerGroup<S> {
    /// Every member of the controller group (voters and learners) and its cluster address.
    pub fn members(&self) -> BTreeMap<NodeId, String> {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow_watched();
        metrics
            .membership_config
            .membership()
            .nodes()
            .map(|(id, node)| (*id, node.addr.clone()))
            .collect()
    }

    /// The controller group's voters.
    pub fn voters(&self) -> BTreeSet<NodeId> {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow_watched();
        metrics.membership_config.membership().voter_ids().collect()
    }

    /// On the leader: makes broker `node` (reached at `address`) a voter. It is added as a
    /// learner and waited for until it caught up, then the voters change. Nothing to do if it
    /// is one already.
    pub async fn add_voter(&self, node: NodeId, address: &str) -> Result<(), ReplicationError> {
        let voters = self.voters();
        if voters.contains(&node) {
            return Ok(());
        }
        let added = self.raft.add_learner(node, BasicNode::new(address), true);
        match tokio::time::timeout(CATCH_UP_WAIT, added).await {
            Ok(result) => result.map_err(|e| write_error(e, GROUP))?,
            Err(_) => {
                return Err(raft_error(format!(
                    "broker {node} did not catch up within {CATCH_UP_WAIT:?}"
                )));
            }
        };
        let mut wanted = voters;
        wanted.insert(node);
        self.raft
            .change_membership(wanted, false)
            .await
            .map_err(|e| write_error(e, GROUP))?;
        Ok(())
    }

    /// On the leader: stops broker `node` being a voter (or a learner). The last voter cannot
    /// be removed. A leader that removes itself steps down once the change is committed.
    pub async fn remove_voter(&self, node: NodeId) -> Result<(), ReplicationError> {
        let mut wanted = self.voters();
        if !wanted.remove(&node) {
            if self.members().contains_key(&node) {
                let learners = BTreeSet::from([node]);
                self.raft
                    .change_membership(openraft::ChangeMembers::RemoveNodes(learners), false)
                    .await
                    .map_err(|e| write_error(e, GROUP))?;
            }
            return Ok(());
        }
        if wanted.is_empty() {
            return Err(raft_error(format!(
                "broker {node} is the controller's only voter"
            )));
        }
        self.raft
            .change_membership(wanted, false)
            .await
            .map_err(|e| write_error(e, GROUP))?;
        Ok(())
    }

    /// A broker that is not among the voters it was started with waits until the cluster
    /// adds it (`neo cluster add-broker`): until it is a voter and has applied the change that
    /// made it one. A broker added before is one already.
    pub(crate) async fn wait_until_added(&self) -> Result<(), ReplicationError> {
        let mut metrics = self.raft.metrics();
        loop {
            let added = {
                let m = metrics.borrow_watched();
                let membership = &m.membership_config;
                membership
                    .membership()
                    .voter_ids()
                    .any(|id| id == self.node_id)
                    && m.current_leader.is_some()
                    && m.last_applied.map(|l| l.index) >= membership.log_id().map(|l| l.index)
            };
            if added {
                return Ok(());
            }
            match tokio::time::timeout(WAITING_NOTICE, metrics.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(raft_error(e)),
                Err(_) => tracing::info!(
                    node = self.node_id,
                    "waiting to be added to the cluster: run `neo cluster add-broker` with this \
                     broker's id and cluster address on any broker"
                ),
            }
        }
    }
}
