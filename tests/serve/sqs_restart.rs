//! The SQS gateway in a real `neo serve` process, over raw HTTP/1.1 (JSON protocol): a
//! message deleted before a SIGKILL never comes back, one in flight stays invisible after the
//! restart (its receipt handle still valid), one never received is received, and the queue
//! keeps its attributes.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::{Value, json};

use crate::process::start;

/// One JSON-protocol call on a new connection; returns the status and the answer.
pub fn call(addr: SocketAddr, action: &str, body: Value) -> (u16, Value) {
    let body = body.to_string();
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "POST / HTTP/1.1\r\nHost: neo\r\nConnection: close\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Target: AmazonSQS.{action}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap();
    let json = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| serde_json::from_str(b).unwrap_or(Value::Null))
        .unwrap();
    (status, json)
}

fn receive(addr: SocketAddr, url: &str, max: u32) -> Vec<(String, String)> {
    let (status, got) = call(
        addr,
        "ReceiveMessage",
        json!({"QueueUrl": url, "MaxNumberOfMessages": max, "WaitTimeSeconds": 1, "VisibilityTimeout": 300}),
    );
    assert_eq!(status, 200, "{got}");
    got["Messages"]
        .as_array()
        .map(|ms| {
            ms.iter()
                .map(|m| {
                    (
                        m["Body"].as_str().unwrap().to_string(),
                        m["ReceiptHandle"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn sqs_messages_survive_sigkill_of_neo_serve() {
    let dir = tempfile::tempdir().unwrap();
    let (mut neo, addr) = start(dir.path(), "sqs");
    let (status, created) = call(
        addr,
        "CreateQueue",
        json!({"QueueName": "jobs", "Attributes": {"VisibilityTimeout": "300"}}),
    );
    assert_eq!(status, 200, "{created}");
    let url = created["QueueUrl"].as_str().unwrap().to_string();
    for body in ["a", "b", "c"] {
        let (status, sent) = call(
            addr,
            "SendMessage",
            json!({"QueueUrl": url, "MessageBody": body}),
        );
        assert_eq!(status, 200, "{sent}");
    }
    let first = receive(addr, &url, 1);
    assert_eq!(first[0].0, "a");
    let (status, _) = call(
        addr,
        "DeleteMessage",
        json!({"QueueUrl": url, "ReceiptHandle": first[0].1}),
    );
    assert_eq!(status, 200);
    let in_flight = receive(addr, &url, 1);
    assert_eq!(in_flight[0].0, "b");
    neo.kill().unwrap();
    neo.wait().unwrap();

    let (mut neo, addr) = start(dir.path(), "sqs");
    let (_, attrs) = call(
        addr,
        "GetQueueAttributes",
        json!({"QueueUrl": url, "AttributeNames": ["VisibilityTimeout"]}),
    );
    assert_eq!(attrs["Attributes"]["VisibilityTimeout"], "300");
    let bodies: Vec<String> = receive(addr, &url, 10)
        .into_iter()
        .map(|(b, _)| b)
        .collect();
    assert_eq!(
        bodies,
        ["c"],
        "the deleted message never comes back; the one in flight stays invisible"
    );
    // Its receipt handle from before the kill still makes it visible.
    let (status, changed) = call(
        addr,
        "ChangeMessageVisibility",
        json!({"QueueUrl": url, "ReceiptHandle": in_flight[0].1, "VisibilityTimeout": 0}),
    );
    assert_eq!(status, 200, "{changed}");
    assert_eq!(receive(addr, &url, 10)[0].0, "b");
    neo.kill().unwrap();
    neo.wait().unwrap();
}
