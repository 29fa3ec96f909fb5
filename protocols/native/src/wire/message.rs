//! Every message of the protocol, typed, with its body encoding (see PROTOCOL.md).

use bytes::{BufMut, Bytes, BytesMut};

use super::body::{BodyError, BodyReader, BodyWriter};
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

    fn write_body(&self, b: &mut BytesMut) {
        match self {
            Message::Hello {
                min_version,
                max_version,
                client,
                auth,
            } => {
                b.put_u8(*min_version);
                b.put_u8(*max_version);
                b.string(client);
                b.bytes(auth);
            }
            Message::Welcome {
                version,
                server,
                max_frame,
                max_in_flight,
            } => {
                b.put_u8(*version);
                b.string(server);
                b.put_u32(*max_frame);
                b.put_u32(*max_in_flight);
            }
            Message::Error { code, message } => {
                b.put_u16(code.as_u16());
                b.string(message);
            }
            Message::Ping | Message::Pong | Message::Ok | Message::ListTopics => {}
            Message::ListServices | Message::ListGroups => {}
            Message::Extend {
                subscription,
                offsets,
                lock_ms,
            } => {
                b.put_u32(*subscription);
                put_offsets(b, offsets);
                b.put_u32(*lock_ms);
            }
            Message::DescribeTopic { name } => b.string(name),
            Message::TopicDescription { name, partitions } => {
                b.string(name);
                b.put_u32(partitions.len() as u32);
                for p in partitions {
                    b.put_i32(p.partition);
                    b.put_i64(p.log_start);
                    b.put_i64(p.high_watermark);
                }
            }
            Message::Groups { groups } => {
                b.put_u32(groups.len() as u32);
                for g in groups {
                    b.string(&g.group);
                    b.string(&g.protocol_type);
                    b.string(&g.state);
                }
            }
            Message::Produce {
                topic,
                partition,
                acks,
                records,
            } => {
                b.string(topic);
                b.put_i32(*partition);
                b.put_u8(*acks);
                b.put_slice(records);
            }
            Message::Produced {
                base_offset,
                last_offset,
            } => {
                b.put_i64(*base_offset);
                b.put_i64(*last_offset);
            }
            Message::Subscribe {
                topic,
                partition,
                start,
                credit,
            } => {
                b.string(topic);
                b.put_i32(*partition);
                let (tag, value) = match start {
                    StartAt::Earliest => (0, 0),
                    StartAt::Latest => (1, 0),
                    StartAt::Offset(o) => (2, *o),
                    StartAt::Timestamp(t) => (3, *t),
                };
                b.put_u8(tag);
                b.put_i64(value);
                b.put_u32(*credit);
            }
            Message::Subscribed { offset } => b.put_i64(*offset),
            Message::Records {
                partition,
                high_watermark,
                records,
            } => {
                b.put_i32(*partition);
                b.put_i64(*high_watermark);
                b.put_slice(records);
            }
            Message::Credit {
                subscription,
                bytes,
            } => {
                b.put_u32(*subscription);
                b.put_u32(*bytes);
            }
            Message::Unsubscribe { subscription } => b.put_u32(*subscription),
            Message::CommitOffset {
                group,
                topic,
                partition,
                offset,
            } => {
                b.string(group);
                b.string(topic);
                b.put_i32(*partition);
                b.put_i64(*offset);
            }
            Message::FetchCommitted {
                group,
                topic,
                partition,
            } => {
                b.string(group);
                b.string(topic);
                b.put_i32(*partition);
            }
            Message::Committed { offset } => b.put_i64(*offset),
            Message::GroupSubscribe {
                group,
                topic,
                credit,
            } => {
                b.string(group);
                b.string(topic);
                b.put_u32(*credit);
            }
            Message::Assigned {
                generation,
                partitions,
            } => {
                b.put_i32(*generation);
                b.put_u32(partitions.len() as u32);
                for (partition, offset) in partitions {
                    b.put_i32(*partition);
                    b.put_i64(*offset);
                }
            }
            Message::GroupCommit {
                subscription,
                partition,
                offset,
            } => {
                b.put_u32(*subscription);
                b.put_i32(*partition);
                b.put_i64(*offset);
            }
            Message::QueueSubscribe {
                queue,
                prefetch,
                lock_ms,
            } => {
                b.string(queue);
                b.put_u32(*prefetch);
                b.put_u32(*lock_ms);
            }
            Message::QueueRecords { records } => {
                b.put_u32(records.len() as u32);
                for r in records {
                    b.put_i64(r.offset);
                    b.put_i64(r.timestamp);
                    b.put_u32(r.deliveries);
                    b.optional_bytes(r.key.as_deref());
                    b.optional_bytes(r.value.as_deref());
                }
            }
            Message::Ack {
                subscription,
                offsets,
            } => {
                b.put_u32(*subscription);
                put_offsets(b, offsets);
            }
            Message::Nack {
                subscription,
                offsets,
                requeue,
            } => {
                b.put_u32(*subscription);
                put_offsets(b, offsets);
                b.bool(*requeue);
            }
            Message::CreateTopic { name, partitions } => {
                b.string(name);
                b.put_i32(*partitions);
            }
            Message::DeleteTopic { name } => b.string(name),
            Message::Topics { topics } => {
                b.put_u32(topics.len() as u32);
                for t in topics {
                    b.string(&t.name);
                    b.put_i32(t.partitions);
                }
            }
            Message::Register { service, methods } => {
                b.string(service);
                b.put_u32(methods.len() as u32);
                for m in methods {
                    b.string(m);
                }
            }
            Message::Call {
                service,
                method,
                timeout_ms,
                payload,
            } => {
                b.string(service);
                b.string(method);
                b.put_u32(*timeout_ms);
                b.put_slice(payload);
            }
            Message::Reply { payload } => b.put_slice(payload),
            Message::Invoke {
                service,
                method,
                payload,
            } => {
                b.string(service);
                b.string(method);
                b.put_slice(payload);
            }
            Message::InvokeReply { ok, payload } => {
                b.bool(*ok);
                b.put_slice(payload);
            }
            Message::Services { services } => {
                b.put_u32(services.len() as u32);
                for s in services {
                    b.string(&s.name);
                    b.put_u32(s.instances);
                    b.put_u32(s.methods.len() as u32);
                    for m in &s.methods {
                        b.string(m);
                    }
                }
            }
        }
    }

    /// Decodes the body of a frame of kind `kind`.
    pub fn decode(kind: u8, body: BytesMut) -> Result<Message, BodyError> {
        let mut r = BodyReader::new(body);
        let message = match kind {
            0x01 => Message::Hello {
                min_version: r.u8("min_version")?,
                max_version: r.u8("max_version")?,
                client: r.string("client")?,
                auth: r.bytes("auth")?,
            },
            0x02 => Message::Welcome {
                version: r.u8("version")?,
                server: r.string("server")?,
                max_frame: r.u32("max_frame")?,
                max_in_flight: r.u32("max_in_flight")?,
            },
            0x03 => Message::Error {
                code: ErrorCode::from_u16(r.u16("code")?),
                message: r.string("message")?,
            },
            0x04 => Message::Ping,
            0x05 => Message::Pong,
            0x06 => Message::Ok,
            0x10 => Message::Produce {
                topic: r.string("topic")?,
                partition: r.i32("partition")?,
                acks: {
                    let acks = r.u8("acks")?;
                    ack_level_from_u8(acks).ok_or(BodyError::InvalidValue {
                        field: "acks",
                        value: i64::from(acks),
                    })?
                },
                records: r.rest(),
            },
            0x11 => Message::Produced {
                base_offset: r.i64("base_offset")?,
                last_offset: r.i64("last_offset")?,
            },
            0x20 => Message::Subscribe {
                topic: r.string("topic")?,
                partition: r.i32("partition")?,
                start: {
                    let tag = r.u8("start")?;
                    let value = r.i64("start_value")?;
                    match tag {
                        0 => StartAt::Earliest,
                        1 => StartAt::Latest,
                        2 => StartAt::Offset(value),
                        3 => StartAt::Timestamp(value),
                        _ => {
                            return Err(BodyError::InvalidValue {
                                field: "start",
                                value: i64::from(tag),
                            });
                        }
                    }
                },
                credit: r.u32("credit")?,
            },
            0x21 => Message::Subscribed {
                offset: r.i64("offset")?,
            },
            0x22 => Message::Records {
                partition: r.i32("partition")?,
                high_watermark: r.i64("high_watermark")?,
                records: r.rest().freeze(),
            },
            0x23 => Message::Credit {
                subscription: r.u32("subscription")?,
                bytes: r.u32("bytes")?,
            },
            0x24 => Message::Unsubscribe {
                subscription: r.u32("subscription")?,
            },
            0x25 => Message::CommitOffset {
                group: r.string("group")?,
                topic: r.string("topic")?,
                partition: r.i32("partition")?,
                offset: r.i64("offset")?,
            },
            0x26 => Message::FetchCommitted {
                group: r.string("group")?,
                topic: r.string("topic")?,
                partition: r.i32("partition")?,
            },
            0x27 => Message::Committed {
                offset: r.i64("offset")?,
            },
            0x28 => Message::GroupSubscribe {
                group: r.string("group")?,
                topic: r.string("topic")?,
                credit: r.u32("credit")?,
            },
            0x29 => {
                let generation = r.i32("generation")?;
                let n = r.count("partitions", 12)?;
                let mut partitions = Vec::with_capacity(n);
                for _ in 0..n {
                    partitions.push((r.i32("partition")?, r.i64("offset")?));
                }
                Message::Assigned {
                    generation,
                    partitions,
                }
            }
            0x2a => Message::GroupCommit {
                subscription: r.u32("subscription")?,
                partition: r.i32("partition")?,
                offset: r.i64("offset")?,
            },
            0x30 => Message::QueueSubscribe {
                queue: r.string("queue")?,
                prefetch: r.u32("prefetch")?,
                lock_ms: r.u32("lock_ms")?,
            },
            0x31 => {
                let n = r.count("records", 22)?;
                let mut records = Vec::with_capacity(n);
                for _ in 0..n {
                    records.push(QueueRecord {
                        offset: r.i64("offset")?,
                        timestamp: r.i64("timestamp")?,
                        deliveries: r.u32("deliveries")?,
                        key: r.optional_bytes("key")?,
                        value: r.optional_bytes("value")?,
                    });
                }
                Message::QueueRecords { records }
            }
            0x32 => Message::Ack {
                subscription: r.u32("subscription")?,
                offsets: read_offsets(&mut r)?,
            },
            0x33 => Message::Nack {
                subscription: r.u32("subscription")?,
                offsets: read_offsets(&mut r)?,
                requeue: r.bool("requeue")?,
            },
            0x34 => Message::Extend {
                subscription: r.u32("subscription")?,
                offsets: read_offsets(&mut r)?,
                lock_ms: r.u32("lock_ms")?,
            },
            0x44 => Message::DescribeTopic {
                name: r.string("name")?,
            },
            0x45 => {
                let name = r.string("name")?;
                let n = r.count("partitions", 20)?;
                let mut partitions = Vec::with_capacity(n);
                for _ in 0..n {
                    partitions.push(PartitionInfo {
                        partition: r.i32("partition")?,
                        log_start: r.i64("log_start")?,
                        high_watermark: r.i64("high_watermark")?,
                    });
                }
                Message::TopicDescription { name, partitions }
            }
            0x46 => Message::ListGroups,
            0x47 => {
                let n = r.count("groups", 6)?;
                let mut groups = Vec::with_capacity(n);
                for _ in 0..n {
                    groups.push(GroupInfo {
                        group: r.string("group")?,
                        protocol_type: r.string("protocol_type")?,
                        state: r.string("state")?,
                    });
                }
                Message::Groups { groups }
            }
            0x40 => Message::CreateTopic {
                name: r.string("name")?,
                partitions: r.i32("partitions")?,
            },
            0x41 => Message::DeleteTopic {
                name: r.string("name")?,
            },
            0x42 => Message::ListTopics,
            0x43 => {
                let n = r.count("topics", 6)?;
                let mut topics = Vec::with_capacity(n);
                for _ in 0..n {
                    topics.push(TopicInfo {
                        name: r.string("name")?,
                        partitions: r.i32("partitions")?,
                    });
                }
                Message::Topics { topics }
            }
            0x50 => Message::Register {
                service: r.string("service")?,
                methods: read_strings(&mut r, "methods")?,
            },
            0x51 => Message::Call {
                service: r.string("service")?,
                method: r.string("method")?,
                timeout_ms: r.u32("timeout_ms")?,
                payload: r.rest().freeze(),
            },
            0x52 => Message::Reply {
                payload: r.rest().freeze(),
            },
            0x53 => Message::Invoke {
                service: r.string("service")?,
                method: r.string("method")?,
                payload: r.rest().freeze(),
            },
            0x54 => Message::InvokeReply {
                ok: r.bool("ok")?,
                payload: r.rest().freeze(),
            },
            0x55 => Message::ListServices,
            0x56 => {
                let n = r.count("services", 10)?;
                let mut services = Vec::with_capacity(n);
                for _ in 0..n {
                    services.push(ServiceInfo {
                        name: r.string("name")?,
                        instances: r.u32("instances")?,
                        methods: read_strings(&mut r, "methods")?,
                    });
                }
                Message::Services { services }
            }
            other => return Err(BodyError::UnknownKind(other)),
        };
        r.finish()?;
        Ok(message)
    }
}

