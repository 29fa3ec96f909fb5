//! Message bodies read field by field, never trusting a length or count from the peer.

use bytes::BytesMut;

use super::body::{BodyError, BodyReader};
use super::error_code::ErrorCode;
use super::message::{
    BrokerInfo, GroupInfo, Message, PartitionInfo, QueueRecord, ServiceInfo, StartAt, TopicInfo,
    TopicLeaders, ack_level_from_u8,
};

impl Message {
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
            0x12 => Message::InitProducer,
            0x13 => Message::ProducerId {
                producer_id: r.i64("producer_id")?,
                epoch: r.u16("epoch")? as i16,
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
            0x48 => Message::Metadata {
                topics: read_strings(&mut r, "topics")?,
            },
            0x49 => {
                let n = r.count("brokers", 10)?;
                let mut brokers = Vec::with_capacity(n);
                for _ in 0..n {
                    brokers.push(BrokerInfo {
                        id: r.i64("id")?,
                        address: r.string("address")?,
                    });
                }
                let n = r.count("topics", 6)?;
                let mut topics = Vec::with_capacity(n);
                for _ in 0..n {
                    let name = r.string("name")?;
                    let count = r.count("leaders", 8)?;
                    let leaders = (0..count)
                        .map(|_| r.i64("leader"))
                        .collect::<Result<_, _>>()?;
                    topics.push(TopicLeaders { name, leaders });
                }
                Message::ClusterMetadata { brokers, topics }
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

fn read_offsets(r: &mut BodyReader) -> Result<Vec<i64>, BodyError> {
    let n = r.count("offsets", 8)?;
    (0..n).map(|_| r.i64("offset")).collect()
}

fn read_strings(r: &mut BodyReader, field: &'static str) -> Result<Vec<String>, BodyError> {
    let n = r.count(field, 2)?;
    (0..n).map(|_| r.string(field)).collect()
}
