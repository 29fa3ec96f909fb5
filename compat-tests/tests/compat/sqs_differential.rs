//! The same SQS scenarios against moto's SQS server (`moto_server`, the Python AWS mock,
//! started here on a free loopback port) and against Neo's SQS gateway, through
//! `aws-sdk-sqs`: bodies, MD5s of bodies and of typed attributes, receive counts, queue
//! attribute values, deduplication, tags and the error codes of bad requests must match.
//!
//! `scripts/test` installs moto; without it this test fails under CI and skips elsewhere.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_sqs::Client;
use aws_sdk_sqs::primitives::Blob;
use aws_sdk_sqs::types::{
    MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName,
    SendMessageBatchRequestEntry,
};
use neo_compat_tests::TestBroker;
use neo_compat_tests::free_port;
use neo_compat_tests::sqs::{attributes, client, code};
use neo_compat_tests::tools;

/// moto's server, stopped when dropped.
struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_moto() -> Option<(Moto, String)> {
    let bin =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/compat-venv/bin/moto_server");
    if !bin.exists() {
        tools::missing("moto");
        return None;
    }
    let port = free_port();
    let child = Command::new(bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let moto = Moto(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    Some((moto, format!("http://127.0.0.1:{port}")))
}

/// What a client sees of the scenario, as lines to compare.
async fn scenario(sqs: &Client) -> Vec<String> {
    let mut seen = Vec::new();
    let url = sqs
        .create_queue()
        .queue_name("diff")
        .attributes(QueueAttributeName::VisibilityTimeout, "30")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    seen.push(format!("url ends {}", url.rsplit('/').next().unwrap()));
    let again = sqs
        .create_queue()
        .queue_name("diff")
        .attributes(QueueAttributeName::VisibilityTimeout, "31")
        .send()
        .await;
    seen.push(format!(
        "create differing: {}",
        again
            .map(|_| "ok".into())
            .unwrap_or_else(|e| code(&e.into_service_error()))
    ));
    let missing = sqs.get_queue_url().queue_name("nope").send().await;
    seen.push(format!(
        "missing: {}",
        code(&missing.unwrap_err().into_service_error())
    ));

    let attrs = attributes(sqs, &url, QueueAttributeName::All).await;
    for name in [
        QueueAttributeName::VisibilityTimeout,
        QueueAttributeName::DelaySeconds,
        QueueAttributeName::MessageRetentionPeriod,
        QueueAttributeName::ReceiveMessageWaitTimeSeconds,
        QueueAttributeName::ApproximateNumberOfMessages,
    ] {
        seen.push(format!("{name}: {:?}", attrs.get(&name)));
    }

    let sent = sqs
        .send_message()
        .queue_url(&url)
        .message_body("body ü <&>")
        .message_attributes(
            "s",
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value("v")
                .build()
                .unwrap(),
        )
        .message_attributes(
            "n",
            MessageAttributeValue::builder()
                .data_type("Number")
                .string_value("1.5")
                .build()
                .unwrap(),
        )
        .message_attributes(
            "b",
            MessageAttributeValue::builder()
                .data_type("Binary")
                .binary_value(Blob::new(vec![1u8, 2, 3]))
                .build()
                .unwrap(),
        )
        .message_attributes(
            "c",
            MessageAttributeValue::builder()
                .data_type("String.custom")
                .string_value("x")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    seen.push(format!(
        "sent md5s {:?} {:?}",
        sent.md5_of_message_body, sent.md5_of_message_attributes
    ));
    let got = sqs
        .receive_message()
        .queue_url(&url)
        .message_attribute_names("All")
        .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
        .send()
        .await
        .unwrap();
    let m = &got.messages()[0];
    seen.push(format!(
        "received {:?} {:?} {:?} count {:?}",
        m.body(),
        m.md5_of_body(),
        m.md5_of_message_attributes(),
        m.attributes()
            .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
    ));
    let mut names: Vec<_> = m.message_attributes().unwrap().keys().cloned().collect();
    names.sort();
    seen.push(format!("attribute names {names:?}"));
    sqs.change_message_visibility()
        .queue_url(&url)
        .receipt_handle(m.receipt_handle().unwrap())
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    let again = sqs
        .receive_message()
        .queue_url(&url)
        .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
        .send()
        .await
        .unwrap();
    let m2 = &again.messages()[0];
    seen.push(format!(
        "again same id {} count {:?}",
        m2.message_id() == m.message_id(),
        m2.attributes()
            .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
    ));
    sqs.delete_message()
        .queue_url(&url)
        .receipt_handle(m2.receipt_handle().unwrap())
        .send()
        .await
        .unwrap();
    let empty = sqs.receive_message().queue_url(&url).send().await.unwrap();
    seen.push(format!("after delete {}", empty.messages().len()));

    let too_many = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(11)
        .send()
        .await;
    seen.push(format!(
        "receive 11: {}",
        code(&too_many.unwrap_err().into_service_error())
    ));
    let dup = sqs
        .send_message_batch()
        .queue_url(&url)
        .entries(
            SendMessageBatchRequestEntry::builder()
                .id("a")
                .message_body("1")
                .build()
                .unwrap(),
        )
        .entries(
            SendMessageBatchRequestEntry::builder()
                .id("a")
                .message_body("2")
                .build()
                .unwrap(),
        )
        .send()
        .await;
    seen.push(format!(
        "duplicate ids: {}",
        code(&dup.unwrap_err().into_service_error())
    ));
    let empty_batch = sqs.delete_message_batch().queue_url(&url).send().await;
    seen.push(format!(
        "empty batch: {}",
        code(&empty_batch.unwrap_err().into_service_error())
    ));
    let batch = sqs
        .send_message_batch()
        .queue_url(&url)
        .entries(
            SendMessageBatchRequestEntry::builder()
                .id("a")
                .message_body("1")
                .build()
                .unwrap(),
        )
        .entries(
            SendMessageBatchRequestEntry::builder()
                .id("b")
                .message_body("2")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let mut md5s: Vec<_> = batch
        .successful()
        .iter()
        .map(|s| (s.id().to_string(), s.md5_of_message_body().to_string()))
        .collect();
    md5s.sort();
    seen.push(format!("batch {md5s:?}"));

    sqs.tag_queue()
        .queue_url(&url)
        .tags("a", "1")
        .tags("b", "2")
        .send()
        .await
        .unwrap();
    sqs.untag_queue()
        .queue_url(&url)
        .tag_keys("a")
        .send()
        .await
        .unwrap();
    let tags = sqs.list_queue_tags().queue_url(&url).send().await.unwrap();
    seen.push(format!("tags {:?}", tags.tags()));

    let fifo = sqs
        .create_queue()
        .queue_name("diff.fifo")
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::ContentBasedDeduplication, "true")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let one = sqs
        .send_message()
        .queue_url(&fifo)
        .message_body("a")
        .message_group_id("g")
        .send()
        .await
        .unwrap();
    let two = sqs
        .send_message()
        .queue_url(&fifo)
        .message_body("a")
        .message_group_id("g")
        .send()
        .await
        .unwrap();
    // Real SQS answers a duplicate with the first message's id; moto makes up a new one, so
    // what is compared is that the duplicate is accepted and delivered once.
    let _ = (one, two);
    let got = sqs
        .receive_message()
        .queue_url(&fifo)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    seen.push(format!(
        "fifo dedup delivered {:?}",
        got.messages().iter().map(|m| m.body()).collect::<Vec<_>>()
    ));
    let no_group = sqs
        .send_message()
        .queue_url(&fifo)
        .message_body("b")
        .send()
        .await;
    seen.push(format!(
        "fifo without group: {}",
        code(&no_group.unwrap_err().into_service_error())
    ));
    let fifo_attrs = sqs
        .get_queue_attributes()
        .queue_url(&fifo)
        .attribute_names(QueueAttributeName::FifoQueue)
        .attribute_names(QueueAttributeName::ContentBasedDeduplication)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    let mut fifo_attrs: Vec<_> = fifo_attrs
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    fifo_attrs.sort();
    seen.push(format!("fifo attrs {fifo_attrs:?}"));
    sqs.delete_queue().queue_url(&url).send().await.unwrap();
    let gone = sqs.get_queue_url().queue_name("diff").send().await;
    seen.push(format!(
        "deleted: {}",
        code(&gone.unwrap_err().into_service_error())
    ));
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neo_and_moto_answer_the_same() {
    let Some((_moto, moto_endpoint)) = start_moto() else {
        return;
    };
    let neo = TestBroker::start_blocking();
    let expected = scenario(&client(&moto_endpoint)).await;
    let actual = scenario(&client(&neo.sqs_endpoint())).await;
    for (i, (m, n)) in expected.iter().zip(actual.iter()).enumerate() {
        assert_eq!(n, m, "observation {i} differs (left Neo, right moto)");
    }
    assert_eq!(actual.len(), expected.len());
}
