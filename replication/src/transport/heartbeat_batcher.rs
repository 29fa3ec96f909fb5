//! Heartbeat coalescing for one peer: the heartbeats of every group going to the peer in one
//! burst leave in one frame, and their answers come back in one frame.
//!
//! openraft sends a heartbeat per group; the node's heartbeat ticker makes the groups send them
//! at the same moment, and this batcher turns that burst into a single request, so N idle
//! groups between two brokers cost one frame per heartbeat interval, not N.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse};
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use super::error::CallError;
use super::message::{Heartbeat, Request, Response};
use super::peer_link::PeerLink;
use crate::group_id::GroupId;
use crate::types::NeoRaft;

/// An upper bound of one encoded heartbeat (group id and an AppendEntries without entries:
/// vote, previous and committed log ids; under 128 bytes as postcard varints) or of its
/// answer, used to keep a batch inside `max_frame_bytes`.
const HEARTBEAT_BOUND_BYTES: usize = 256;

type HeartbeatResult = Result<AppendEntriesResponse<NeoRaft>, CallError>;

/// Heartbeats sent to one peer, counted for tests and metrics.
#[derive(Debug, Default)]
pub(crate) struct HeartbeatCounters {
    /// Heartbeats carried.
    pub(crate) heartbeats: AtomicU64,
    /// Frames that carried them.
    pub(crate) frames: AtomicU64,
}

struct Queued {
    heartbeat: Heartbeat,
    deadline: Instant,
    reply: oneshot::Sender<HeartbeatResult>,
}

/// When a batch leaves: once no heartbeat came for `quiet`, or `longest` after its first.
///
/// A burst from the ticker reaches the batcher spread over the time the groups take to run; on
/// a busy machine that spread exceeds any short fixed window, while the gap between two
/// heartbeats of the burst stays short.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchWindow {
    pub(crate) quiet: Duration,
    pub(crate) longest: Duration,
}

/// Collects one peer's heartbeats into batches.
#[derive(Debug)]
pub(crate) struct HeartbeatBatcher {
    queue: mpsc::Sender<Queued>,
    task: JoinHandle<()>,
}

impl HeartbeatBatcher {
    /// A batcher sending through `link`; see [`BatchWindow`] for when a batch leaves.
    pub(crate) fn spawn(
        link: Arc<PeerLink>,
        window: BatchWindow,
        max_frame_bytes: usize,
        counters: Arc<HeartbeatCounters>,
    ) -> Self {
        let max_batch = (max_frame_bytes / HEARTBEAT_BOUND_BYTES).max(1);
        let (queue, receiver) = mpsc::channel(max_batch);
        let task = tokio::spawn(run(link, receiver, window, max_batch, counters));
        Self { queue, task }
    }

    /// Sends one group's heartbeat with the others of its window; its answer by `deadline`.
    pub(crate) async fn send(
        &self,
        group: GroupId,
        rpc: AppendEntriesRequest<NeoRaft>,
        deadline: Instant,
    ) -> HeartbeatResult {
        let (reply, answer) = oneshot::channel();
        let queued = Queued {
            heartbeat: Heartbeat { group, rpc },
            deadline,
            reply,
        };
        self.queue
            .send(queued)
            .await
            .map_err(|_| CallError::Closed)?;
        // The batch's call has the earliest deadline of its heartbeats, so it answers in time.
        answer.await.map_err(|_| CallError::Closed)?
    }

    /// Stops batching; waiting heartbeats get [`CallError::Closed`].
    pub(crate) fn close(&self) {
        self.task.abort();
    }
}

impl Drop for HeartbeatBatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(
    link: Arc<PeerLink>,
    mut queue: mpsc::Receiver<Queued>,
    window: BatchWindow,
    max_batch: usize,
    counters: Arc<HeartbeatCounters>,
) {
    let mut sending = JoinSet::new();
    while let Some(first) = queue.recv().await {
        let closes_at = Instant::now() + window.longest;
        let mut batch = vec![first];
        while batch.len() < max_batch {
            let wait_until = (Instant::now() + window.quiet).min(closes_at);
            match tokio::time::timeout_at(wait_until, queue.recv()).await {
                Ok(Some(queued)) => batch.push(queued),
                Ok(None) | Err(_) => break,
            }
        }
        while sending.try_join_next().is_some() {}
        counters.frames.fetch_add(1, Ordering::Relaxed);
        counters
            .heartbeats
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        // A slow batch must not hold back the next one.
        sending.spawn(send_batch(link.clone(), batch));
    }
}

async fn send_batch(link: Arc<PeerLink>, batch: Vec<Queued>) {
    let Some(deadline) = batch.iter().map(|queued| queued.deadline).min() else {
        return;
    };
    let (heartbeats, waiting): (Vec<Heartbeat>, Vec<_>) = batch
        .into_iter()
        .map(|queued| (queued.heartbeat, queued.reply))
        .unzip();
    let count = heartbeats.len();
    let answers = match link.call(&Request::Heartbeats(heartbeats), deadline).await {
        Ok(Response::Heartbeats(answers)) if answers.len() == count => answers,
        Ok(other) => {
            let error = CallError::unexpected(link.target(), other, "heartbeats");
            return fail(waiting, &error);
        }
        Err(error) => return fail(waiting, &error),
    };
    for (reply, answer) in waiting.into_iter().zip(answers) {
        let answer = answer.map_err(|error| CallError::Remote {
            node: link.target(),
            error,
        });
        let _ = reply.send(answer);
    }
}

fn fail(waiting: Vec<oneshot::Sender<HeartbeatResult>>, error: &CallError) {
    for reply in waiting {
        let _ = reply.send(Err(error.clone()));
    }
}
