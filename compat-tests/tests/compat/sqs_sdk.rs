//! The AWS SDK for Rust (`aws-sdk-sqs`, AWS JSON 1.0 protocol) against Neo's SQS gateway:
//! queue lifecycle, attributes and tags; messages with typed attributes and their MD5s;
//! long polling; visibility timeouts; batches; errors; dead-letter redrive and move tasks;
//! FIFO order and deduplication.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_sqs::Client;
use aws_sdk_sqs::primitives::Blob;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry,
    MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName,
    SendMessageBatchRequestEntry,
};
use neo_compat_tests::TestBroker;
use neo_compat_tests::sqs::{attributes, code, create};

fn client(broker: &TestBroker) -> Client {
    neo_compat_tests::sqs::client(&broker.sqs_endpoint())
}

fn md5_hex(bytes: &[u8]) -> String {
    use md5::{Digest, Md5};
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_lifecycle_attributes_and_tags() {
    let broker = TestBroker::start_blocking();
    let sqs = client(&broker);
    let url = create(
        &sqs,
        "jobs",
        &[(QueueAttributeName::VisibilityTimeout, "45")],
    )
    .await;
    assert!(url.ends_with("/000000000000/jobs"), "{url}");
    // Same attributes: the same queue; different ones: QueueNameExists.
    assert_eq!(
        create(
            &sqs,
            "jobs",
            &[(QueueAttributeName::VisibilityTimeout, "45")]
        )
        .await,
        url
    );
    let e = sqs
        .create_queue()
        .queue_name("jobs")
        .attributes(QueueAttributeName::VisibilityTimeout, "46")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_queue_name_exists(), "{e:?}");
    assert_eq!(code(&e), "QueueAlreadyExists");
    for name in ["jobs-a", "jobs-b", "other"] {
        create(&sqs, name, &[]).await;
    }
    let got = sqs
        .get_queue_url()
        .queue_name("jobs-a")
        .send()
        .await
        .unwrap();
    assert!(got.queue_url.unwrap().ends_with("/jobs-a"));

    // ListQueues by prefix, in pages.
    let listed = sqs
        .list_queues()
        .queue_name_prefix("jobs")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.queue_urls().len(), 3);
    let page1 = sqs
        .list_queues()
        .queue_name_prefix("jobs")
        .max_results(2)
        .send()
        .await
        .unwrap();
    assert_eq!(page1.queue_urls().len(), 2);
    let page2 = sqs
        .list_queues()
        .queue_name_prefix("jobs")
        .max_results(2)
        .next_token(page1.next_token.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(page2.queue_urls().len(), 1);
    assert!(page2.next_token.is_none());

    // Attributes: All, one by one, set.
    let all = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let attrs = all.attributes.unwrap();
    assert_eq!(attrs[&QueueAttributeName::VisibilityTimeout], "45");
    assert_eq!(attrs[&QueueAttributeName::DelaySeconds], "0");
    assert_eq!(attrs[&QueueAttributeName::MaximumMessageSize], "262144");
    assert_eq!(attrs[&QueueAttributeName::MessageRetentionPeriod], "345600");
    assert_eq!(attrs[&QueueAttributeName::ApproximateNumberOfMessages], "0");
    assert_eq!(
        attrs[&QueueAttributeName::QueueArn],
        "arn:aws:sqs:us-east-1:000000000000:jobs"
    );
    assert!(
        attrs[&QueueAttributeName::CreatedTimestamp]
            .parse::<i64>()
            .unwrap()
            > 1_600_000_000
    );
    sqs.set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::DelaySeconds, "2")
        .attributes(QueueAttributeName::ReceiveMessageWaitTimeSeconds, "1")
        .send()
        .await
        .unwrap();
    let some = attributes(&sqs, &url, QueueAttributeName::DelaySeconds).await;
    assert_eq!(some.len(), 1);
    assert_eq!(some[&QueueAttributeName::DelaySeconds], "2");
    let e = sqs
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::DelaySeconds, "901")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&e), "InvalidAttributeValue");

    // Tags.
    sqs.tag_queue()
        .queue_url(&url)
        .tags("env", "test")
        .tags("team", "core")
        .send()
        .await
        .unwrap();
    sqs.untag_queue()
        .queue_url(&url)
        .tag_keys("team")
        .send()
        .await
        .unwrap();
    let tags = sqs
        .list_queue_tags()
        .queue_url(&url)
        .send()
        .await
        .unwrap()
        .tags
        .unwrap();
    assert_eq!(
        tags,
        HashMap::from([("env".to_string(), "test".to_string())])
    );

    // Delete: gone, and the name is taken for a minute.
    sqs.delete_queue().queue_url(&url).send().await.unwrap();
    let e = sqs
        .get_queue_url()
        .queue_name("jobs")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_queue_does_not_exist(), "{e:?}");
    assert_eq!(code(&e), "AWS.SimpleQueueService.NonExistentQueue");
    let e = sqs
        .create_queue()
        .queue_name("jobs")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_queue_deleted_recently(), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_with_typed_attributes_and_their_md5s() {
    let broker = TestBroker::start_blocking();
    let sqs = client(&broker);
    let url = create(&sqs, "typed", &[]).await;
    let body = "héllo wörld 😀";
    let sent = sqs
        .send_message()
        .queue_url(&url)
        .message_body(body)
        .message_attributes(
            "s",
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value("text")
                .build()
                .unwrap(),
        )
        .message_attributes(
            "n",
            MessageAttributeValue::builder()
                .data_type("Number.int")
                .string_value("42")
                .build()
                .unwrap(),
        )
        .message_attributes(
            "b",
            MessageAttributeValue::builder()
                .data_type("Binary")
                .binary_value(Blob::new(vec![0u8, 1, 255]))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        sent.md5_of_message_body.as_deref(),
        Some(md5_hex(body.as_bytes()).as_str())
    );
    let attrs_md5 = sent.md5_of_message_attributes.clone().unwrap();
    let got = sqs
        .receive_message()
        .queue_url(&url)
        .message_attribute_names("All")
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap();
    let m = &got.messages()[0];
    assert_eq!(m.body(), Some(body));
    assert_eq!(m.message_id(), sent.message_id.as_deref());
    assert_eq!(m.md5_of_body(), sent.md5_of_message_body.as_deref());
    assert_eq!(m.md5_of_message_attributes(), Some(attrs_md5.as_str()));
    let attrs = m.message_attributes().unwrap();
    assert_eq!(attrs["s"].string_value(), Some("text"));
    assert_eq!(attrs["n"].data_type(), "Number.int");
    assert_eq!(attrs["b"].binary_value().unwrap().as_ref(), &[0u8, 1, 255]);
    let system = m.attributes().unwrap();
    assert_eq!(
        system[&MessageSystemAttributeName::ApproximateReceiveCount],
        "1"
    );
    assert!(system.contains_key(&MessageSystemAttributeName::SentTimestamp));
    assert!(system.contains_key(&MessageSystemAttributeName::ApproximateFirstReceiveTimestamp));

    // A prefix wildcard selects attributes by name; the MD5 covers the ones returned.
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
        .message_attribute_names("s")
        .send()
        .await
        .unwrap();
    let m2 = &again.messages()[0];
    assert_ne!(
        m2.receipt_handle(),
        m.receipt_handle(),
        "a new handle each receive"
    );
    assert_eq!(m2.message_attributes().unwrap().len(), 1);
    assert_ne!(m2.md5_of_message_attributes(), Some(attrs_md5.as_str()));
    sqs.delete_message()
        .queue_url(&url)
        .receipt_handle(m2.receipt_handle().unwrap())
        .send()
        .await
        .unwrap();
    let empty = sqs.receive_message().queue_url(&url).send().await.unwrap();
    assert!(empty.messages().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_returns_as_soon_as_a_message_is_sent() {
    let broker = TestBroker::start_blocking();
    let sqs = client(&broker);
    let url = create(&sqs, "poll", &[]).await;
    let started = Instant::now();
    let empty = sqs
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    assert!(empty.messages().is_empty());
    assert!(started.elapsed() >= Duration::from_millis(900));

    let poller = {
        let sqs = sqs.clone();
        let url = url.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let got = sqs
                .receive_message()
                .queue_url(&url)
                .wait_time_seconds(20)
                .send()
                .await
                .unwrap();
            (started.elapsed(), got.messages().len())
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    sqs.send_message()
        .queue_url(&url)
        .message_body("wake up")
        .send()
        .await
        .unwrap();
    let (waited, count) = tokio::time::timeout(Duration::from_secs(10), poller)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(count, 1);
    assert!(waited < Duration::from_secs(5), "waited {waited:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_reappears_after_its_visibility_timeout_and_not_before() {
    let broker = TestBroker::start_blocking();
    let sqs = client(&broker);
    let url = create(&sqs, "vis", &[(QueueAttributeName::VisibilityTimeout, "2")]).await;
    sqs.send_message()
        .queue_url(&url)
        .message_body("once")
        .send()
        .await
        .unwrap();
    let first = sqs.receive_message().queue_url(&url).send().await.unwrap();
    assert_eq!(first.messages().len(), 1);
    let received_at = Instant::now();
    let attrs = attributes(&sqs, &url, QueueAttributeName::All).await;
    assert_eq!(
        attrs[&QueueAttributeName::ApproximateNumberOfMessagesNotVisible],
        "1"
    );
    assert_eq!(attrs[&QueueAttributeName::ApproximateNumberOfMessages], "0");
    // Not before the timeout...
    let hidden = sqs
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    assert!(hidden.messages().is_empty());
    // ...and again after it, with a receive count of 2.
    let again = sqs
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(5)
        .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
        .send()
        .await
        .unwrap();
    assert!(received_at.elapsed() >= Duration::from_millis(1900));
    let m = &again.messages()[0];
    assert_eq!(m.body(), Some("once"));
    assert_eq!(
        m.attributes().unwrap()[&MessageSystemAttributeName::ApproximateReceiveCount],
        "2"
    );
    // The first receive's handle no longer changes the visibility.
    let stale = first.messages()[0].receipt_handle().unwrap();
    let e = sqs
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(stale)
        .visibility_timeout(10)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_message_not_inflight(), "{e:?}");
    // Extending the current one keeps it hidden past the queue's timeout.
    sqs.change_message_visibility()
        .queue_url(&url)
        .receipt_handle(m.receipt_handle().unwrap())
        .visibility_timeout(30)
        .send()
        .await
        .unwrap();
    let hidden = sqs
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(3)
        .send()
        .await
        .unwrap();
    assert!(hidden.messages().is_empty());
    let e = sqs
        .delete_message()
        .queue_url(&url)
        .receipt_handle("not-a-handle")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_receipt_handle_is_invalid(), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_send_receive_change_and_delete_with_entry_errors() {
    let broker = TestBroker::start_blocking();
    let sqs = client(&broker);
    let url = create(&sqs, "batch", &[]).await;
    let mut req = sqs.send_message_batch().queue_url(&url);
    for i in 0..10 {
        req = req.entries(
            SendMessageBatchRequestEntry::builder()
                .id(format!("m{i}"))
                .message_body(if i == 3 {
                    "\u{1}bad".to_string()
                } else {
                    format!("body {i}")
                })
                .build()
                .unwrap(),
        );
    }
    let sent = req.send().await.unwrap();
    assert_eq!(sent.successful().len(), 9);
    assert_eq!(sent.failed().len(), 1);
    assert_eq!(sent.failed()[0].id(), "m3");
    assert!(sent.failed()[0].sender_fault());

    let mut received = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while received.len() < 9 && Instant::now() < deadline {
        let got = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        received.extend(got.messages().to_vec());
    }
    assert_eq!(received.len(), 9);
    let mut change = sqs.change_message_visibility_batch().queue_url(&url);
    for (i, m) in received.iter().take(2).enumerate() {
        change = change.entries(
            ChangeMessageVisibilityBatchRequestEntry::builder()
                .id(format!("c{i}"))
                .receipt_handle(m.receipt_handle().unwrap())
                .visibility_timeout(60)
                .build()
                .unwrap(),
        );
    }
    change = change.entries(
        ChangeMessageVisibilityBatchRequestEntry::builder()
            .id("bad")
            .receipt_handle("garbage")
            .visibility_timeout(60)
            .build()
            .unwrap(),
    );
    let changed = change.send().await.unwrap();
    assert_eq!(changed.successful().len(), 2);
    assert_eq!(changed.failed()[0].code(), "ReceiptHandleIsInvalid");

    let mut delete = sqs.delete_message_batch().queue_url(&url);
    for (i, m) in received.iter().enumerate() {
        delete = delete.entries(
            DeleteMessageBatchRequestEntry::builder()
                .id(format!("d{i}"))
                .receipt_handle(m.receipt_handle().unwrap())
                .build()
                .unwrap(),
        );
    }
    let deleted = delete.send().await.unwrap();
    assert_eq!(deleted.successful().len(), 9);

    // Batch-level errors.
    let e = sqs
        .delete_message_batch()
        .queue_url(&url)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_empty_batch_request(), "{e:?}");
    let mut too_many = sqs.send_message_batch().queue_url(&url);
    for i in 0..11 {
        too_many = too_many.entries(
            SendMessageBatchRequestEntry::builder()
                .id(format!("m{i}"))
                .message_body("x")
                .build()
                .unwrap(),
        );
    }
    let e = too_many.send().await.unwrap_err().into_service_error();
    assert!(e.is_too_many_entries_in_batch_request(), "{e:?}");
    let e = sqs
        .send_message_batch()
        .queue_url(&url)
        .entries(
            SendMessageBatchRequestEntry::builder()
                .id("a")
                .message_body("x")
                .build()
                .unwrap(),
        )
        .entries(
            SendMessageBatchRequestEntry::builder()
                .id("a")
                .message_body("y")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_batch_entry_ids_not_distinct(), "{e:?}");
    let e = sqs
        .send_message_batch()
        .queue_url(&url)
        .entries(
            SendMessageBatchRequestEntry::builder()
                .id("a b")
                .message_body("x")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_invalid_batch_entry_id(), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_sqs_errors() {
    let broker = TestBroker::start_blocking();
    let sqs = client(&broker);
    let url = create(
        &sqs,
        "errors",
        &[(QueueAttributeName::MaximumMessageSize, "1024")],
    )
    .await;
    let e = sqs
        .receive_message()
        .queue_url(format!("{}/000000000000/missing", broker.sqs_endpoint()))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_queue_does_not_exist(), "{e:?}");
    let e = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(11)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&e), "InvalidParameterValue");
    let e = sqs
        .send_message()
        .queue_url(&url)
        .message_body("x".repeat(1025))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&e), "InvalidParameterValue");
    let e = sqs
        .send_message()
        .queue_url(&url)
        .message_body("nul \u{0} inside")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&e), "InvalidMessageContents");
    let e = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::from("Bogus"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&e), "InvalidAttributeName");
    let e = sqs
        .create_queue()
        .queue_name("bad name!")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&e), "InvalidParameterValue");
    let e = sqs
        .send_message()
        .queue_url(&url)
        .message_body("x")
        .message_attributes(
            "n",
            MessageAttributeValue::builder()
                .data_type("Number")
                .string_value("not a number")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&e), "InvalidParameterValue");
    sqs.purge_queue().queue_url(&url).send().await.unwrap();
    let e = sqs
        .purge_queue()
        .queue_url(&url)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_purge_queue_in_progress(), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delays_purge_and_counts() {
    let broker = TestBroker::start_blocking();
    let sqs = client(&broker);
    let url = create(&sqs, "delays", &[(QueueAttributeName::DelaySeconds, "1")]).await;
    sqs.send_message()
        .queue_url(&url)
        .message_body("queue delay")
        .send()
        .await
        .unwrap();
    sqs.send_message()
        .queue_url(&url)
        .message_body("no delay")
        .delay_seconds(0)
        .send()
        .await
        .unwrap();
    let attrs = attributes(&sqs, &url, QueueAttributeName::All).await;
    assert_eq!(
        attrs[&QueueAttributeName::ApproximateNumberOfMessagesDelayed],
        "1"
    );
    assert_eq!(attrs[&QueueAttributeName::ApproximateNumberOfMessages], "1");
    let got = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    assert_eq!(got.messages().len(), 1);
    assert_eq!(got.messages()[0].body(), Some("no delay"));
    let later = sqs
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(5)
        .send()
        .await
        .unwrap();
    assert_eq!(later.messages()[0].body(), Some("queue delay"));
    for i in 0..5 {
        sqs.send_message()
            .queue_url(&url)
            .message_body(format!("p{i}"))
            .send()
            .await
            .unwrap();
    }
    sqs.purge_queue().queue_url(&url).send().await.unwrap();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    assert_eq!(attrs[&QueueAttributeName::ApproximateNumberOfMessages], "0");
    assert_eq!(
        attrs[&QueueAttributeName::ApproximateNumberOfMessagesNotVisible],
        "0"
    );
    let none = sqs
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(2)
        .send()
        .await
        .unwrap();
    assert!(none.messages().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_after_the_visibility_timeout_still_deletes() {
    let broker = TestBroker::start_blocking();
    let sqs = client(&broker);
    let url = create(&sqs, "late-delete", &[]).await;
    sqs.send_message()
        .queue_url(&url)
        .message_body("late")
        .send()
        .await
        .unwrap();
    let got = sqs
        .receive_message()
        .queue_url(&url)
        .visibility_timeout(1)
        .send()
        .await
        .unwrap();
    let handle = got.messages()[0].receipt_handle().unwrap().to_string();
    // Visible again (the attribute read releases ended locks) before the delete.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let attrs = attributes(&sqs, &url, QueueAttributeName::ApproximateNumberOfMessages).await;
        if attrs[&QueueAttributeName::ApproximateNumberOfMessages] == "1" {
            break;
        }
        assert!(Instant::now() < deadline, "visible again within 10 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sqs.delete_message()
        .queue_url(&url)
        .receipt_handle(&handle)
        .send()
        .await
        .unwrap();
    let after = sqs
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    assert!(
        after.messages().is_empty(),
        "deleted with its latest handle"
    );
}
