//! Message bodies written field by field (the layouts are in PROTOCOL.md).

use bytes::{BufMut, BytesMut};

use super::body::BodyWriter;
use super::message::{Message, StartAt};

impl Message {
    pub(super) fn write_body(&self, b: &mut BytesMut) {
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
            Message::ListServices | Message::ListGroups | Message::InitProducer => {}
            Message::ProducerId { producer_id, epoch } => {
                b.put_i64(*producer_id);
                b.put_i16(*epoch);
            }
            Message::Metadata { topics } => {
                b.put_u32(topics.len() as u32);
                for t in topics {
                    b.string(t);
                }
            }
            Message::ClusterMetadata { brokers, topics } => {
                b.put_u32(brokers.len() as u32);
                for broker in brokers {
                    b.put_i64(broker.id);
                    b.string(&broker.address);
                }
                b.put_u32(topics.len() as u32);
                for t in topics {
                    b.string(&t.name);
                    b.put_u32(t.leaders.len() as u32);
                    for leader in &t.leaders {
                        b.put_i64(*leader);
                    }
                }
            }
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
}

fn put_offsets(b: &mut BytesMut, offsets: &[i64]) {
    b.put_u32(offsets.len() as u32);
    for o in offsets {
        b.put_i64(*o);
    }
}
