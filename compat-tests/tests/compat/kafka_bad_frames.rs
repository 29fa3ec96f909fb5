//! Malformed input over a real socket: each bad frame closes only its own connection, never
//! panics or stalls the broker, and other clients keep being served.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use neo_compat_tests::TestBroker;

fn connect(broker: &TestBroker) -> TcpStream {
    let stream = TcpStream::connect(broker.kafka_addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
}

/// A request header v1 (`api_key`, `api_version`, correlation id 7, no client id) and body.
fn request(api_key: i16, api_version: i16, body: &[u8]) -> Vec<u8> {
    let mut frame = Vec::new();
    frame.extend_from_slice(&api_key.to_be_bytes());
    frame.extend_from_slice(&api_version.to_be_bytes());
    frame.extend_from_slice(&7i32.to_be_bytes());
    frame.extend_from_slice(&(-1i16).to_be_bytes());
    frame.extend_from_slice(body);
    let mut out = (frame.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(&frame);
    out
}

/// Reads one response frame, or `None` when the broker closed the connection.
fn read_response(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).ok()?;
    let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
    stream.read_exact(&mut body).ok()?;
    Some(body)
}

fn assert_closed(stream: &mut TcpStream, what: &str) {
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("{what}: connection not closed: {other:?}"),
    }
}

/// ApiVersions v0 on a fresh connection gets an answer: the broker still serves.
fn assert_serving(broker: &TestBroker) {
    let mut stream = connect(broker);
    stream.write_all(&request(18, 0, &[])).unwrap();
    let response = read_response(&mut stream).expect("ApiVersions answered");
    assert_eq!(&response[..4], &7i32.to_be_bytes(), "correlation id");
    assert_eq!(&response[4..6], &0i16.to_be_bytes(), "no error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_close_their_connection_and_the_broker_keeps_serving() {
    let broker = TestBroker::start().await;
    // A connection opened before the abuse, still answered after it.
    let mut bystander = connect(&broker);

    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "oversized length",
            (200 * 1024 * 1024i32).to_be_bytes().to_vec(),
        ),
        ("negative length", (-5i32).to_be_bytes().to_vec()),
        ("too short for a header", [0, 0, 0, 3, 1, 2, 3].to_vec()),
        ("unknown api key", request(999, 0, &[])),
        ("unsupported version", request(0, 99, &[])),
        // Metadata v1 naming 5 topics, the first 32767 bytes long, in 3 bytes.
        (
            "truncated body",
            request(3, 1, &[0, 0, 0, 5, 0x7f, 0xff, b'a', b'b', b'c']),
        ),
        // Metadata v0 claiming 50 million topics in 5 bytes: must not allocate for them.
        (
            "huge array count",
            request(3, 0, &[0x03, 0x3c, 0x0c, 0x00, 0xb6]),
        ),
    ];
    for (what, bytes) in cases {
        let mut stream = connect(&broker);
        stream.write_all(&bytes).unwrap();
        assert_closed(&mut stream, what);
        assert_serving(&broker);
    }

    // A frame cut short, then the client goes away.
    let mut stream = connect(&broker);
    let full = request(18, 0, &[]);
    stream.write_all(&full[..full.len() - 2]).unwrap();
    drop(stream);

    // Bytes after a request are ignored, as Kafka does (some clients send them).
    let mut stream = connect(&broker);
    stream.write_all(&request(18, 0, &[1, 2, 3])).unwrap();
    assert!(read_response(&mut stream).is_some());

    // ApiVersions newer than supported: answered at v0 with UNSUPPORTED_VERSION and the list.
    let mut stream = connect(&broker);
    stream.write_all(&request(18, 99, &[])).unwrap();
    let response = read_response(&mut stream).expect("ApiVersions v0 fallback");
    assert_eq!(&response[4..6], &35i16.to_be_bytes(), "UNSUPPORTED_VERSION");
    let apis = i32::from_be_bytes(response[6..10].try_into().unwrap());
    assert!(apis > 10, "the supported APIs are listed ({apis})");

    bystander.write_all(&request(18, 0, &[])).unwrap();
    assert!(read_response(&mut bystander).is_some());
    broker.stop().await;
}
