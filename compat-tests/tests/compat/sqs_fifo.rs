//! FIFO queues with `aws-sdk-sqs`: order per message group with three concurrent consumers,
//! a group blocked while it has a message in flight, deduplication by id and by content,
//! sequence numbers, and the FIFO-only parameter rules.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName,
    SendMessageBatchRequestEntry,
};
use neo_compat_tests::TestBroker;
use neo_compat_tests::sqs::{client, code, create};

const GROUPS: usize = 3;
const PER_GROUP: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_per_group_with_concurrent_consumers() {
    let broker = TestBroker::start_blocking();
    let sqs = client(&broker.sqs_endpoint());
    let url = create(
        &sqs,
        "orders.fifo",
        &[
            (QueueAttributeName::FifoQueue, "true"),
            (QueueAttributeName::ContentBasedDeduplication, "true"),
        ],
    )
    .await;
    let mut last_seq: u128 = 0;
    for chunk in 0..(GROUPS * PER_GROUP / 10) {
        let mut req = sqs.send_message_batch().queue_url(&url);
        for j in 0..10 {
            let n = chunk * 10 + j;
            let (group, index) = (n % GROUPS, n / GROUPS);
            req = req.entries(
                SendMessageBatchRequestEntry::builder()
                    .id(format!("e{j}"))
                    .message_body(format!("g{group}-{index}"))
                    .message_group_id(format!("g{group}"))
                    .build()
                    .unwrap(),
            );
        }
        let sent = req.send().await.unwrap();
        assert_eq!(sent.successful().len(), 10, "{:?}", sent.failed());
        for s in sent.successful() {
            let seq: u128 = s.sequence_number().unwrap().parse().unwrap();
            assert!(seq > last_seq);
            last_seq = seq;
        }
    }

    // A group with a message in flight is passed over.
    let first = sqs.receive_message().queue_url(&url).send().await.unwrap();
    assert_eq!(first.messages()[0].body(), Some("g0-0"));
    let second = sqs.receive_message().queue_url(&url).send().await.unwrap();
    assert_eq!(second.messages()[0].body(), Some("g1-0"));
    for m in first.messages().iter().chain(second.messages()) {
        sqs.change_message_visibility()
            .queue_url(&url)
            .receipt_handle(m.receipt_handle().unwrap())
            .visibility_timeout(0)
            .send()
            .await
            .unwrap();
    }

    let clock = Arc::new(AtomicUsize::new(0));
    let seen: Arc<Mutex<Vec<(usize, String)>>> = Arc::default();
    let mut consumers = Vec::new();
    for _ in 0..3 {
        let (sqs, url, clock, seen) = (sqs.clone(), url.clone(), clock.clone(), seen.clone());
        consumers.push(tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(20);
            while seen.lock().unwrap().len() < GROUPS * PER_GROUP && Instant::now() < deadline {
                let got = sqs
                    .receive_message()
                    .queue_url(&url)
                    .max_number_of_messages(4)
                    .wait_time_seconds(1)
                    .send()
                    .await
                    .unwrap();
                if got.messages().is_empty() {
                    continue;
                }
                {
                    let mut seen = seen.lock().unwrap();
                    for m in got.messages() {
                        seen.push((
                            clock.fetch_add(1, Ordering::SeqCst),
                            m.body().unwrap().to_string(),
                        ));
                    }
                }
                let mut delete = sqs.delete_message_batch().queue_url(&url);
                for (i, m) in got.messages().iter().enumerate() {
                    delete = delete.entries(
                        DeleteMessageBatchRequestEntry::builder()
                            .id(format!("d{i}"))
                            .receipt_handle(m.receipt_handle().unwrap())
                            .build()
                            .unwrap(),
                    );
                }
                delete.send().await.unwrap();
            }
        }));
    }
    for c in consumers {
        c.await.unwrap();
    }
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen.len(), GROUPS * PER_GROUP, "each message once");
    let mut per_group: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (_, body) in &seen {
        let (group, index) = body.split_once('-').unwrap();
        per_group
            .entry(group.to_string())
            .or_default()
            .push(index.parse().unwrap());
    }
    for (group, indexes) in per_group {
        assert_eq!(
            indexes,
            (0..PER_GROUP).collect::<Vec<_>>(),
            "group {group} in order"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deduplication_by_id_and_by_content() {
    let broker = TestBroker::start_blocking();
    let sqs = client(&broker.sqs_endpoint());
    let url = create(
        &sqs,
        "dedup.fifo",
        &[(QueueAttributeName::FifoQueue, "true")],
    )
    .await;
    // Neither a deduplication id nor content-based deduplication: refused.
    let e = sqs
        .send_message()
        .queue_url(&url)
        .message_body("x")
        .message_group_id("g")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&e), "InvalidParameterValue");
    let e = sqs
        .send_message()
        .queue_url(&url)
        .message_body("x")
        .message_deduplication_id("d")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&e), "MissingParameter");
    let first = sqs
        .send_message()
        .queue_url(&url)
        .message_body("one")
        .message_group_id("g")
        .message_deduplication_id("id-1")
        .send()
        .await
        .unwrap();
    let again = sqs
        .send_message()
        .queue_url(&url)
        .message_body("one, resent")
        .message_group_id("g")
        .message_deduplication_id("id-1")
        .send()
        .await
        .unwrap();
    assert_eq!(again.message_id, first.message_id);
    assert_eq!(again.sequence_number, first.sequence_number);

    sqs.set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::ContentBasedDeduplication, "true")
        .send()
        .await
        .unwrap();
    let mut ids = HashSet::new();
    for _ in 0..3 {
        let sent = sqs
            .send_message()
            .queue_url(&url)
            .message_body("same content")
            .message_group_id("g")
            .send()
            .await
            .unwrap();
        ids.insert(sent.message_id.unwrap());
    }
    assert_eq!(ids.len(), 1);
    let got = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap();
    // One group: its messages come in order, several in one receive, as in SQS.
    let bodies: Vec<_> = got.messages().iter().map(|m| m.body().unwrap()).collect();
    assert_eq!(bodies, ["one", "same content"]);
    let attrs = got.messages()[0].attributes().unwrap();
    assert_eq!(attrs[&MessageSystemAttributeName::MessageGroupId], "g");
    assert_eq!(
        attrs[&MessageSystemAttributeName::MessageDeduplicationId],
        "id-1"
    );
    assert_eq!(
        attrs[&MessageSystemAttributeName::SequenceNumber],
        first.sequence_number.unwrap()
    );
    sqs.send_message()
        .queue_url(&url)
        .message_body("other content")
        .message_group_id("g")
        .send()
        .await
        .unwrap();
    // The group is held while its messages are in flight.
    let blocked = sqs.receive_message().queue_url(&url).send().await.unwrap();
    assert!(blocked.messages().is_empty());
    for m in got.messages() {
        sqs.delete_message()
            .queue_url(&url)
            .receipt_handle(m.receipt_handle().unwrap())
            .send()
            .await
            .unwrap();
    }

    // A retried receive (same attempt id) gets the same message and receipt handle.
    let mut answers = Vec::new();
    for id in ["try-1", "try-1", "try-2"] {
        answers.push(
            sqs.receive_message()
                .queue_url(&url)
                .receive_request_attempt_id(id)
                .send()
                .await
                .unwrap(),
        );
    }
    assert_eq!(answers[0].messages()[0].body(), Some("other content"));
    assert_eq!(
        answers[1].messages()[0].message_id(),
        answers[0].messages()[0].message_id()
    );
    assert_eq!(
        answers[1].messages()[0].receipt_handle(),
        answers[0].messages()[0].receipt_handle()
    );
    assert!(
        answers[2].messages().is_empty(),
        "a new attempt finds the group in flight"
    );
    let e = sqs
        .send_message()
        .queue_url(&url)
        .message_body("x")
        .message_group_id("g")
        .delay_seconds(5)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&e), "InvalidParameterValue");
}
