//! Every message of the protocol, typed (bodies: `encode.rs`, `decode.rs`, PROTOCOL.md).

use bytes::{Bytes, BytesMut};

use super::error_code::ErrorCode;
use super::frame::{FrameHeader, PROTOCOL_VERSION, encode_frame};

/// Message kinds: a wire contract like the error codes (never reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    Hello = 0x01,
    Welcome = 0x02,
    Error = 0x03,
    Ping = 0x04,
    Pong = 0x05,
    Ok = 0x06,
    Produce = 0x10,
    Produced = 0x11,
    Subscribe = 0x20,
    Subscribed = 0x21,
    Records = 0x22,
    Credit = 0x23,
    Unsubscribe = 0x24,
    CommitOffset = 0x25,
    FetchCommitted = 0x26,
    Committed = 0x27,
    GroupSubscribe = 0x28,
    Assigned = 0x29,
    GroupCommit = 0x2a,
    QueueSubscribe = 0x30,
    QueueRecords = 0x31,
    Ack = 0x32,
    Nack = 0x33,
    Extend = 0x34,
    CreateTopic = 0x40,
    DeleteTopic = 0x41,
    ListTopics = 0x42,
    Topics = 0x43,
    DescribeTopic = 0x44,
    TopicDescription = 0x45,
    ListGroups = 0x46,
    Groups = 0x47,
    Register = 0x50,
    Call = 0x51,
    Reply = 0x52,
    Invoke = 0x53,
    InvokeReply = 0x54,
    ListServices = 0x55,
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
    Hello {
        min_version: u8,
        max_version: u8,
        client: String,
        /// Credentials for the server's authentication hook (empty when none).
        auth: Bytes,
    },
    Welcome {
        version: u8,
        server: String,
        max_frame: u32,
        max_in_flight: u32,
    },
    Error {
        code: ErrorCode,
        message: String,
    },
    Ping,
    Pong,
    Ok,
    Produce {
        topic: String,
        partition: i32,
        /// 0 none, 1 leader, 2 durable.
        acks: u8,
        /// One or more record batches in the log's format, appended as they are.
        records: BytesMut,
    },
    Produced {
        base_offset: i64,
        last_offset: i64,
    },
    Subscribe {
        topic: String,
        partition: i32,
        start: StartAt,
        /// Bytes the server may push before it waits for more credit.
        credit: u32,
    },
    Subscribed {
        offset: i64,
    },
    Records {
        partition: i32,
        high_watermark: i64,
        records: Bytes,
    },
    Credit {
        subscription: u32,
        bytes: u32,
    },
    Unsubscribe {
        subscription: u32,
    },
    CommitOffset {
        group: String,
        topic: String,
        partition: i32,
        offset: i64,
    },
    FetchCommitted {
        group: String,
        topic: String,
        partition: i32,
    },
    Committed {
        /// -1 when the group has no offset for the partition.
        offset: i64,
    },
    GroupSubscribe {
        group: String,
        topic: String,
        /// Bytes the server may push (over all assigned partitions) before it waits.
        credit: u32,
    },
    Assigned {
        generation: i32,
        /// Each assigned partition and the offset its pushes start at.
        partitions: Vec<(i32, i64)>,
    },
    GroupCommit {
        subscription: u32,
        partition: i32,
        offset: i64,
    },
    QueueSubscribe {
        queue: String,
        /// Most records held unacknowledged at once.
        prefetch: u32,
        /// How long a delivered record stays held before it is delivered again.
        lock_ms: u32,
    },
    QueueRecords {
        records: Vec<QueueRecord>,
    },
    Ack {
        subscription: u32,
        offsets: Vec<i64>,
    },
    Nack {
        subscription: u32,
        offsets: Vec<i64>,
        requeue: bool,
    },
    Extend {
        subscription: u32,
        offsets: Vec<i64>,
        /// The new lock, from now.
        lock_ms: u32,
    },
    CreateTopic {
        name: String,
        partitions: i32,
    },
    DeleteTopic {
        name: String,
    },
    ListTopics,
    Topics {
        topics: Vec<TopicInfo>,
    },
    DescribeTopic {
        name: String,
    },
    TopicDescription {
        name: String,
        partitions: Vec<PartitionInfo>,
    },
    ListGroups,
    Groups {
        groups: Vec<GroupInfo>,
    },
    Register {
        service: String,
        methods: Vec<String>,
    },
    Call {
        service: String,
        method: String,
        timeout_ms: u32,
        payload: Bytes,
    },
    Reply {
        payload: Bytes,
    },
    Invoke {
        service: String,
        method: String,
        payload: Bytes,
    },
    InvokeReply {
        /// False when the handler failed: `payload` is then its UTF-8 message.
        ok: bool,
        payload: Bytes,
    },
    ListServices,
    Services {
        services: Vec<ServiceInfo>,
    },
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
