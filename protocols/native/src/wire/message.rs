//! Every message of the protocol, typed (bodies: `encode.rs`, `decode.rs`, PROTOCOL.md).

use bytes::{Bytes, BytesMut};

use super::error_code::ErrorCode;
use super::frame::{FrameHeader, PROTOCOL_VERSION, encode_frame};

/// Message kinds: a wire contract like the error codes (never reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    /// C→S: opens a connection (versions spoken, client name, credentials).
    Hello = 0x01,
    /// S→C: the handshake answer (version chosen, limits).
    Welcome = 0x02,
    /// S→C: a request failed (or, with correlation id 0, the connection is closing).
    Error = 0x03,
    /// C→S: a round trip, also a heartbeat.
    Ping = 0x04,
    /// S→C: the answer to Ping.
    Pong = 0x05,
    /// S→C: a request without a result succeeded.
    Ok = 0x06,
    /// C→S: record batches to append to a partition.
    Produce = 0x10,
    /// S→C: where a produce landed.
    Produced = 0x11,
    /// C→S: asks for a producer id (idempotent produce).
    InitProducer = 0x12,
    /// S→C: a producer id never handed out before, and its epoch.
    ProducerId = 0x13,
    /// C→S: push a partition's records from a start position.
    Subscribe = 0x20,
    /// S→C: a subscription started (at this offset).
    Subscribed = 0x21,
    /// S→C: pushed record batches of a subscription.
    Records = 0x22,
    /// C→S: more bytes a subscription may push (no answer).
    Credit = 0x23,
    /// C→S: ends a subscription.
    Unsubscribe = 0x24,
    /// C→S: commits a group's offset outside any generation.
    CommitOffset = 0x25,
    /// C→S: asks for a group's committed offset.
    FetchCommitted = 0x26,
    /// S→C: a group's committed offset.
    Committed = 0x27,
    /// C→S: join a consumer group and push its assigned partitions.
    GroupSubscribe = 0x28,
    /// S→C: the partitions a group member was assigned.
    Assigned = 0x29,
    /// C→S: commits an offset in the member's generation.
    GroupCommit = 0x2a,
    /// C→S: push a queue's records under a lock.
    QueueSubscribe = 0x30,
    /// S→C: pushed queue records.
    QueueRecords = 0x31,
    /// C→S: settles held queue records.
    Ack = 0x32,
    /// C→S: gives held queue records back (requeued or archived).
    Nack = 0x33,
    /// C→S: moves the lock of held queue records.
    Extend = 0x34,
    /// C→S: creates a topic.
    CreateTopic = 0x40,
    /// C→S: deletes a topic.
    DeleteTopic = 0x41,
    /// C→S: asks for every topic.
    ListTopics = 0x42,
    /// S→C: every topic.
    Topics = 0x43,
    /// C→S: asks for a topic's partitions.
    DescribeTopic = 0x44,
    /// S→C: a topic's partitions.
    TopicDescription = 0x45,
    /// C→S: asks for every consumer group.
    ListGroups = 0x46,
    /// S→C: every consumer group.
    Groups = 0x47,
    /// C→S: asks where topics' partitions are led and where brokers are.
    Metadata = 0x48,
    /// S→C: the brokers' native addresses and each partition's leader.
    ClusterMetadata = 0x49,
    /// C→S: serves methods of a service (RPC).
    Register = 0x50,
    /// C→S: calls a service method through the broker.
    Call = 0x51,
    /// S→C: the answer to a Call.
    Reply = 0x52,
    /// S→C: a call forwarded to a service instance.
    Invoke = 0x53,
    /// C→S: a service instance's answer to Invoke (no answer).
    InvokeReply = 0x54,
    /// C→S: asks for every registered service.
    ListServices = 0x55,
    /// S→C: every registered service.
    Services = 0x56,
}

/// Where a subscription starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// The first record still in the log.
    Earliest,
    /// Only records appended from now on.
    Latest,
    /// This offset.
    Offset(i64),
    /// The first record with a timestamp at or after this one (ms since the epoch).
    Timestamp(i64),
}

/// A topic in a topic listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    pub name: String,
    pub partitions: i32,
}

/// One partition in a topic description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    pub partition: i32,
    /// First offset still in the log.
    pub log_start: i64,
    /// End of what readers may see.
    pub high_watermark: i64,
}

/// A broker as native clients reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    pub id: i64,
    /// `host:port` of its native listener.
    pub address: String,
}

/// Where a topic's partitions are led.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicLeaders {
    pub name: String,
    /// The leading broker's id of each partition, by partition index; -1 while none leads.
    pub leaders: Vec<i64>,
}