fn put_offsets(b: &mut BytesMut, offsets: &[i64]) {
    b.put_u32(offsets.len() as u32);
    for o in offsets {
        b.put_i64(*o);
    }
}

fn read_offsets(r: &mut BodyReader) -> Result<Vec<i64>, BodyError> {
    let n = r.count("offsets", 8)?;
    (0..n).map(|_| r.i64("offset")).collect()
}

fn read_strings(r: &mut BodyReader, field: &'static str) -> Result<Vec<String>, BodyError> {
    let n = r.count(field, 2)?;
    (0..n).map(|_| r.string(field)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::FrameDecoder;
    use tokio_util::codec::Decoder;

    fn samples() -> Vec<Message> {
        vec![
            Message::Hello {
                min_version: 1,
                max_version: 3,
                client: "test".into(),
                auth: Bytes::from_static(b"token"),
            },
            Message::Welcome {
                version: 1,
                server: "neo".into(),
                max_frame: 1 << 20,
                max_in_flight: 64,
            },
            Message::Error {
                code: ErrorCode::NoInstance,
                message: "no instance of greeter".into(),
            },
            Message::Ping,
            Message::Ok,
            Message::Produce {
                topic: "t".into(),
                partition: 3,
                acks: 2,
                records: BytesMut::from(&b"batch-bytes"[..]),
            },
            Message::Produced {
                base_offset: 10,
                last_offset: 19,
            },
            Message::Subscribe {
                topic: "t".into(),
                partition: 0,
                start: StartAt::Timestamp(1_700_000_000_000),
                credit: 65536,
            },
            Message::Records {
                partition: 1,
                high_watermark: 99,
                records: Bytes::from_static(b"xyz"),
            },
            Message::Credit {
                subscription: 7,
                bytes: 4096,
            },
            Message::CommitOffset {
                group: "g".into(),
                topic: "t".into(),
                partition: 2,
                offset: 42,
            },
            Message::GroupSubscribe {
                group: "g".into(),
                topic: "t".into(),
                credit: 1024,
            },
            Message::Assigned {
                generation: 3,
                partitions: vec![(0, 10), (2, -1)],
            },
            Message::GroupCommit {
                subscription: 9,
                partition: 2,
                offset: 77,
            },
            Message::QueueRecords {
                records: vec![QueueRecord {
                    offset: 5,
                    timestamp: 6,
                    deliveries: 2,
                    key: None,
                    value: Some(Bytes::from_static(b"v")),
                }],
            },
            Message::Nack {
                subscription: 1,
                offsets: vec![1, 2, 3],
                requeue: true,
            },
            Message::Extend {
                subscription: 4,
                offsets: vec![8],
                lock_ms: 500,
            },
            Message::TopicDescription {
                name: "t".into(),
                partitions: vec![PartitionInfo {
                    partition: 0,
                    log_start: 3,
                    high_watermark: 9,
                }],
            },
            Message::Groups {
                groups: vec![GroupInfo {
                    group: "g".into(),
                    protocol_type: "consumer".into(),
                    state: "Stable".into(),
                }],
            },
            Message::Topics {
                topics: vec![TopicInfo {
                    name: "a".into(),
                    partitions: 4,
                }],
            },
            Message::Register {
                service: "greeter".into(),
                methods: vec!["hello".into(), "bye".into()],
            },
            Message::Call {
                service: "greeter".into(),
                method: "hello".into(),
                timeout_ms: 1000,
                payload: Bytes::from_static(b"world"),
            },
            Message::InvokeReply {
                ok: false,
                payload: Bytes::from_static(b"boom"),
            },
            Message::Services {
                services: vec![ServiceInfo {
                    name: "greeter".into(),
                    instances: 3,
                    methods: vec!["hello".into()],
                }],
            },
        ]
    }

    #[test]
    fn every_message_round_trips_through_a_frame() {
        for (i, message) in samples().into_iter().enumerate() {
            let mut wire = BytesMut::new();
            message.encode(i as u32, &mut wire);
            let frame = FrameDecoder::default().decode(&mut wire).unwrap().unwrap();
            assert_eq!(frame.header.correlation, i as u32);
            assert_eq!(frame.header.kind, message.kind() as u8);
            assert_eq!(
                Message::decode(frame.header.kind, frame.body).unwrap(),
                message
            );
        }
    }

    #[test]
    fn bodies_with_bad_fields_are_refused() {
        let cases: &[(u8, &[u8], BodyError)] = &[
            (0x01, &[1], BodyError::Truncated("max_version")),
            (
                0x10,
                &[0, 1, b't', 0, 0, 0, 0, 9],
                BodyError::InvalidValue {
                    field: "acks",
                    value: 9,
                },
            ),
            (0x06, &[0], BodyError::TrailingBytes(1)),
            (0x40, &[0, 1, 0xff, 0, 0, 0, 1], BodyError::NotUtf8("name")),
            (
                0x43,
                &[0xff, 0xff, 0xff, 0xff],
                BodyError::Truncated("topics"),
            ),
            (0x7e, &[], BodyError::UnknownKind(0x7e)),
        ];
        for (kind, body, expected) in cases {
            let got = Message::decode(*kind, BytesMut::from(*body)).unwrap_err();
            assert_eq!(&got, expected, "kind {kind:#x}");
        }
    }
}
