//! Bad input on raw sockets gets AMQP's answer and never takes the gateway down: a wrong
//! protocol header is answered with the one it speaks, an oversized frame with 501
//! FRAME_ERROR, a method on a channel that is not open with 504 CHANNEL_ERROR, content without
//! basic.publish with 505 UNEXPECTED_FRAME, an undecodable method with 502 SYNTAX_ERROR; and
//! a normal client is served afterwards. A peer that stops sending heartbeats is dropped.

use std::time::Duration;

use amq_protocol::frame::AMQPFrame;
use amq_protocol::protocol::{AMQPClass, basic, connection};
use lapin::{Connection, ConnectionProperties};
use neo_amqp::frames::{PROTOCOL_HEADER, encode, read_frame};
use neo_compat_tests::TestBroker;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TIMEOUT: Duration = Duration::from_secs(5);

async fn next(stream: &mut TcpStream) -> Option<AMQPFrame> {
    tokio::time::timeout(TIMEOUT, read_frame(stream, 1 << 20))
        .await
        .expect("an answer within 5 s")
        .unwrap()
}

fn method(channel: u16, m: AMQPClass) -> Vec<u8> {
    encode(&AMQPFrame::Method(channel, m))
}

/// Connects and completes the handshake as guest.
async fn open(broker: &TestBroker) -> TcpStream {
    open_with_heartbeat(broker, 0).await
}

/// Connects and completes the handshake as guest, agreeing on `heartbeat` seconds.
async fn open_with_heartbeat(broker: &TestBroker, heartbeat: u16) -> TcpStream {
    let mut s = TcpStream::connect(broker.amqp_addr).await.unwrap();
    s.write_all(PROTOCOL_HEADER).await.unwrap();
    assert!(matches!(
        next(&mut s).await,
        Some(AMQPFrame::Method(
            0,
            AMQPClass::Connection(connection::AMQPMethod::Start(_))
        ))
    ));
    let start_ok = connection::StartOk {
        client_properties: Default::default(),
        mechanism: "PLAIN".into(),
        response: "\0guest\0guest".into(),
        locale: "en_US".into(),
    };
    s.write_all(&method(
        0,
        AMQPClass::Connection(connection::AMQPMethod::StartOk(start_ok)),
    ))
    .await
    .unwrap();
    let Some(AMQPFrame::Method(0, AMQPClass::Connection(connection::AMQPMethod::Tune(tune)))) =
        next(&mut s).await
    else {
        panic!("expected tune");
    };
    let tune_ok = connection::TuneOk {
        channel_max: tune.channel_max,
        frame_max: tune.frame_max,
        heartbeat,
    };
    s.write_all(&method(
        0,
        AMQPClass::Connection(connection::AMQPMethod::TuneOk(tune_ok)),
    ))
    .await
    .unwrap();
    let open = connection::Open {
        virtual_host: "/".into(),
    };
    s.write_all(&method(
        0,
        AMQPClass::Connection(connection::AMQPMethod::Open(open)),
    ))
    .await
    .unwrap();
    assert!(matches!(
        next(&mut s).await,
        Some(AMQPFrame::Method(
            0,
            AMQPClass::Connection(connection::AMQPMethod::OpenOk(_))
        ))
    ));
    s
}

/// The reply code of the connection.close the gateway sends next.
async fn close_code(s: &mut TcpStream) -> u16 {
    match next(s).await {
        Some(AMQPFrame::Method(0, AMQPClass::Connection(connection::AMQPMethod::Close(c)))) => {
            c.reply_code
        }
        other => panic!("expected connection.close, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_get_the_right_close_and_others_are_still_served() {
    let broker = TestBroker::start().await;

    // A wrong protocol header: the header the gateway speaks, then the end.
    let mut s = TcpStream::connect(broker.amqp_addr).await.unwrap();
    s.write_all(b"AMQP\x00\x00\x0a\x00").await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(TIMEOUT, s.read_to_end(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer, PROTOCOL_HEADER);

    // A frame larger than frame_max, before it is read: 501.
    let mut s = open(&broker).await;
    s.write_all(&[1, 0, 1, 0x7f, 0xff, 0xff, 0xff])
        .await
        .unwrap();
    assert_eq!(close_code(&mut s).await, 501);

    // A method on a channel that was never opened: 504.
    let mut s = open(&broker).await;
    let qos = basic::Qos {
        prefetch_count: 1,
        global: false,
    };
    s.write_all(&method(5, AMQPClass::Basic(basic::AMQPMethod::Qos(qos))))
        .await
        .unwrap();
    assert_eq!(close_code(&mut s).await, 504);

    // Content without basic.publish on an open channel: 505.
    let mut s = open(&broker).await;
    let open_channel = amq_protocol::protocol::channel::Open {};
    s.write_all(&method(
        1,
        AMQPClass::Channel(amq_protocol::protocol::channel::AMQPMethod::Open(
            open_channel,
        )),
    ))
    .await
    .unwrap();
    let _open_ok = next(&mut s).await;
    s.write_all(&encode(&AMQPFrame::Body(1, b"stray".to_vec())))
        .await
        .unwrap();
    assert_eq!(close_code(&mut s).await, 505);

    // A well-framed method frame whose payload is not a method: 502.
    let mut s = open(&broker).await;
    s.write_all(&[1, 0, 1, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xce])
        .await
        .unwrap();
    assert_eq!(close_code(&mut s).await, 502);

    // Everyone else is served.
    let conn = Connection::connect(&broker.amqp_uri(), ConnectionProperties::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    ch.queue_declare(
        "after-bad-frames".into(),
        Default::default(),
        Default::default(),
    )
    .await
    .unwrap();
    let _ = conn.close(200, "bye".into()).await;
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_peer_is_sent_heartbeats_then_dropped() {
    let broker = TestBroker::start().await;
    let mut s = open_with_heartbeat(&broker, 1).await;
    let started = std::time::Instant::now();
    let mut heartbeats = 0;
    // Never answering: the gateway beats every second and gives up after two silent intervals.
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), read_frame(&mut s, 1 << 20))
            .await
            .expect("dropped within 10 s");
        match frame {
            Ok(Some(AMQPFrame::Heartbeat)) => heartbeats += 1,
            Ok(Some(other)) => panic!("unexpected {other:?}"),
            Ok(None) | Err(_) => break,
        }
    }
    assert!(heartbeats >= 1, "heartbeats were sent");
    // Two intervals from the last frame the gateway read, which was before `started`: the
    // drop comes a little under two seconds after it, never at the first missed beat.
    assert!(
        started.elapsed() >= Duration::from_millis(1_500),
        "not dropped before two intervals"
    );
    broker.stop().await;
}
