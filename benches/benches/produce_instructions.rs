//! One 1 MiB Kafka produce request (about 9,400 records of 100 bytes), sent over a real
//! socket to an in-process broker `NEO_PRODUCE_REQUESTS` times (default 1) and answered with
//! acks=1. Run it under `valgrind --tool=callgrind` twice with different counts
//! (`benches/callgrind-produce.sh` does) and the difference divided by the extra requests is
//! the broker's instruction count per request: decode, validate, append, encode the answer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, ProduceRequest, RequestHeader, TopicName};
use kafka_protocol::protocol::{Encodable, StrBytes};
use neo_broker::TopicConfig;
use neo_compat_tests::TestBroker;
use neo_record::codec::{BatchBuilder, Compression};

const RECORD: usize = 100;
const REQUEST_BYTES: usize = 1 << 20;
const VERSION: i16 = 9;

fn batch() -> bytes::Bytes {
    let mut builder = BatchBuilder::new(Compression::None, 1_700_000_000_000);
    let value = [b'x'; RECORD];
    while builder.records_size() + RECORD + 64 < REQUEST_BYTES - 200 {
        builder.push(1_700_000_000_000, None, Some(&value), &[]);
    }
    builder.build().unwrap().freeze()
}

fn request(correlation_id: i32) -> Vec<u8> {
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::Produce as i16)
        .with_request_api_version(VERSION)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("callgrind")));
    let body = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_static_str("bench")))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(batch())),
                ]),
        ]);
    let mut frame = BytesMut::new();
    frame.put_i32(0);
    header
        .encode(&mut frame, ApiKey::Produce.request_header_version(VERSION))
        .unwrap();
    body.encode(&mut frame, VERSION).unwrap();
    let len = (frame.len() - 4) as i32;
    frame[..4].copy_from_slice(&len.to_be_bytes());
    frame.to_vec()
}

fn read_response(stream: &mut TcpStream) -> Vec<u8> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).unwrap();
    let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
    stream.read_exact(&mut body).unwrap();
    body
}

fn main() {
    let requests: i32 = std::env::var("NEO_PRODUCE_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let broker = runtime.block_on(TestBroker::start_in(dir.path(), TopicConfig::default()));
    runtime
        .block_on(
            broker
                .broker
                .create_topic("bench", 1, -1, Default::default(), false),
        )
        .unwrap();
    // Built once, outside the counted difference: only the broker's work grows per request.
    let frame = request(7);
    let mut stream = TcpStream::connect(broker.kafka_addr).unwrap();
    for _ in 0..requests {
        stream.write_all(&frame).unwrap();
        let response = read_response(&mut stream);
        assert_eq!(&response[..4], &7i32.to_be_bytes(), "correlation id");
    }
    let end = broker
        .broker
        .partition("bench", 0)
        .unwrap()
        .high_watermark();
    println!(
        "{requests} produce requests of {} bytes appended; log end offset {end}",
        frame.len()
    );
    drop(broker);
}
