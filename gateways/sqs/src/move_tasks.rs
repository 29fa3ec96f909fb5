//! The message move tasks started (StartMessageMoveTask) and their state; `move_runner`
//! runs each.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::error::SqsError;

/// Most tasks remembered (finished ones are dropped oldest first).
const MAX_TASKS: usize = 1000;

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

    /// Whether the task was asked to stop.
    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// Notes how the task ended.
    pub fn finish(&self, status: Status, reason: Option<String>) {
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

    /// Adds a running task moving the messages of `source_arn` (for `move_runner` to run).
    pub fn add(
        &self,
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
