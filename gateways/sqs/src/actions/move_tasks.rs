//! StartMessageMoveTask, ListMessageMoveTasks and CancelMessageMoveTask.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::{Map, Value, json};

use super::output::Output;
use crate::error::SqsError;
use crate::gateway::Gateway;
use crate::move_runner;
use crate::move_tasks::Status;
use crate::params::Params;
use crate::request::Request;

pub async fn start(gateway: &Arc<Gateway>, request: &Request) -> Output {
    let params = Params(&request.params);
    let source_arn = params.required_str("SourceArn")?;
    let source = gateway
        .queue_of_arn(source_arn)
        .ok_or(SqsError::ResourceNotFound(
            "The resource that you specified for the SourceArn parameter doesn't exist.".into(),
        ))?;
    let is_dead_letter = gateway.all().iter().any(|q| {
        q.attributes
            .redrive_policy()
            .is_some_and(|p| p.dead_letter_target_arn == source_arn)
    });
    if !is_dead_letter {
        return Err(SqsError::InvalidParameterValue(
            "Source queue must be configured as a Dead Letter Queue.".into(),
        ));
    }
    let destination = params.str("DestinationArn")?;
    if let Some(arn) = destination
        && gateway.queue_of_arn(arn).is_none()
    {
        return Err(SqsError::ResourceNotFound(
            "The resource that you specified for the DestinationArn parameter doesn't exist."
                .into(),
        ));
    }
    let rate = params.int_in("MaxNumberOfMessagesPerSecond", 1, 500)?;
    let state = gateway.state(&source).await?;
    state.release_due_locks()?;
    let to_move = state.queue.counts().available;
    let task = gateway.moves.add(
        source_arn.to_string(),
        destination.map(str::to_string),
        rate,
        to_move,
    )?;
    tokio::spawn(move_runner::run(Arc::clone(gateway), Arc::clone(&task)));
    let mut out = Map::new();
    out.insert("TaskHandle".into(), json!(task.handle));
    Ok(out)
}

pub fn list(gateway: &Arc<Gateway>, request: &Request) -> Output {
    let params = Params(&request.params);
    let source_arn = params.required_str("SourceArn")?;
    if gateway.queue_of_arn(source_arn).is_none() {
        return Err(SqsError::ResourceNotFound(
            "The resource that you specified for the SourceArn parameter doesn't exist.".into(),
        ));
    }
    let max = params.int_in("MaxResults", 1, 10)?.unwrap_or(1) as usize;
    let results: Vec<Value> = gateway
        .moves
        .of_source(source_arn)
        .into_iter()
        .take(max)
        .map(|task| {
            let (status, reason) = task.status();
            let mut entry = Map::new();
            if status == Status::Running {
                entry.insert("TaskHandle".into(), json!(task.handle));
            }
            entry.insert("Status".into(), json!(status.as_str()));
            entry.insert("SourceArn".into(), json!(task.source_arn));
            if let Some(d) = &task.destination_arn {
                entry.insert("DestinationArn".into(), json!(d));
            }
            if let Some(rate) = task.rate {
                entry.insert("MaxNumberOfMessagesPerSecond".into(), json!(rate));
            }
            entry.insert(
                "ApproximateNumberOfMessagesMoved".into(),
                json!(task.moved.load(Ordering::Relaxed)),
            );
            entry.insert(
                "ApproximateNumberOfMessagesToMove".into(),
                json!(task.to_move),
            );
            if let Some(reason) = reason {
                entry.insert("FailureReason".into(), json!(reason));
            }
            entry.insert("StartedTimestamp".into(), json!(task.started));
            Value::Object(entry)
        })
        .collect();
    let mut out = Map::new();
    out.insert("Results".into(), Value::Array(results));
    Ok(out)
}

pub fn cancel(gateway: &Arc<Gateway>, request: &Request) -> Output {
    let handle = Params(&request.params).required_str("TaskHandle")?;
    let task = gateway.moves.cancel(handle)?;
    let mut out = Map::new();
    out.insert(
        "ApproximateNumberOfMessagesMoved".into(),
        json!(task.moved.load(Ordering::Relaxed)),
    );
    Ok(out)
}
