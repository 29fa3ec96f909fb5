//! Running a message move task: taking the messages of a dead-letter queue and sending them
//! back to their source queues or to a chosen queue, at an optional rate, until the messages
//! there at its start are moved or it is cancelled.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::gateway::Gateway;
use crate::message::{SOURCE_ARN_HEADER, header_text};
use crate::move_tasks::{MoveTask, Status};
use crate::transfer::transfer;

/// How long a moving task holds the messages it is moving.
const MOVE_LOCK_MS: i64 = 60_000;

/// Runs `task` to its end and notes how it ended.
pub async fn run(gateway: Arc<Gateway>, task: Arc<MoveTask>) {
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
    let state = gateway.state(&source).await.map_err(|e| e.to_string())?;
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
        if task.cancelled() {
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
            transfer(gateway, std::slice::from_ref(record), &destination, None)
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
    Ok(task.cancelled())
}
