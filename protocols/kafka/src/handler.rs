//! Routes each decoded request to its API module.

use std::net::SocketAddr;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use kafka_protocol::messages::{RequestKind, ResponseKind};
use neo_broker::Broker;
use neo_broker::acls::{Caller, Operation, Resource};

use crate::apis;
use crate::config::KafkaConfig;
use crate::error_codes;

/// What a request turns into once started.
pub enum Reply {
    /// The response is ready.
    Now(Box<ResponseKind>),
    /// The response comes when this future ends (a produce waiting for fsync, a long-poll
    /// fetch). Later requests of the connection are started meanwhile; responses still go out
    /// in request order.
    Later(BoxFuture<'static, ResponseKind>),
    /// No response is sent (`acks=0` produce).
    Nothing,
}

/// Shared by every connection of the listener.
pub struct Handler {
    pub broker: Arc<Broker>,
    pub config: Arc<KafkaConfig>,
}

/// Per-connection facts a request may need.
pub struct Context {
    /// The address the client connected to: advertised when nothing is configured.
    pub local_addr: SocketAddr,
    /// The client's address, shown as a group member's host.
    pub peer_addr: Option<SocketAddr>,
    /// Who the client is for ACLs, worked out once per connection.
    pub caller: Caller,
}

impl Context {
    pub fn new(local_addr: SocketAddr, peer_addr: Option<SocketAddr>) -> Context {
        // Unauthenticated (no SASL yet), known by its IP address.
        let host = peer_addr.map(|a| a.ip().to_string()).unwrap_or_default();
        Context {
            local_addr,
            peer_addr,
            caller: Caller::anonymous(host),
        }
    }

    /// The client host as Kafka shows it (`/127.0.0.1`).
    pub fn peer_host(&self) -> String {
        self.peer_addr
            .map(|a| format!("/{}", a.ip()))
            .unwrap_or_default()
    }
}

impl Handler {
    /// The Kafka error code refusing the client `operation` on `resource` by the broker's
    /// ACLs (the resource type's AUTHORIZATION_FAILED), or `None` when it may.
    pub fn refusal(
        &self,
        context: &Context,
        operation: Operation,
        resource: Resource<'_>,
    ) -> Option<i16> {
        self.broker
            .authorize(&context.caller, operation, resource)
            .err()
            .map(|denied| error_codes::denied(&denied))
    }

    /// Whether the client may do `operation` on `resource` (for listings that leave out
    /// what it may not see).
    pub fn may(&self, context: &Context, operation: Operation, resource: Resource<'_>) -> bool {
        self.broker
            .authorize(&context.caller, operation, resource)
            .is_ok()
    }

