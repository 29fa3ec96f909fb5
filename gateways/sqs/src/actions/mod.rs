//! The SQS actions, one family per file, and the dispatch from action names.

mod access;
mod attributes;
mod dead_letter;
mod delete;
mod move_tasks;
mod output;
mod queues;
mod receive;
mod send;
mod tags;
mod visibility;

use std::sync::Arc;

use neo_broker::acls::Caller;

pub use access::caller;

use crate::error::SqsError;
use crate::gateway::Gateway;
use crate::request::Request;
use output::Output;

/// Runs `request`'s action for `caller`, if the broker's ACLs let it.
pub async fn handle(gateway: &Arc<Gateway>, request: &Request, caller: &Caller) -> Output {
    access::check(gateway, request, caller)?;
    match request.action.as_str() {
        "CreateQueue" => queues::create(gateway, request).await,
        "DeleteQueue" => queues::delete(gateway, request).await,
        "GetQueueUrl" => queues::get_url(gateway, request),
        "ListQueues" => queues::list(gateway, request, caller),
        "PurgeQueue" => queues::purge(gateway, request).await,
        "GetQueueAttributes" => attributes::get(gateway, request).await,
        "SetQueueAttributes" => attributes::set(gateway, request).await,
        "SendMessage" => send::send(gateway, request).await,
        "SendMessageBatch" => send::send_batch(gateway, request).await,
        "ReceiveMessage" => receive::receive(gateway, request).await,
        "DeleteMessage" => delete::delete(gateway, request).await,
        "DeleteMessageBatch" => delete::delete_batch(gateway, request).await,
        "ChangeMessageVisibility" => visibility::change(gateway, request).await,
        "ChangeMessageVisibilityBatch" => visibility::change_batch(gateway, request).await,
        "TagQueue" => tags::tag(gateway, request).await,
        "UntagQueue" => tags::untag(gateway, request).await,
        "ListQueueTags" => tags::list(gateway, request).await,
        "ListDeadLetterSourceQueues" => dead_letter::list_sources(gateway, request, caller).await,
        "StartMessageMoveTask" => move_tasks::start(gateway, request).await,
        "ListMessageMoveTasks" => move_tasks::list(gateway, request),
        "CancelMessageMoveTask" => move_tasks::cancel(gateway, request),
        "AddPermission" | "RemovePermission" => Err(SqsError::UnsupportedOperation(format!(
            "{} is not supported: Neo does not evaluate queue policies.",
            request.action
        ))),
        other => Err(SqsError::InvalidAction(other.chars().take(128).collect())),
    }
}
