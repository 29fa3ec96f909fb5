//! The client: one multiplexed connection to a broker, re-established with backoff when lost,
//! and on a cluster one more to each broker leading a partition it produces to or reads.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use neo_native::wire::{
    BrokerInfo, GroupInfo, Message, PartitionInfo, ServiceInfo, StartAt, TopicInfo, TopicLeaders,
};

use crate::connection::Connection;
use crate::consumer::Consumer;
use crate::error::{ClientError, RpcError, RpcErrorFromBroker};
use crate::group_consumer::GroupConsumer;
use crate::producer::{Producer, ProducerConfig};
use crate::queue_consumer::QueueConsumer;
use crate::routing::Routing;
use crate::rpc_server::{HandlerResult, Handlers};

/// How a [`Client`] connects.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Name the client gives in its Hello.
    pub client_name: String,
    /// Credentials for the broker's authentication hook (empty when it has none).
    pub auth: Vec<u8>,
    /// Longest wait for TCP connect plus handshake.
    pub connect_timeout: Duration,
    /// Attempts to reconnect after a lost connection before an operation fails.
    pub reconnect_attempts: u32,
    /// First wait between reconnect attempts; doubles up to `max_backoff`.
    pub initial_backoff: Duration,
    /// Longest wait between reconnect attempts.
    pub max_backoff: Duration,
    /// How often an idle connection pings the broker (keeping it under the broker's idle
    /// timeout); zero sends no pings.
    pub heartbeat: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            client_name: "neo-client".to_string(),
            auth: Vec::new(),
            connect_timeout: Duration::from_secs(5),
            reconnect_attempts: 20,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
            heartbeat: Duration::from_secs(30),
        }
    }
}

/// A connection to a Neo broker's native listener; clone it freely (clones share the
/// connection). Requests are pipelined over the one connection.
///
/// ```no_run
/// # async fn demo() -> Result<(), neo_client::ClientError> {
/// let client = neo_client::Client::connect("127.0.0.1:7070").await?;
/// client.create_topic("events", 1).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    addr: String,
    options: ClientOptions,
    handlers: Arc<Handlers>,
    /// The live connection, read without waiting by every request.
    live: parking_lot::RwLock<Option<Arc<Connection>>>,
    /// Held while reconnecting, so that one task reconnects and the others wait for it.
    reconnecting: tokio::sync::Mutex<()>,
    /// Whether a task keeps the connection up for the RPC handlers this client serves.
    keeper_started: AtomicBool,
    /// Set by [`Client::close`]: the keeper stops reconnecting.
    closed_by_user: AtomicBool,
    /// Brokers and partition leaders, and the connections to the other brokers.
    routing: Routing,
}

/// The brokers of a cluster as native clients reach them, and where partitions are led.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterMetadata {
    /// Every broker with a native listener, by id.
    pub brokers: Vec<BrokerInfo>,
    /// The leaders of each topic's partitions.
    pub topics: Vec<TopicLeaders>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(connection) = self.live.get_mut().take() {
            connection.close();
        }
    }
}

impl Client {
    /// Connects to `addr` (`host:port`) with default options.
    pub async fn connect(addr: &str) -> Result<Client, ClientError> {
        Client::connect_with(addr, ClientOptions::default()).await
    }

    /// Connects to `addr` with `options`.
    pub async fn connect_with(addr: &str, options: ClientOptions) -> Result<Client, ClientError> {
        let handlers = Arc::new(Handlers::default());
        let connection = Connection::open(
            addr,
            &options.client_name,
            &options.auth,
            Arc::clone(&handlers),
            options.connect_timeout,
            options.heartbeat,
        )
        .await?;
        Ok(Client {
            inner: Arc::new(Inner {
                addr: addr.to_string(),
                options,
                handlers,
                live: parking_lot::RwLock::new(Some(connection)),
                reconnecting: tokio::sync::Mutex::new(()),
                keeper_started: AtomicBool::new(false),
                closed_by_user: AtomicBool::new(false),
                routing: Routing::default(),
            }),
        })
    }

