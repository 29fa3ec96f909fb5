//! Every message through a frame and back; bodies with bad fields refused.

use bytes::{Bytes, BytesMut};

use super::body::BodyError;
use super::error_code::ErrorCode;
use super::message::*;
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
        Message::InitProducer,
        Message::ProducerId {
            producer_id: 4_000_000_001,
            epoch: -2,
        },
        Message::Metadata {
            topics: vec!["t".into(), "u".into()],
        },
        Message::ClusterMetadata {
            brokers: vec![
                BrokerInfo {
                    id: 1,
                    address: "10.0.0.1:7070".into(),
                },
                BrokerInfo {
                    id: 2,
                    address: "10.0.0.2:7070".into(),
                },
            ],
            topics: vec![TopicLeaders {
                name: "t".into(),
                leaders: vec![2, -1, 1],
            }],
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