/// A consumer group in a group listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    pub group: String,
    pub protocol_type: String,
    /// Kafka's name of the state (`Empty`, `Stable`, ...).
    pub state: String,
}

/// A record delivered from a queue, held by the consumer until acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRecord {
    pub offset: i64,
    pub timestamp: i64,
    /// Deliveries so far, this one included.
    pub deliveries: u32,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
}

/// A service registered for brokered RPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceInfo {
    pub name: String,
    /// Live instances (connections) serving it.
    pub instances: u32,
    /// Methods any instance handles, sorted.
    pub methods: Vec<String>,
}

/// One message; which side sends it is in PROTOCOL.md.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// C→S: opens a connection (versions spoken, client name, credentials).
    Hello {
        min_version: u8,
        max_version: u8,
        client: String,
        /// Credentials for the server's authentication hook (empty when none).
        auth: Bytes,
    },
    /// S→C: the handshake answer (version chosen, limits).
    Welcome {
        version: u8,
        server: String,
        max_frame: u32,
        max_in_flight: u32,
    },
    /// S→C: a request failed (or, with correlation id 0, the connection is closing).
    Error { code: ErrorCode, message: String },
    /// C→S: a round trip, also a heartbeat.
    Ping,
    /// S→C: the answer to Ping.
    Pong,
    /// S→C: a request without a result succeeded.
    Ok,
    /// C→S: record batches to append to a partition.
    Produce {
        topic: String,
        partition: i32,
        /// 0 none, 1 leader, 2 durable.
        acks: u8,
        /// One or more record batches in the log's format, appended as they are.
        records: BytesMut,
    },
    /// S→C: where a produce landed.
    Produced { base_offset: i64, last_offset: i64 },
    /// C→S: asks for a producer id (idempotent produce).
    InitProducer,
    /// S→C: a producer id never handed out before, and its epoch.
    ProducerId { producer_id: i64, epoch: i16 },
    /// C→S: push a partition's records from a start position.
    Subscribe {
        topic: String,
        partition: i32,
        start: StartAt,
        /// Bytes the server may push before it waits for more credit.
        credit: u32,
    },
    /// S→C: a subscription started (at this offset).
    Subscribed { offset: i64 },
    /// S→C: pushed record batches of a subscription.
    Records {
        partition: i32,
        high_watermark: i64,
        records: Bytes,
    },
    /// C→S: more bytes a subscription may push (no answer).
    Credit { subscription: u32, bytes: u32 },
    /// C→S: ends a subscription.
    Unsubscribe { subscription: u32 },
    /// C→S: commits a group's offset outside any generation.
    CommitOffset {
        group: String,
        topic: String,
        partition: i32,
        offset: i64,
    },
    /// C→S: asks for a group's committed offset.
    FetchCommitted {
        group: String,
        topic: String,
        partition: i32,
    },
    /// S→C: a group's committed offset.
    Committed {
        /// -1 when the group has no offset for the partition.
        offset: i64,
    },
    /// C→S: join a consumer group and push its assigned partitions.
    GroupSubscribe {
        group: String,
        topic: String,
        /// Bytes the server may push (over all assigned partitions) before it waits.
        credit: u32,
    },
    /// S→C: the partitions a group member was assigned.
    Assigned {
        generation: i32,
        /// Each assigned partition and the offset its pushes start at.
        partitions: Vec<(i32, i64)>,
    },
    /// C→S: commits an offset in the member's generation.
    GroupCommit {
        subscription: u32,
        partition: i32,
        offset: i64,
    },
    /// C→S: push a queue's records under a lock.
    QueueSubscribe {
        queue: String,
        /// Most records held unacknowledged at once.
        prefetch: u32,
        /// How long a delivered record stays held before it is delivered again.
        lock_ms: u32,
    },
    /// S→C: pushed queue records.
    QueueRecords { records: Vec<QueueRecord> },
    /// C→S: settles held queue records.
    Ack {
        subscription: u32,
        offsets: Vec<i64>,
    },
    /// C→S: gives held queue records back (requeued or archived).
    Nack {
        subscription: u32,
        offsets: Vec<i64>,
        requeue: bool,
    },
    /// C→S: moves the lock of held queue records.
    Extend {
        subscription: u32,
        offsets: Vec<i64>,
        /// The new lock, from now.
        lock_ms: u32,
    },
    /// C→S: creates a topic.
    CreateTopic { name: String, partitions: i32 },
    /// C→S: deletes a topic.
    DeleteTopic { name: String },
    /// C→S: asks for every topic.
    ListTopics,
    /// S→C: every topic.
    Topics { topics: Vec<TopicInfo> },
    /// C→S: asks for a topic's partitions.
    DescribeTopic { name: String },
    /// S→C: a topic's partitions.
    TopicDescription {
        name: String,
        partitions: Vec<PartitionInfo>,
    },
    /// C→S: asks for every consumer group.
    ListGroups,
    /// S→C: every consumer group.
    Groups { groups: Vec<GroupInfo> },
    /// C→S: asks where topics' partitions are led (every topic when `topics` is empty) and
    /// where brokers are.
    Metadata { topics: Vec<String> },
    /// S→C: the brokers' native addresses and each partition's leader.
    ClusterMetadata {
        brokers: Vec<BrokerInfo>,
        topics: Vec<TopicLeaders>,
    },
    /// C→S: serves methods of a service (RPC).
    Register {
        service: String,
        methods: Vec<String>,
    },
    /// C→S: calls a service method through the broker.
    Call {
        service: String,
        method: String,
        timeout_ms: u32,
        payload: Bytes,
    },
    /// S→C: the answer to a Call.
    Reply { payload: Bytes },
    /// S→C: a call forwarded to a service instance.
    Invoke {
        service: String,
        method: String,
        payload: Bytes,
    },
    /// C→S: a service instance's answer to Invoke (no answer).
    InvokeReply {
        /// False when the handler failed: `payload` is then its UTF-8 message.
        ok: bool,
        payload: Bytes,
    },
    /// C→S: asks for every registered service.
    ListServices,
    /// S→C: every registered service.
    Services { services: Vec<ServiceInfo> },
}

