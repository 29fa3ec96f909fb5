//! The metadata state as the controller group's replicated state machine: commands arrive
//! serialized, are checked and applied in log order, and each proposer gets its command's
//! outcome back.

use bytes::Bytes;
use neo_replication::controller::ReplicatedState;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::command::MetadataCommand;
use super::state::MetadataState;
use crate::error::BrokerError;

/// The metadata state, driven by the controller group.
#[derive(Debug)]
pub(crate) struct MetadataMachine {
    pub state: MetadataState,
    /// Counts the changes applied, for those who follow them.
    pub changes: watch::Sender<u64>,
}

impl Default for MetadataMachine {
    fn default() -> Self {
        MetadataMachine {
            state: MetadataState::default(),
            changes: watch::channel(0).0,
        }
    }
}

/// Why a committed command did not change the state (sent back to its proposer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Refusal {
    TopicAlreadyExists(String),
    UnknownTopic(String),
    InvalidPartitions(i32),
    InvalidReplicaAssignment(String),
    InvalidConfig {
        key: String,
        value: String,
        reason: String,
    },
    /// The command did not decode (written by a broker of another version).
    Undecodable(String),
    /// The controller could not take it (no leader, a broker unreachable): try again.
    Unavailable(String),
    /// The broker asked to propose it does not lead the controller: it was not proposed.
    NotLeader,
}

impl Refusal {
    pub fn of(e: BrokerError) -> Refusal {
        match e {
            BrokerError::TopicAlreadyExists(name) => Refusal::TopicAlreadyExists(name),
            BrokerError::UnknownTopicOrPartition { topic, .. } => Refusal::UnknownTopic(topic),
            BrokerError::InvalidPartitions(n) => Refusal::InvalidPartitions(n),
            BrokerError::InvalidReplicaAssignment(why) => Refusal::InvalidReplicaAssignment(why),
            BrokerError::InvalidConfig { key, value, reason } => {
                Refusal::InvalidConfig { key, value, reason }
            }
            BrokerError::Controller(reason) | BrokerError::Cluster(reason) => {
                Refusal::Unavailable(reason)
            }
            other => Refusal::Undecodable(other.to_string()),
        }
    }

    /// The broker error the proposer answers with.
    pub fn into_error(self) -> BrokerError {
        match self {
            Refusal::TopicAlreadyExists(name) => BrokerError::TopicAlreadyExists(name),
            Refusal::UnknownTopic(topic) => BrokerError::UnknownTopicOrPartition {
                topic,
                partition: -1,
            },
            Refusal::InvalidPartitions(n) => BrokerError::InvalidPartitions(n),
            Refusal::InvalidReplicaAssignment(why) => BrokerError::InvalidReplicaAssignment(why),
            Refusal::InvalidConfig { key, value, reason } => {
                BrokerError::InvalidConfig { key, value, reason }
            }
            Refusal::Undecodable(reason) => BrokerError::MetadataCorrupt {
                path: "controller log".into(),
                reason,
            },
            Refusal::Unavailable(reason) => BrokerError::Controller(reason),
            Refusal::NotLeader => {
                BrokerError::Controller("the controller's leader changed".to_string())
            }
        }
    }
}

/// The outcome of one command, as its proposer reads it.
pub(crate) type Outcome = Result<(), Refusal>;

impl ReplicatedState for MetadataMachine {
    fn apply(&mut self, command: &[u8]) -> Bytes {
        let outcome: Outcome = match serde_json::from_slice::<MetadataCommand>(command) {
            Ok(command) => self
                .state
                .check(&command)
                .map(|()| self.state.apply(command))
                .map_err(Refusal::of),
            Err(e) => Err(Refusal::Undecodable(e.to_string())),
        };
        if outcome.is_ok() {
            self.changes.send_modify(|n| *n += 1);
        }
        // Encoding a plain enum of strings cannot fail; an empty reply reads as refused.
        Bytes::from(serde_json::to_vec(&outcome).unwrap_or_default())
    }

    fn snapshot(&self) -> Vec<u8> {
        serde_json::to_vec(&self.state).unwrap_or_default()
    }

    fn restore(&mut self, snapshot: &[u8]) -> Result<(), String> {
        self.state = serde_json::from_slice(snapshot).map_err(|e| e.to_string())?;
        self.changes.send_modify(|n| *n += 1);
        Ok(())
    }
}