    /// Starts `body`. Work whose order matters (appends) happens before this returns, so the
    /// next request of the connection sees it.
    pub async fn start(
        self: &Arc<Self>,
        context: &Context,
        client_id: &str,
        version: i16,
        body: RequestKind,
    ) -> Reply {
        use RequestKind as R;
        use ResponseKind as S;
        if let Some(refused) = apis::group_access::refusal(self, context, &body) {
            return Reply::Now(Box::new(refused));
        }
        match body {
            R::ApiVersions(_) => {
                Reply::Now(Box::new(S::ApiVersions(apis::api_versions::supported(0))))
            }
            R::Metadata(r) => Reply::Now(Box::new(S::Metadata(
                apis::metadata::handle(self, context, version, r).await,
            ))),
            R::Produce(r) => apis::produce::handle(self, context, r).await,
            R::Fetch(r) => {
                let handler = Arc::clone(self);
                let denied = apis::fetch::unreadable_topics(self, context, &r);
                Reply::Later(Box::pin(async move {
                    S::Fetch(apis::fetch::handle(&handler, r, denied).await)
                }))
            }
            R::ListOffsets(r) => Reply::Now(Box::new(S::ListOffsets(apis::list_offsets::handle(
                self, context, version, r,
            )))),
            R::CreateTopics(r) => Reply::Now(Box::new(S::CreateTopics(
                apis::topics::create(self, context, version, r).await,
            ))),
            R::DeleteTopics(r) => Reply::Now(Box::new(S::DeleteTopics(
                apis::topics::delete(self, context, r).await,
            ))),
            R::CreatePartitions(r) => Reply::Now(Box::new(S::CreatePartitions(
                apis::topics::create_partitions(self, context, r).await,
            ))),
            R::DeleteRecords(r) => Reply::Now(Box::new(S::DeleteRecords(
                apis::topics::delete_records(self, context, r),
            ))),
            R::DescribeConfigs(r) => Reply::Now(Box::new(S::DescribeConfigs(
                apis::configs::describe(self, context, version, r),
            ))),
            R::AlterConfigs(r) => Reply::Now(Box::new(S::AlterConfigs(
                apis::configs::alter(self, context, r).await,
            ))),
            R::IncrementalAlterConfigs(r) => Reply::Now(Box::new(S::IncrementalAlterConfigs(
                apis::configs::incremental_alter(self, context, r).await,
            ))),
            R::DescribeCluster(r) => Reply::Now(Box::new(S::DescribeCluster(
                apis::cluster::describe(self, context, r),
            ))),
            R::DescribeAcls(r) => Reply::Now(Box::new(S::DescribeAcls(apis::acls::describe(
                self, context, r,
            )))),
            R::CreateAcls(r) => Reply::Now(Box::new(S::CreateAcls(
                apis::acls::create(self, context, r).await,
            ))),
            R::DeleteAcls(r) => Reply::Now(Box::new(S::DeleteAcls(
                apis::acls::delete(self, context, r).await,
            ))),
            R::InitProducerId(r) => Reply::Now(Box::new(S::InitProducerId(
                apis::producer_id::init(self, r).await,
            ))),
            R::FindCoordinator(r) => Reply::Now(Box::new(S::FindCoordinator(
                apis::groups::find_coordinator(self, context, version, r),
            ))),
            R::JoinGroup(r) => {
                let handler = Arc::clone(self);
                let host = context.peer_host();
                let client_id = client_id.to_string();
                Reply::Later(Box::pin(async move {
                    S::JoinGroup(apis::groups::join(&handler, host, client_id, version, r).await)
                }))
            }
            R::SyncGroup(r) => {
                let handler = Arc::clone(self);
                Reply::Later(Box::pin(async move {
                    S::SyncGroup(apis::groups::sync(&handler, r).await)
                }))
            }
            R::Heartbeat(r) => Reply::Now(Box::new(S::Heartbeat(apis::groups::heartbeat(self, r)))),
            R::LeaveGroup(r) => Reply::Now(Box::new(S::LeaveGroup(apis::groups::leave(
                self, version, r,
            )))),
            R::DescribeGroups(r) => Reply::Now(Box::new(S::DescribeGroups(
                apis::groups::describe(self, context, r),
            ))),
            R::ListGroups(r) => Reply::Now(Box::new(S::ListGroups(apis::groups::list(
                self, context, r,
            )))),
            // Finished before the next request starts, like OffsetCommit below.
            R::DeleteGroups(r) => Reply::Now(Box::new(S::DeleteGroups(
                apis::groups::delete(self, context, r).await,
            ))),
            // Finished (fsynced) before the connection's next request starts, as Kafka
            // answers one request of a connection at a time: an OffsetFetch right after an
            // OffsetCommit sees the commit.
            R::OffsetCommit(r) => Reply::Now(Box::new(S::OffsetCommit(
                apis::offsets::commit(self, context, r).await,
            ))),
            R::OffsetFetch(r) => Reply::Now(Box::new(S::OffsetFetch(apis::offsets::fetch(
                self, context, version, r,
            )))),
            // Finished before the next request starts, like OffsetCommit above.
            R::OffsetDelete(r) => Reply::Now(Box::new(S::OffsetDelete(
                apis::offsets::delete(self, r).await,
            ))),
            other => {
                // Decoding only accepts the APIs in `versions::SUPPORTED_APIS`, each handled above.
                tracing::error!(request = ?std::mem::discriminant(&other), "no handler for a supported API");
                Reply::Nothing
            }
        }
    }

    /// The `(host, port)` clients are told to connect to.
    pub fn advertised(&self, context: &Context) -> (String, i32) {
        match &self.config.advertised {
            Some((host, port)) => (host.clone(), i32::from(*port)),
            None => (
                context.local_addr.ip().to_string(),
                i32::from(context.local_addr.port()),
            ),
        }
    }
}
