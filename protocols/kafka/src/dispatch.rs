//! Routes each decoded request to its API module.

use std::sync::Arc;

use kafka_protocol::messages::{RequestKind, ResponseKind};

use crate::apis;
use crate::context::Context;
use crate::handler::Handler;
use crate::reply::Reply;

/// Starts `body`. Work whose order matters (appends) happens before this returns, so the
/// next request of the connection sees it.
pub async fn start(
    handler: &Arc<Handler>,
    context: &Context,
    client_id: &str,
    version: i16,
    body: RequestKind,
) -> Reply {
    use RequestKind as R;
    use ResponseKind as S;
    if let Some(refused) = apis::group_access::refusal(handler, context, &body) {
        return Reply::Now(Box::new(refused));
    }
    match body {
        R::ApiVersions(_) => Reply::Now(Box::new(S::ApiVersions(apis::api_versions::supported(0)))),
        R::Metadata(r) => Reply::Now(Box::new(S::Metadata(
            apis::metadata::handle(handler, context, version, r).await,
        ))),
        R::Produce(r) => apis::produce::handle(handler, context, r).await,
        R::Fetch(r) => {
            let denied = apis::fetch::unreadable_topics(handler, context, &r);
            let handler = Arc::clone(handler);
            Reply::Later(Box::pin(async move {
                S::Fetch(apis::fetch::handle(&handler, r, denied).await)
            }))
        }
        R::ListOffsets(r) => Reply::Now(Box::new(S::ListOffsets(apis::list_offsets::handle(
            handler, context, version, r,
        )))),
        R::OffsetForLeaderEpoch(r) => Reply::Now(Box::new(S::OffsetForLeaderEpoch(
            apis::offset_for_leader_epoch::handle(handler, context, r),
        ))),
        R::CreateTopics(r) => Reply::Now(Box::new(S::CreateTopics(
            apis::topics::create(handler, context, version, r).await,
        ))),
        R::DeleteTopics(r) => Reply::Now(Box::new(S::DeleteTopics(
            apis::topics::delete(handler, context, r).await,
        ))),
        R::CreatePartitions(r) => Reply::Now(Box::new(S::CreatePartitions(
            apis::topics::create_partitions(handler, context, r).await,
        ))),
        R::DeleteRecords(r) => Reply::Now(Box::new(S::DeleteRecords(
            apis::topics::delete_records(handler, context, r),
        ))),
        R::DescribeConfigs(r) => Reply::Now(Box::new(S::DescribeConfigs(apis::configs::describe(
            handler, context, version, r,
        )))),
        R::AlterConfigs(r) => Reply::Now(Box::new(S::AlterConfigs(
            apis::configs::alter(handler, context, r).await,
        ))),
        R::IncrementalAlterConfigs(r) => Reply::Now(Box::new(S::IncrementalAlterConfigs(
            apis::configs::incremental_alter(handler, context, r).await,
        ))),
        R::DescribeCluster(r) => Reply::Now(Box::new(S::DescribeCluster(apis::cluster::describe(
            handler, context, r,
        )))),
        R::DescribeAcls(r) => Reply::Now(Box::new(S::DescribeAcls(apis::acls::describe(
            handler, context, r,
        )))),
        R::CreateAcls(r) => Reply::Now(Box::new(S::CreateAcls(
            apis::acls::create(handler, context, r).await,
        ))),
        R::DeleteAcls(r) => Reply::Now(Box::new(S::DeleteAcls(
            apis::acls::delete(handler, context, r).await,
        ))),
        R::InitProducerId(r) => Reply::Now(Box::new(S::InitProducerId(
            apis::producer_id::init(handler, r).await,
        ))),
        R::FindCoordinator(r) => Reply::Now(Box::new(S::FindCoordinator(
            apis::groups::find_coordinator(handler, context, version, r),
        ))),
        R::JoinGroup(r) => {
            let handler = Arc::clone(handler);
            let host = context.peer_host();
            let client_id = client_id.to_string();
            Reply::Later(Box::pin(async move {
                S::JoinGroup(apis::groups::join(&handler, host, client_id, version, r).await)
            }))
        }
        R::SyncGroup(r) => {
            let handler = Arc::clone(handler);
            Reply::Later(Box::pin(async move {
                S::SyncGroup(apis::groups::sync(&handler, r).await)
            }))
        }
        R::Heartbeat(r) => Reply::Now(Box::new(S::Heartbeat(apis::groups::heartbeat(handler, r)))),
        R::LeaveGroup(r) => Reply::Now(Box::new(S::LeaveGroup(apis::groups::leave(
            handler, version, r,
        )))),
        R::DescribeGroups(r) => Reply::Now(Box::new(S::DescribeGroups(apis::groups::describe(
            handler, context, r,
        )))),
        R::ListGroups(r) => Reply::Now(Box::new(S::ListGroups(apis::groups::list(
            handler, context, r,
        )))),
        // Finished before the next request starts, like OffsetCommit below.
        R::DeleteGroups(r) => Reply::Now(Box::new(S::DeleteGroups(
            apis::groups::delete(handler, context, r).await,
        ))),
        // Finished (fsynced) before the connection's next request starts, as Kafka
        // answers one request of a connection at a time: an OffsetFetch right after an
        // OffsetCommit sees the commit.
        R::OffsetCommit(r) => Reply::Now(Box::new(S::OffsetCommit(
            apis::offsets::commit(handler, context, r).await,
        ))),
        R::OffsetFetch(r) => Reply::Now(Box::new(S::OffsetFetch(apis::offsets::fetch(
            handler, context, version, r,
        )))),
        // Finished before the next request starts, like OffsetCommit above.
        R::OffsetDelete(r) => Reply::Now(Box::new(S::OffsetDelete(
            apis::offsets::delete(handler, r).await,
        ))),
        other => {
            // Decoding only accepts the APIs in `versions::SUPPORTED_APIS`, each handled above.
            tracing::error!(request = ?std::mem::discriminant(&other), "no handler for a supported API");
            Reply::Nothing
        }
    }
}
