//! The openraft type configuration every group of a Neo cluster uses.

use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

/// A broker's id (Kafka's broker id), also its Raft node id.
pub type NodeId = u64;

/// What a group's log entry carries: a metadata command (controller), or a record batch
/// (partition groups), as bytes the group's state machine interprets.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Proposal {
    pub bytes: Bytes,
    /// On the proposing leader only: told what the local append did with a record batch.
    #[serde(skip)]
    pub notice: Option<AppendNotice>,
}

impl Proposal {
    /// A proposal of `bytes` nobody waits on locally.
    pub fn new(bytes: Bytes) -> Proposal {
        Proposal {
            bytes,
            notice: None,
        }
    }
}

impl PartialEq for Proposal {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for Proposal {}

impl std::fmt::Display for Proposal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "proposal of {} bytes", self.bytes.len())
    }
}

/// What the leader's append did with a proposed record batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admitted {
    /// Written at these offsets (with the broker's timestamp on a LogAppendTime topic).
    Appended {
        base_offset: i64,
        last_offset: i64,
        log_append_time: Option<i64>,
    },
    /// A retry of a batch already written at these offsets: not written again.
    Duplicate { base_offset: i64, last_offset: i64 },
    /// Refused (e.g. an out-of-order sequence number); the reason as the gate gave it.
    Refused(Bytes),
}

/// The one-shot channel a proposer waits on for its batch's [`Admitted`].
#[derive(Debug, Clone, Default)]
pub struct AppendNotice(Arc<Mutex<Option<oneshot::Sender<Admitted>>>>);

impl AppendNotice {
    /// A notice and the receiver that gets it.
    pub fn new() -> (AppendNotice, oneshot::Receiver<Admitted>) {
        let (tx, rx) = oneshot::channel();
        (AppendNotice(Arc::new(Mutex::new(Some(tx)))), rx)
    }

    /// Tells the proposer (once; later calls do nothing).
    pub fn send(&self, admitted: Admitted) {
        if let Some(tx) = self.0.lock().take() {
            let _ = tx.send(admitted);
        }
    }
}

/// The type configuration of Neo's Raft groups (written out rather than declared with
/// `declare_raft_types!` for its responder: a proposer that stops waiting is normal here, e.g.
/// an `acks=1` producer, and must not be logged as a warning).
#[derive(Debug, Clone, Copy, Default, Eq, PartialEq, Ord, PartialOrd)]
pub struct NeoRaft {}

impl openraft::RaftTypeConfig for NeoRaft {
    type D = Proposal;
    type R = Bytes;
    type NodeId = NodeId;
    type Node = openraft::BasicNode;
    type Term = u64;
    type LeaderId = openraft::impls::leader_id_std::LeaderId<u64, NodeId>;
    type Vote = openraft::impls::Vote<Self::LeaderId>;
    type Payload = openraft::EntryPayload<Self::D, Self::NodeId, Self::Node>;
    type Entry =
        openraft::Entry<<Self::LeaderId as openraft::vote::RaftLeaderId>::Committed, Self::Payload>;
    type Responder<T>
        = QuietResponder<T>
    where
        T: openraft::OptionalSend + 'static;
    type Batch<T>
        = openraft::impls::InlineBatch<T>
    where
        T: openraft::OptionalSend + 'static;
    type AsyncRuntime = openraft_rt_tokio::TokioRuntime;
    type ErrorSource = openraft::impls::BoxedErrorSource;
}

/// Tells a proposer that its entry committed and what applying it returned; a proposer that
/// stopped listening is no error.
pub struct QuietResponder<T> {
    commit: Option<oneshot::Sender<()>>,
    complete: Option<oneshot::Sender<T>>,
}

impl<T> QuietResponder<T> {
    /// A responder and the receivers of its commit and its result.
    pub fn new() -> (
        QuietResponder<T>,
        oneshot::Receiver<()>,
        oneshot::Receiver<T>,
    ) {
        let (commit_tx, commit_rx) = oneshot::channel();
        let (complete_tx, complete_rx) = oneshot::channel();
        let responder = QuietResponder {
            commit: Some(commit_tx),
            complete: Some(complete_tx),
        };
        (responder, commit_rx, complete_rx)
    }
}

impl<T: openraft::OptionalSend + 'static> openraft::raft::responder::Responder<NeoRaft, T>
    for QuietResponder<T>
{
    fn on_commit(&mut self, _log_id: openraft::alias::LogIdOf<NeoRaft>) {
        if let Some(tx) = self.commit.take() {
            let _ = tx.send(());
        }
    }

    fn on_complete(mut self, result: T) {
        if let Some(tx) = self.complete.take() {
            let _ = tx.send(result);
        }
    }
}
