//! ListDeadLetterSourceQueues: the queues whose redrive policy names a dead-letter queue.

use std::sync::Arc;

use neo_broker::acls::Caller;

use super::access::may_describe;
use super::output::Output;
use super::queues::{decode_token, page};
use crate::gateway::Gateway;
use crate::params::Params;
use crate::request::Request;

pub async fn list_sources(gateway: &Arc<Gateway>, request: &Request, caller: &Caller) -> Output {
    let (meta, _) = gateway.resolve(request).await?;
    let params = Params(&request.params);
    let max = params.int_in("MaxResults", 1, 1000)?;
    let after = decode_token(params.str("NextToken")?)?;
    let arn = gateway.arn_of(&meta.name);
    let names: Vec<String> = gateway
        .all()
        .into_iter()
        .filter(|q| {
            q.attributes
                .redrive_policy()
                .is_some_and(|p| p.dead_letter_target_arn == arn)
        })
        .map(|q| q.name)
        .filter(|n| after.as_ref().is_none_or(|a| n > a))
        .filter(|n| may_describe(gateway, caller, n))
        .collect();
    Ok(page(gateway, "queueUrls", names, max))
}
