//! Message move tasks (StartMessageMoveTask): a background task that takes the messages of a
//! dead-letter queue and sends them back to their source queues or to a chosen queue, at an
//! optional rate, until the messages there at its start are moved or it is cancelled.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use crate::error::SqsError;
use crate::gateway::Gateway;
use crate::message::{SOURCE_ARN_HEADER, header_text};

/// Most tasks remembered (finished ones are dropped oldest first).
const MAX_TASKS: usize = 1000;
/// How long a moving task holds the messages it is moving.
const MOVE_LOCK_MS: i64 = 60_000;

/// A task's state, as ListMessageMoveTasks shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Running,
    Completed,
    Cancelling,
    Cancelled,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "RUNNING",
            Status::Completed => "COMPLETED",
            Status::Cancelling => "CANCELLING",
            Status::Cancelled => "CANCELLED",
            Status::Failed => "FAILED",
        }
    }
}

/// One move task.
#[derive(Debug)]
pub struct MoveTask {
    pub handle: String,
    pub source_arn: String,
    pub destination_arn: Option<String>,
    pub rate: Option<i64>,
    pub started: i64,
    pub to_move: u64,
    pub moved: AtomicU64,
    cancel: AtomicBool,
    status: Mutex<(Status, Option<String>)>,
}

impl MoveTask {
    pub fn status(&self) -> (Status, Option<String>) {
        self.status.lock().clone()
    }

    fn finish(&self, status: Status, reason: Option<String>) {
        *self.status.lock() = (status, reason);
    }
}

/// Every task started, newest last.
#[derive(Debug, Default)]
pub struct MoveTasks {
    tasks: Mutex<Vec<Arc<MoveTask>>>,
}

impl MoveTasks {
    /// The tasks of `source_arn`, newest first.
    pub fn of_source(&self, source_arn: &str) -> Vec<Arc<MoveTask>> {
        let tasks = self.tasks.lock();
        tasks
            .iter()
            .rev()
            .filter(|t| t.source_arn == source_arn)
            .cloned()
            .collect()
    }

    /// The task with `handle`.
    pub fn get(&self, handle: &str) -> Option<Arc<MoveTask>> {
        self.tasks
            .lock()
            .iter()
            .find(|t| t.handle == handle)
            .cloned()
    }

    /// Asks a running task to stop.
    pub fn cancel(&self, handle: &str) -> Result<Arc<MoveTask>, SqsError> {
        let task = self
            .get(handle)
            .ok_or_else(|| SqsError::ResourceNotFound("The task handle is not valid.".into()))?;
        let mut status = task.status.lock();
        if status.0 != Status::Running {
            return Err(SqsError::ResourceNotFound(
                "Only a running task can be cancelled.".into(),
            ));
        }
        status.0 = Status::Cancelling;
        task.cancel.store(true, Ordering::Relaxed);
        drop(status);
        Ok(task)
    }

    /// Starts moving the messages of `source_arn`.
    pub fn start(
        &self,
        gateway: &Arc<Gateway>,
        source_arn: String,
        destination_arn: Option<String>,
        rate: Option<i64>,
        to_move: u64,
    ) -> Result<Arc<MoveTask>, SqsError> {
        let mut tasks = self.tasks.lock();
        if tasks
            .iter()
            .any(|t| t.source_arn == source_arn && t.status().0 == Status::Running)
        {
            return Err(SqsError::UnsupportedOperation(
                "There is already a task running. Only one active task is allowed for a source queue ARN at a given time.".into(),
            ));
        }
        let task = Arc::new(MoveTask {
            handle: base64_handle(&source_arn),
            source_arn,
            destination_arn,
            rate,
            started: neo_record::now_ms(),
            to_move,
            moved: AtomicU64::new(0),
            cancel: AtomicBool::new(false),
            status: Mutex::new((Status::Running, None)),
        });
        if tasks.len() >= MAX_TASKS
            && let Some(i) = tasks.iter().position(|t| t.status().0 != Status::Running)
        {
            tasks.remove(i);
        }
        tasks.push(Arc::clone(&task));
        tokio::spawn(run(Arc::clone(gateway), Arc::clone(&task)));
        Ok(task)
    }
}

fn base64_handle(source_arn: &str) -> String {
    use base64::Engine;
    let text = format!(
        "{{\"taskId\":\"{}\",\"sourceArn\":\"{source_arn}\"}}",
        uuid::Uuid::new_v4()
    );
    base64::engine::general_purpose::STANDARD.encode(text)
}

async fn run(gateway: Arc<Gateway>, task: Arc<MoveTask>) {
    match move_all(&gateway, &task).await {
        Ok(true) => task.finish(Status::Cancelled, None),
        Ok(false) => task.finish(Status::Completed, None),
        Err(reason) => {
            tracing::warn!(task = task.handle, reason, "sqs: message move task failed");
            task.finish(Status::Failed, Some(reason));
        }
    }
}

/// Moves messages until `to_move` are moved, the source is empty or the task is
/// cancelled (true).
async fn move_all(gateway: &Gateway, task: &MoveTask) -> Result<bool, String> {
    let source = gateway
        .queue_of_arn(&task.source_arn)
        .ok_or("AWS.SimpleQueueService.NonExistentQueue")?;
    let state = gateway.state(&source).map_err(|e| e.to_string())?;
    let fixed_destination = match &task.destination_arn {
        Some(arn) => Some(
            gateway
                .queue_of_arn(arn)
                .ok_or("AWS.SimpleQueueService.NonExistentQueue")?,
        ),
        None => None,
    };
    let holder: u64 = rand::random();
    let per_round = task.rate.map_or(10, |r| r.clamp(1, 10) as usize);
    while task.moved.load(Ordering::Relaxed) < task.to_move {
        if task.cancel.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let started = std::time::Instant::now();
        let left = (task.to_move - task.moved.load(Ordering::Relaxed)) as usize;
        let now = neo_record::now_ms();
        let got = state
            .queue
            .receive(now, per_round.min(left), now + MOVE_LOCK_MS, holder)
            .map_err(|e| e.to_string())?;
        if got.delivered.is_empty() {
            break;
        }
        for record in &got.delivered {
            let destination = match &fixed_destination {
                Some(d) => d.clone(),
                None => header_text(record, SOURCE_ARN_HEADER)
                    .and_then(|arn| gateway.queue_of_arn(arn))
                    .ok_or("The source queue of a message no longer exists.")?,
            };
            crate::actions::transfer(gateway, std::slice::from_ref(record), &destination, None)
                .await
                .map_err(|e| e.to_string())?;
            state
                .queue
                .ack(&[record.offset], Some(holder))
                .map_err(|e| e.to_string())?;
            state.forget(&[record.offset]);
            task.moved.fetch_add(1, Ordering::Relaxed);
        }
        state.queue.sync().await.map_err(|e| e.to_string())?;
        if let Some(rate) = task.rate {
            let round = Duration::from_secs_f64(got.delivered.len() as f64 / rate.max(1) as f64);
            if let Some(rest) = round.checked_sub(started.elapsed()) {
                tokio::time::sleep(rest).await;
            }
        }
    }
    Ok(task.cancel.load(Ordering::Relaxed))
}
