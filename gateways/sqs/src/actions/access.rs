//! What each action needs, by the broker's ACLs: a queue is its topic (`sqs.<name>`), the
//! caller `User:<access key id>` (anonymous without a signature) from its IP address. Checked
//! before the action runs, so a refused caller learns nothing about the queue; listings leave
//! out the queues the caller may not DESCRIBE.

use neo_broker::acls::{Caller, Operation, Resource};

use crate::error::SqsError;
use crate::gateway::Gateway;
use crate::params::Params;
use crate::registry::topic_for_queue;
use crate::request::Request;

/// The caller of `request` from `host`.
pub fn caller(request: &Request, host: String) -> Caller {
    match &request.access_key {
        Some(key) => Caller::user(key, host),
        None => Caller::anonymous(host),
    }
}

/// The queue an ARN names (its last part).
fn queue_of_arn(arn: &str) -> String {
    arn.rsplit(':').next().unwrap_or_default().to_string()
}

/// The operations `request` needs, each on a queue.
fn needs(request: &Request, gateway: &Gateway) -> Result<Vec<(Operation, String)>, SqsError> {
    use Operation::*;
    let params = Params(&request.params);
    let on_queue = |op| Ok(vec![(op, request.queue_name()?)]);
    match request.action.as_str() {
        "CreateQueue" => Ok(vec![(
            Create,
            params.required_str("QueueName")?.to_string(),
        )]),
        "GetQueueUrl" => Ok(vec![(
            Describe,
            params.required_str("QueueName")?.to_string(),
        )]),
        "DeleteQueue" | "PurgeQueue" => on_queue(Delete),
        "GetQueueAttributes" | "ListQueueTags" => on_queue(DescribeConfigs),
        "SetQueueAttributes" | "TagQueue" | "UntagQueue" => on_queue(AlterConfigs),
        "SendMessage" | "SendMessageBatch" => on_queue(Write),
        "ReceiveMessage"
        | "DeleteMessage"
        | "DeleteMessageBatch"
        | "ChangeMessageVisibility"
        | "ChangeMessageVisibilityBatch" => on_queue(Read),
        "ListDeadLetterSourceQueues" => on_queue(Describe),
        "StartMessageMoveTask" => {
            let mut needs = vec![(Read, queue_of_arn(params.required_str("SourceArn")?))];
            if let Some(destination) = params.str("DestinationArn")? {
                needs.push((Write, queue_of_arn(destination)));
            }
            Ok(needs)
        }
        "ListMessageMoveTasks" => Ok(vec![(
            Describe,
            queue_of_arn(params.required_str("SourceArn")?),
        )]),
        "CancelMessageMoveTask" => Ok(gateway
            .moves
            .get(params.required_str("TaskHandle")?)
            .map(|task| vec![(Read, queue_of_arn(&task.source_arn))])
            .unwrap_or_default()),
        _ => Ok(Vec::new()),
    }
}

/// Refuses `request` with AccessDenied unless `caller` may do all it needs.
pub fn check(gateway: &Gateway, request: &Request, caller: &Caller) -> Result<(), SqsError> {
    for (operation, queue) in needs(request, gateway)? {
        let topic = topic_for_queue(&queue);
        if gateway
            .broker
            .authorize(caller, operation, Resource::topic(&topic))
            .is_err()
        {
            return Err(SqsError::AccessDenied {
                principal: caller.principal.clone(),
                action: request.action.clone(),
                resource: gateway.arn_of(&queue),
            });
        }
    }
    Ok(())
}

/// Whether `caller` may see queue `name` in a listing.
pub fn may_describe(gateway: &Gateway, caller: &Caller, name: &str) -> bool {
    let topic = topic_for_queue(name);
    gateway
        .broker
        .authorize(caller, Operation::Describe, Resource::topic(&topic))
        .is_ok()
}