/// The acknowledgement level byte of Produce, checked.
pub fn ack_level_from_u8(acks: u8) -> Option<u8> {
    (acks <= 2).then_some(acks)
}

impl Message {
    /// The kind written in the frame header.
    pub fn kind(&self) -> Kind {
        match self {
            Message::Hello { .. } => Kind::Hello,
            Message::Welcome { .. } => Kind::Welcome,
            Message::Error { .. } => Kind::Error,
            Message::Ping => Kind::Ping,
            Message::Pong => Kind::Pong,
            Message::Ok => Kind::Ok,
            Message::Produce { .. } => Kind::Produce,
            Message::Produced { .. } => Kind::Produced,
            Message::InitProducer => Kind::InitProducer,
            Message::ProducerId { .. } => Kind::ProducerId,
            Message::Subscribe { .. } => Kind::Subscribe,
            Message::Subscribed { .. } => Kind::Subscribed,
            Message::Records { .. } => Kind::Records,
            Message::Credit { .. } => Kind::Credit,
            Message::Unsubscribe { .. } => Kind::Unsubscribe,
            Message::CommitOffset { .. } => Kind::CommitOffset,
            Message::FetchCommitted { .. } => Kind::FetchCommitted,
            Message::Committed { .. } => Kind::Committed,
            Message::GroupSubscribe { .. } => Kind::GroupSubscribe,
            Message::Assigned { .. } => Kind::Assigned,
            Message::GroupCommit { .. } => Kind::GroupCommit,
            Message::QueueSubscribe { .. } => Kind::QueueSubscribe,
            Message::QueueRecords { .. } => Kind::QueueRecords,
            Message::Ack { .. } => Kind::Ack,
            Message::Nack { .. } => Kind::Nack,
            Message::Extend { .. } => Kind::Extend,
            Message::DescribeTopic { .. } => Kind::DescribeTopic,
            Message::TopicDescription { .. } => Kind::TopicDescription,
            Message::ListGroups => Kind::ListGroups,
            Message::Groups { .. } => Kind::Groups,
            Message::Metadata { .. } => Kind::Metadata,
            Message::ClusterMetadata { .. } => Kind::ClusterMetadata,
            Message::CreateTopic { .. } => Kind::CreateTopic,
            Message::DeleteTopic { .. } => Kind::DeleteTopic,
            Message::ListTopics => Kind::ListTopics,
            Message::Topics { .. } => Kind::Topics,
            Message::Register { .. } => Kind::Register,
            Message::Call { .. } => Kind::Call,
            Message::Reply { .. } => Kind::Reply,
            Message::Invoke { .. } => Kind::Invoke,
            Message::InvokeReply { .. } => Kind::InvokeReply,
            Message::ListServices => Kind::ListServices,
            Message::Services { .. } => Kind::Services,
        }
    }

    /// Appends this message as one frame with `correlation`.
    pub fn encode(&self, correlation: u32, out: &mut BytesMut) {
        let header = FrameHeader {
            version: PROTOCOL_VERSION,
            kind: self.kind() as u8,
            flags: 0,
            correlation,
        };
        encode_frame(out, header, |b| self.write_body(b));
    }

    /// This message as one frame.
    pub fn to_frame(&self, correlation: u32) -> Bytes {
        let mut out = BytesMut::new();
        self.encode(correlation, &mut out);
        out.freeze()
    }
}