    /// The live connection, reconnecting (with backoff) when it was lost; services this
    /// client serves are registered again on the new connection.
    pub(crate) async fn connection(&self) -> Result<Arc<Connection>, ClientError> {
        if let Some(connection) = self.live_connection() {
            return Ok(connection);
        }
        let _reconnecting = self.inner.reconnecting.lock().await;
        // Another task may have reconnected while this one waited.
        if let Some(connection) = self.live_connection() {
            return Ok(connection);
        }
        let options = &self.inner.options;
        let mut backoff = options.initial_backoff;
        let mut last_error = ClientError::Closed;
        for attempt in 0..=options.reconnect_attempts {
            if attempt > 0 {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(options.max_backoff);
            }
            match self.open_and_register().await {
                Ok(connection) => {
                    tracing::info!(addr = self.inner.addr, attempt, "reconnected");
                    *self.inner.live.write() = Some(Arc::clone(&connection));
                    return Ok(connection);
                }
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    /// The current connection if it is still open.
    fn live_connection(&self) -> Option<Arc<Connection>> {
        self.inner
            .live
            .read()
            .as_ref()
            .filter(|c| !c.is_closed())
            .cloned()
    }

    async fn open_and_register(&self) -> Result<Arc<Connection>, ClientError> {
        let options = &self.inner.options;
        let connection = Connection::open(
            &self.inner.addr,
            &options.client_name,
            &options.auth,
            Arc::clone(&self.inner.handlers),
            options.connect_timeout,
            options.heartbeat,
        )
        .await?;
        for (service, methods) in self.inner.handlers.registrations() {
            connection
                .request(Message::Register { service, methods })
                .await?;
        }
        Ok(connection)
    }

    async fn request(&self, message: Message) -> Result<Message, ClientError> {
        self.connection().await?.request(message).await
    }

    /// The connection to the broker leading `topic`/`partition` as last learnt (asking
    /// Metadata when nothing is known of it); the bootstrap broker's when no leader is known,
    /// which answers NotLeader then.
    pub(crate) async fn leader_connection(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<Arc<Connection>, ClientError> {
        let routing = &self.inner.routing;
        let address = match routing.leader_address(topic, partition) {
            Some(address) => Some(address),
            None => {
                self.refresh_metadata().await;
                routing.leader_address(topic, partition)
            }
        };
        match address {
            Some(address) if address != self.inner.addr => {
                self.peer(&address).await?.connection().await
            }
            _ => self.connection().await,
        }
    }

    /// The client of the broker at `address`, connecting it the first time: one attempt per
    /// request, as a broker gone is found in the metadata rather than waited for.
    async fn peer(&self, address: &str) -> Result<Client, ClientError> {
        let routing = &self.inner.routing;
        if let Some(peer) = routing.peer(address) {
            return Ok(peer);
        }
        let options = ClientOptions {
            reconnect_attempts: 0,
            ..self.inner.options.clone()
        };
        let peer = Client::connect_with(address, options).await?;
        Ok(routing.keep_peer(address, peer))
    }

    /// Learns the brokers and partition leaders again (at most every few tens of
    /// milliseconds, however many requests ask), from the bootstrap broker or, when it is
    /// unreachable, any other known one. Failures leave what was known.
    pub(crate) async fn refresh_metadata(&self) {
        let routing = &self.inner.routing;
        let Some(mut turn) = routing.refresh_turn().await else {
            return;
        };
        match self.ask_metadata().await {
            Ok(metadata) => routing.learn(metadata.brokers, metadata.topics),
            Err(e) => tracing::debug!(error = %e, "metadata refresh failed"),
        }
        *turn = Some(tokio::time::Instant::now());
    }

    async fn ask_metadata(&self) -> Result<ClusterMetadata, ClientError> {
        let ask = |connection: Arc<Connection>| async move {
            let request = Message::Metadata { topics: Vec::new() };
            match connection.request(request).await? {
                Message::ClusterMetadata { brokers, topics } => {
                    Ok(ClusterMetadata { brokers, topics })
                }
                other => Err(unexpected(&other)),
            }
        };
        if let Some(connection) = self.live_connection()
            && let Ok(metadata) = ask(connection).await
        {
            return Ok(metadata);
        }
        for address in self.inner.routing.addresses() {
            if address == self.inner.addr {
                continue;
            }
            if let Ok(peer) = self.peer(&address).await
                && let Ok(connection) = peer.connection().await
                && let Ok(metadata) = ask(connection).await
            {
                return Ok(metadata);
            }
        }
        ask(self.connection().await?).await
    }

    /// The brokers of the cluster and the leader of every partition, as the broker knows.
    pub async fn metadata(&self) -> Result<ClusterMetadata, ClientError> {
        let metadata = self.ask_metadata().await?;
        self.inner
            .routing
            .learn(metadata.brokers.clone(), metadata.topics.clone());
        Ok(metadata)
    }

    /// A producer id for idempotent produce, and its epoch.
    pub(crate) async fn init_producer(&self) -> Result<(i64, i16), ClientError> {
        match self.request(Message::InitProducer).await? {
            Message::ProducerId { producer_id, epoch } => Ok((producer_id, epoch)),
            other => Err(unexpected(&other)),
        }
    }

    /// Round trip to the broker (a heartbeat).
    pub async fn ping(&self) -> Result<(), ClientError> {
        expect_ok(self.request(Message::Ping).await?, |m| {
            matches!(m, Message::Pong)
        })
    }

    /// Creates a topic with `partitions` partitions (-1: the broker's default).
    pub async fn create_topic(&self, name: &str, partitions: i32) -> Result<(), ClientError> {
        let request = Message::CreateTopic {
            name: name.to_string(),
            partitions,
        };
        expect_ok(self.request(request).await?, |m| matches!(m, Message::Ok))
    }

    /// Deletes a topic and its data.
    pub async fn delete_topic(&self, name: &str) -> Result<(), ClientError> {
        let request = Message::DeleteTopic {
            name: name.to_string(),
        };
        expect_ok(self.request(request).await?, |m| matches!(m, Message::Ok))
    }

    /// Every topic with its partition count.
    pub async fn list_topics(&self) -> Result<Vec<TopicInfo>, ClientError> {
        match self.request(Message::ListTopics).await? {
            Message::Topics { topics } => Ok(topics),
            other => Err(unexpected(&other)),
        }
    }

    /// A topic's partitions with their log start and high watermark.
    pub async fn describe_topic(&self, name: &str) -> Result<Vec<PartitionInfo>, ClientError> {
        let request = Message::DescribeTopic {
            name: name.to_string(),
        };
        match self.request(request).await? {
            Message::TopicDescription { partitions, .. } => Ok(partitions),
            other => Err(unexpected(&other)),
        }
    }

    /// Every consumer group the broker knows, Kafka clients' included.
    pub async fn list_groups(&self) -> Result<Vec<GroupInfo>, ClientError> {
        match self.request(Message::ListGroups).await? {
            Message::Groups { groups } => Ok(groups),
            other => Err(unexpected(&other)),
        }
    }

    /// Commits `offset` (the next offset to read) for `group`, shared with Kafka clients of
    /// the same group. Allowed while the group has no live Kafka members.
    pub async fn commit_offset(
        &self,
        group: &str,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> Result<(), ClientError> {
        let request = Message::CommitOffset {
            group: group.to_string(),
            topic: topic.to_string(),
            partition,
            offset,
        };
        expect_ok(self.request(request).await?, |m| matches!(m, Message::Ok))
    }

    /// The group's committed offset of a partition, if any.
    pub async fn committed_offset(
        &self,
        group: &str,
        topic: &str,
        partition: i32,
    ) -> Result<Option<i64>, ClientError> {
        let request = Message::FetchCommitted {
            group: group.to_string(),
            topic: topic.to_string(),
            partition,
        };
        match self.request(request).await? {
            Message::Committed { offset } => Ok((offset >= 0).then_some(offset)),
            other => Err(unexpected(&other)),
        }
    }

    /// A producer with batching; see [`ProducerConfig`].
    pub fn producer(&self, config: ProducerConfig) -> Producer {
        Producer::start(self.clone(), config)
    }

    /// A push consumer of one partition from `start`: a `Stream` of records that resumes
    /// after the last delivered record when the connection is re-established.
    pub async fn subscribe(
        &self,
        topic: &str,
        partition: i32,
        start: StartAt,
    ) -> Result<Consumer, ClientError> {
        Consumer::start(self.clone(), topic, partition, start).await
    }

    /// A member of consumer group `group` reading `topic`: the broker assigns it partitions
    /// (sharing the group, its rebalances and committed offsets with Kafka clients) and
    /// pushes their records from the committed offsets.
    pub async fn group_consumer(
        &self,
        group: &str,
        topic: &str,
    ) -> Result<GroupConsumer, ClientError> {
        GroupConsumer::start(self, group, topic).await
    }

    /// A consumer of a queue: records are held (for `lock`) until acked or nacked, at most
    /// `prefetch` at a time.
    pub async fn queue_consumer(
        &self,
        queue: &str,
        prefetch: u32,
        lock: Duration,
    ) -> Result<QueueConsumer, ClientError> {
        QueueConsumer::start(self.clone(), queue, prefetch, lock).await
    }

    /// Serves `service/method` with `handler` from this client; the broker routes calls to
    /// it. Stays registered across reconnects.
    pub async fn serve<F, Fut>(
        &self,
        service: &str,
        method: &str,
        handler: F,
    ) -> Result<(), ClientError>
    where
        F: Fn(Bytes) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        self.inner.handlers.insert(service, method, handler);
        let request = Message::Register {
            service: service.to_string(),
            methods: vec![method.to_string()],
        };
        expect_ok(self.request(request).await?, |m| matches!(m, Message::Ok))?;
        if !self.inner.keeper_started.swap(true, Ordering::AcqRel) {
            tokio::spawn(keep_connected(Arc::downgrade(&self.inner)));
        }
        Ok(())
    }

    /// Calls `service/method` on one live instance through the broker.
    pub async fn call(
        &self,
        service: &str,
        method: &str,
        payload: Bytes,
        timeout: Duration,
    ) -> Result<Bytes, RpcError> {
        let request = Message::Call {
            service: service.to_string(),
            method: method.to_string(),
            timeout_ms: u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX),
            payload,
        };
        // The broker enforces `timeout`; the margin covers the trip back.
        let answer = tokio::time::timeout(timeout + Duration::from_secs(1), self.request(request))
            .await
            .map_err(|_| RpcError::Timeout)?;
        match answer {
            Ok(Message::Reply { payload }) => Ok(payload),
            Ok(other) => Err(RpcError::Client(unexpected(&other))),
            Err(e) => Err(RpcErrorFromBroker(e).into()),
        }
    }

    /// The registered services, their live instance counts and methods.
    pub async fn list_services(&self) -> Result<Vec<ServiceInfo>, ClientError> {
        match self.request(Message::ListServices).await? {
            Message::Services { services } => Ok(services),
            other => Err(unexpected(&other)),
        }
    }

    /// Closes the connection now (it also closes when the last clone is dropped).
    pub async fn close(&self) {
        self.inner.closed_by_user.store(true, Ordering::Release);
        let taken = self.inner.live.write().take();
        if let Some(connection) = taken {
            connection.close();
        }
        for peer in self.inner.routing.close() {
            Box::pin(peer.close()).await;
        }
    }
}

/// Keeps a serving client connected: when its connection closes, reconnects (registering
/// the handlers again) without waiting for a request. Ends with the client or its `close`.
async fn keep_connected(inner: Weak<Inner>) {
    loop {
        let connection = {
            let Some(inner) = inner.upgrade() else {
                return;
            };
            if inner.closed_by_user.load(Ordering::Acquire) {
                return;
            }
            let client = Client { inner };
            client.connection().await
        };
        match connection {
            Ok(connection) => connection.wait_closed().await,
            Err(e) => {
                tracing::warn!(error = %e, "reconnecting a serving client failed; trying again");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    }
}

fn expect_ok(answer: Message, ok: impl Fn(&Message) -> bool) -> Result<(), ClientError> {
    if ok(&answer) {
        Ok(())
    } else {
        Err(unexpected(&answer))
    }
}

pub(crate) fn unexpected(message: &Message) -> ClientError {
    ClientError::Protocol(format!("unexpected answer {:?}", message.kind()))
}
