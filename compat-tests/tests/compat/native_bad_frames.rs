//! Malformed input on the native port: every case gets an error frame with the right code
//! and a closed connection, and the broker keeps serving.

use std::time::Duration;

use bytes::{BufMut, BytesMut};
use neo_client::{Client, ErrorCode};
use neo_compat_tests::TestBroker;
use neo_native::wire::{FrameDecoder, Message};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::Decoder;

const WAIT: Duration = Duration::from_secs(10);

fn hello() -> Vec<u8> {
    Message::Hello {
        min_version: 1,
        max_version: 1,
        client: "raw".into(),
        auth: Default::default(),
    }
    .to_frame(1)
    .to_vec()
}

fn raw_frame(version: u8, kind: u8, correlation: u32, body: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    out.put_u32(8 + body.len() as u32);
    out.put_u8(version);
    out.put_u8(kind);
    out.put_u16(0);
    out.put_u32(correlation);
    out.put_slice(body);
    out.to_vec()
}

/// Sends `bytes` and returns every message the broker sent before closing.
async fn exchange(addr: &str, bytes: &[u8]) -> Vec<Message> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    stream.shutdown().await.unwrap();
    let mut received = Vec::new();
    let read = tokio::time::timeout(WAIT, stream.read_to_end(&mut received)).await;
    assert!(read.is_ok(), "the broker did not close the connection");
    let mut buffer = BytesMut::from(&received[..]);
    let mut messages = Vec::new();
    while let Some(frame) = FrameDecoder::default().decode(&mut buffer).unwrap() {
        messages.push(Message::decode(frame.header.kind, frame.body).unwrap());
    }
    messages
}

fn last_error(messages: &[Message]) -> ErrorCode {
    match messages.last() {
        Some(Message::Error { code, .. }) => *code,
        other => panic!("expected an error frame last, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_get_an_error_frame_and_a_closed_connection() {
    let broker = TestBroker::start().await;
    let addr = broker.native_addr.to_string();
    let after_hello = |rest: Vec<u8>| [hello(), rest].concat();
    let cases: Vec<(&str, Vec<u8>, ErrorCode)> = vec![
        (
            "no hello first",
            raw_frame(1, 0x42, 1, &[]),
            ErrorCode::HandshakeRequired,
        ),
        (
            "only newer versions",
            Message::Hello {
                min_version: 9,
                max_version: 12,
                client: "future".into(),
                auth: Default::default(),
            }
            .to_frame(1)
            .to_vec(),
            ErrorCode::UnsupportedVersion,
        ),
        (
            "frame over the limit",
            after_hello(vec![0x7f, 0xff, 0xff, 0xff]),
            ErrorCode::FrameTooLarge,
        ),
        (
            "frame shorter than its header",
            after_hello(vec![0, 0, 0, 2, 1, 1]),
            ErrorCode::MalformedFrame,
        ),
        (
            "unknown kind",
            after_hello(raw_frame(1, 0x7e, 2, &[])),
            ErrorCode::UnknownKind,
        ),
        (
            "truncated body",
            after_hello(raw_frame(1, 0x40, 2, &[0, 9, b'a'])),
            ErrorCode::MalformedFrame,
        ),
        (
            "bad string",
            after_hello(raw_frame(1, 0x41, 2, &[0, 1, 0xff])),
            ErrorCode::MalformedFrame,
        ),
        (
            "frame of version 0",
            after_hello(raw_frame(0, 0x42, 2, &[])),
            ErrorCode::UnsupportedVersion,
        ),
        (
            "a response sent as a request",
            after_hello(raw_frame(1, 0x06, 2, &[])),
            ErrorCode::InvalidRequest,
        ),
        (
            "count larger than the body",
            after_hello(raw_frame(1, 0x50, 2, &[0, 1, b's', 0xff, 0xff, 0xff, 0xff])),
            ErrorCode::MalformedFrame,
        ),
    ];
    for (name, bytes, code) in cases {
        let messages = exchange(&addr, &bytes).await;
        assert_eq!(last_error(&messages), code, "case {name}: {messages:?}");
    }
    // Records that are not a batch are refused without closing the connection.
    let client = Client::connect(&addr).await.unwrap();
    client.create_topic("t", 1).await.unwrap();
    let produce = raw_frame(1, 0x10, 2, &[0, 1, b't', 0, 0, 0, 0, 1, 1, 2, 3]);
    let messages = exchange(
        &addr,
        &[hello(), produce, raw_frame(1, 0x04, 3, &[])].concat(),
    )
    .await;
    assert!(
        matches!(
            &messages[1],
            Message::Error {
                code: ErrorCode::InvalidRecords,
                ..
            }
        ),
        "{messages:?}"
    );
    assert_eq!(messages[2], Message::Pong);
    client.ping().await.unwrap();
    assert!(
        client
            .list_topics()
            .await
            .unwrap()
            .iter()
            .any(|t| t.name == "t")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_bytes_never_take_the_broker_down() {
    let broker = TestBroker::start().await;
    let addr = broker.native_addr.to_string();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..200 {
        let len = 1 + (seed % 300) as usize;
        let mut bytes = if round % 2 == 0 { hello() } else { Vec::new() };
        for _ in 0..len {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            bytes.push(seed as u8);
        }
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        let _ = stream.write_all(&bytes).await;
        let _ = stream.shutdown().await;
        let mut sink = Vec::new();
        let _ = tokio::time::timeout(WAIT, stream.read_to_end(&mut sink)).await;
    }
    let client = Client::connect(&addr).await.unwrap();
    client.ping().await.unwrap();
}
