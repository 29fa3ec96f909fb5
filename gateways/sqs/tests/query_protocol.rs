//! The Query protocol and malformed input over raw HTTP/1.1 on one keep-alive connection:
//! form-encoded actions answered in SQS's XML, queue URL paths, and SQS error answers (XML,
//! or JSON with `x-amzn-query-error`) with the right status for every kind of bad request.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use neo_broker::{Broker, BrokerConfig};
use neo_sqs::{SqsConfig, SqsServer};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::watch;

struct Server {
    addr: std::net::SocketAddr,
    stop: watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

async fn start(max_body_bytes: usize) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(BrokerConfig {
        data_dir: dir.path().to_path_buf(),
        ..BrokerConfig::default()
    })
    .await
    .unwrap();
    let server = SqsServer::bind(SqsConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        max_body_bytes,
        ..SqsConfig::default()
    })
    .await
    .unwrap();
    let addr = server.local_addr().unwrap();
    let (stop, stop_rx) = watch::channel(false);
    tokio::spawn(server.run(Arc::clone(&broker), stop_rx));
    Server {
        addr,
        stop,
        _dir: dir,
    }
}

/// One HTTP/1.1 connection, kept alive across requests.
struct Conn(BufReader<TcpStream>);

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Conn {
    async fn open(server: &Server) -> Conn {
        Conn(BufReader::new(
            TcpStream::connect(server.addr).await.unwrap(),
        ))
    }

    async fn send(&mut self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            request.push_str(&format!("{k}: {v}\r\n"));
        }
        request.push_str("\r\n");
        let stream = self.0.get_mut();
        stream.write_all(request.as_bytes()).await.unwrap();
        stream.write_all(body).await.unwrap();
        tokio::time::timeout(Duration::from_secs(10), self.read())
            .await
            .unwrap()
    }

    async fn form(&mut self, path: &str, body: &str) -> Answer {
        self.send(
            path,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            body.as_bytes(),
        )
        .await
    }

    async fn read(&mut self) -> Answer {
        let mut line = String::new();
        self.0.read_line(&mut line).await.unwrap();
        let status = line.split(' ').nth(1).unwrap().parse().unwrap();
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.0.read_line(&mut line).await.unwrap();
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(':').unwrap();
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse().unwrap())
            .unwrap();
        let mut body = vec![0; len];
        self.0.read_exact(&mut body).await.unwrap();
        Answer {
            status,
            headers,
            body: String::from_utf8(body).unwrap(),
        }
    }
}

/// The text of the first `<tag>` element.
fn element<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(&xml[start..end])
}

fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn query_actions_over_one_keep_alive_connection() {
    let server = start(1 << 20).await;
    let mut conn = Conn::open(&server).await;
    let created = conn
        .form(
            "/",
            "Action=CreateQueue&QueueName=q1&Attribute.1.Name=VisibilityTimeout&Attribute.1.Value=40&Tag.1.Key=env&Tag.1.Value=dev&Version=2012-11-05",
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert!(
        created
            .body
            .contains("<CreateQueueResponse xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\">")
    );
    let url = element(&created.body, "QueueUrl").unwrap().to_string();
    assert!(url.ends_with("/000000000000/q1"), "{url}");
    assert!(element(&created.body, "RequestId").is_some());

    let sent = conn
        .form(
            "/",
            &format!(
                "Action=SendMessage&QueueUrl={}&MessageBody={}&MessageAttribute.1.Name=color&MessageAttribute.1.Value.DataType=String&MessageAttribute.1.Value.StringValue=blue",
                encode(&url),
                encode("<hello & \"world\">")
            ),
        )
        .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    assert_eq!(
        element(&sent.body, "MD5OfMessageBody").map(str::len),
        Some(32)
    );
    assert!(element(&sent.body, "MD5OfMessageAttributes").is_some());

    // The queue URL path stands for QueueUrl.
    let got = conn
        .form(
            "/000000000000/q1",
            "Action=ReceiveMessage&AttributeName.1=All&MessageAttributeName.1=All&MaxNumberOfMessages=5",
        )
        .await;
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(
        element(&got.body, "Body"),
        Some("&lt;hello &amp; &quot;world&quot;&gt;")
    );
    assert!(
        got.body.contains(
            "<Attribute><Name>ApproximateReceiveCount</Name><Value>1</Value></Attribute>"
        )
    );
    assert!(got.body.contains("<MessageAttribute><Name>color</Name><Value><DataType>String</DataType><StringValue>blue</StringValue></Value></MessageAttribute>"));
    let handle = element(&got.body, "ReceiptHandle").unwrap().to_string();

    let attrs = conn
        .form(
            "/",
            &format!(
                "Action=GetQueueAttributes&QueueUrl={}&AttributeName.1=All",
                encode(&url)
            ),
        )
        .await;
    assert!(
        attrs
            .body
            .contains("<Attribute><Name>VisibilityTimeout</Name><Value>40</Value></Attribute>")
    );
    assert!(attrs.body.contains(
        "<Attribute><Name>ApproximateNumberOfMessagesNotVisible</Name><Value>1</Value></Attribute>"
    ));
    let tags = conn
        .form(
            "/",
            &format!("Action=ListQueueTags&QueueUrl={}", encode(&url)),
        )
        .await;
    assert!(
        tags.body
            .contains("<Tag><Key>env</Key><Value>dev</Value></Tag>"),
        "{}",
        tags.body
    );

    let deleted = conn
        .form(
            "/",
            &format!(
                "Action=DeleteMessageBatch&QueueUrl={}&DeleteMessageBatchRequestEntry.1.Id=a&DeleteMessageBatchRequestEntry.1.ReceiptHandle={}&DeleteMessageBatchRequestEntry.2.Id=b&DeleteMessageBatchRequestEntry.2.ReceiptHandle=junk",
                encode(&url),
                encode(&handle)
            ),
        )
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert!(
        deleted
            .body
            .contains("<DeleteMessageBatchResultEntry><Id>a</Id></DeleteMessageBatchResultEntry>")
    );
    let failed = element(&deleted.body, "BatchResultErrorEntry").unwrap();
    assert_eq!(element(failed, "Id"), Some("b"));
    assert_eq!(element(failed, "Code"), Some("ReceiptHandleIsInvalid"));
    assert_eq!(element(failed, "SenderFault"), Some("true"));

    let listed = conn.form("/", "Action=ListQueues").await;
    assert_eq!(element(&listed.body, "QueueUrl"), Some(url.as_str()));
    let removed = conn
        .form(
            "/",
            &format!("Action=DeleteQueue&QueueUrl={}", encode(&url)),
        )
        .await;
    assert_eq!(removed.status, 200);
    assert!(removed.body.contains("<DeleteQueueResponse"));
    let _ = server.stop.send(true);
}

#[tokio::test]
async fn bad_requests_get_sqs_error_answers() {
    let server = start(4096).await;
    let mut conn = Conn::open(&server).await;
    let cases: &[(&str, u16, &str)] = &[
        (
            "Action=GetQueueUrl&QueueName=nope",
            400,
            "AWS.SimpleQueueService.NonExistentQueue",
        ),
        ("QueueName=x", 400, "MissingParameter"),
        ("Action=Frobnicate", 400, "InvalidAction"),
        ("Action=CreateQueue", 400, "MissingParameter"),
        (
            "Action=CreateQueue&QueueName=bad%20name",
            400,
            "InvalidParameterValue",
        ),
        (
            "Action=CreateQueue&QueueName=a&Attribute.x.Name=y",
            400,
            "MalformedQueryString",
        ),
        (
            "Action=CreateQueue&QueueName=a&Attribute.1.Name=Bogus&Attribute.1.Value=1",
            400,
            "InvalidAttributeName",
        ),
        (
            "Action=ReceiveMessage&QueueUrl=http://x/0/nope&MaxNumberOfMessages=ten",
            400,
            "AWS.SimpleQueueService.NonExistentQueue",
        ),
        (
            "Action=AddPermission",
            400,
            "AWS.SimpleQueueService.UnsupportedOperation",
        ),
    ];
    for (body, status, code) in cases {
        let answer = conn.form("/", body).await;
        assert_eq!(answer.status, *status, "{body}: {}", answer.body);
        assert_eq!(
            element(&answer.body, "Code"),
            Some(*code),
            "{body}: {}",
            answer.body
        );
        assert!(answer.body.contains("<ErrorResponse"), "{body}");
        assert_eq!(element(&answer.body, "Type"), Some("Sender"));
    }
    conn.form("/", "Action=CreateQueue&QueueName=q").await;
    let answer = conn
        .form(
            "/",
            "Action=ReceiveMessage&QueueUrl=http://x/0/q&MaxNumberOfMessages=ten",
        )
        .await;
    assert_eq!(element(&answer.body, "Code"), Some("InvalidParameterValue"));

    // JSON protocol: __type and x-amzn-query-error.
    let json = |target: &'static str| {
        [
            ("Content-Type", "application/x-amz-json-1.0"),
            ("X-Amz-Target", target),
        ]
    };
    let cases: &[(&str, &[u8], &str, &str)] = &[
        (
            "AmazonSQS.GetQueueUrl",
            br#"{"QueueName":"nope"}"#,
            "QueueDoesNotExist",
            "AWS.SimpleQueueService.NonExistentQueue;Sender",
        ),
        (
            "AmazonSQS.GetQueueUrl",
            b"{not json",
            "MalformedQueryString",
            "MalformedQueryString;Sender",
        ),
        (
            "AmazonSQS.GetQueueUrl",
            b"[]",
            "MalformedQueryString",
            "MalformedQueryString;Sender",
        ),
        (
            "AmazonSQS.GetQueueUrl",
            br#"{"QueueName":5}"#,
            "InvalidParameterValue",
            "InvalidParameterValue;Sender",
        ),
        (
            "AmazonSQS.Nope",
            b"{}",
            "InvalidAction",
            "InvalidAction;Sender",
        ),
        (
            "Other.ListQueues",
            b"{}",
            "InvalidAction",
            "InvalidAction;Sender",
        ),
        (
            "AmazonSQS.SendMessageBatch",
            br#"{"QueueUrl":"q","Entries":[]}"#,
            "EmptyBatchRequest",
            "AWS.SimpleQueueService.EmptyBatchRequest;Sender",
        ),
        (
            "AmazonSQS.DeleteMessage",
            br#"{"QueueUrl":"q","ReceiptHandle":"%%%"}"#,
            "ReceiptHandleIsInvalid",
            "ReceiptHandleIsInvalid;Sender",
        ),
        (
            "AmazonSQS.ChangeMessageVisibility",
            br#"{"QueueUrl":"q","ReceiptHandle":"AQAAAAAAAAAAAAAAAAAAAAFx","VisibilityTimeout":5}"#,
            "MessageNotInflight",
            "AWS.SimpleQueueService.MessageNotInflight;Sender",
        ),
    ];
    for (target, body, kind, header) in cases {
        let answer = conn.send("/", &json(target), body).await;
        assert_eq!(answer.status, 400, "{target}: {}", answer.body);
        let value: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
        assert_eq!(
            value["__type"],
            format!("com.amazonaws.sqs#{kind}"),
            "{target}"
        );
        assert!(value["message"].is_string());
        assert_eq!(
            answer.header("x-amzn-query-error"),
            Some(*header),
            "{target}"
        );
    }

    // A body over the cap: refused from its Content-Length, with an error body.
    let big = vec![b'a'; 5000];
    let answer = conn
        .send(
            "/",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            &big,
        )
        .await;
    assert_eq!(answer.status, 413);
    assert!(answer.body.contains("<ErrorResponse"));
    let _ = server.stop.send(true);
}
