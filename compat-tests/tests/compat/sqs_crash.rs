//! SQS durability with real processes: messages sent (answered) before a SIGKILL are there
//! after the restart, deleted ones never come back, and in-flight ones stay invisible for
//! their visibility timeout (their receipt handles still valid);
//! queues keep their attributes and tags, and FIFO deduplication ids their five minutes.

use std::collections::BTreeSet;
use std::process::Child;
use std::time::{Duration, Instant};

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, QueueAttributeName,
    SendMessageBatchRequestEntry,
};
use neo_compat_tests::child::{broker_until_killed, listening_addr, spawn_test};
use neo_compat_tests::sqs::{attributes, client, create};

const DIR_VAR: &str = "NEO_SQS_CRASH_DIR";
const COUNT: usize = 2_000;
const DELETED: usize = 600;
const IN_FLIGHT: usize = 400;

/// Not a test of its own: the broker process the crash test starts and kills.
#[test]
#[ignore = "run as a child process by another test of this file"]
fn sqs_child_broker_until_killed() {
    broker_until_killed(DIR_VAR, |broker| broker.sqs_addr);
}

/// Starts the broker process; returns it and its endpoint URL.
fn start_broker(dir: &std::path::Path) -> (Child, String) {
    let mut child = spawn_test("sqs_crash::sqs_child_broker_until_killed", [(DIR_VAR, dir)]);
    let addr = listening_addr(&mut child);
    (child, format!("http://{addr}"))
}

/// Receives up to `want` messages (visibility 600 s); returns (body index, receipt handle).
async fn receive(sqs: &Client, url: &str, want: usize) -> Vec<(usize, String)> {
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while got.len() < want && Instant::now() < deadline {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10.min((want - got.len()) as i32))
            .visibility_timeout(600)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        if out.messages().is_empty() {
            break;
        }
        for m in out.messages() {
            got.push((
                m.body().unwrap().parse().unwrap(),
                m.receipt_handle().unwrap().to_string(),
            ));
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sent_messages_survive_sigkill_deleted_ones_never_return() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, endpoint) = start_broker(dir.path());
    let sqs = client(&endpoint);
    let url = create(
        &sqs,
        "durable",
        &[(QueueAttributeName::VisibilityTimeout, "120")],
    )
    .await;
    sqs.tag_queue()
        .queue_url(&url)
        .tags("keep", "me")
        .send()
        .await
        .unwrap();
    for chunk in 0..COUNT / 10 {
        let mut req = sqs.send_message_batch().queue_url(&url);
        for j in 0..10 {
            let i = chunk * 10 + j;
            req = req.entries(
                SendMessageBatchRequestEntry::builder()
                    .id(format!("m{j}"))
                    .message_body(i.to_string())
                    .build()
                    .unwrap(),
            );
        }
        assert_eq!(req.send().await.unwrap().successful().len(), 10);
    }
    let to_delete = receive(&sqs, &url, DELETED).await;
    assert_eq!(to_delete.len(), DELETED);
    for chunk in to_delete.chunks(10) {
        let mut req = sqs.delete_message_batch().queue_url(&url);
        for (j, (_, handle)) in chunk.iter().enumerate() {
            req = req.entries(
                DeleteMessageBatchRequestEntry::builder()
                    .id(format!("d{j}"))
                    .receipt_handle(handle)
                    .build()
                    .unwrap(),
            );
        }
        assert_eq!(req.send().await.unwrap().successful().len(), chunk.len());
    }
    let in_flight = receive(&sqs, &url, IN_FLIGHT).await;
    assert_eq!(in_flight.len(), IN_FLIGHT);
    let deleted: BTreeSet<usize> = to_delete.iter().map(|(i, _)| *i).collect();
    let fifo = create(
        &sqs,
        "durable.fifo",
        &[(QueueAttributeName::FifoQueue, "true")],
    )
    .await;
    let first = sqs
        .send_message()
        .queue_url(&fifo)
        .message_body("once")
        .message_group_id("g")
        .message_deduplication_id("only-once")
        .send()
        .await
        .unwrap();

    child.kill().unwrap();
    child.wait().unwrap();
    let (mut child, endpoint) = start_broker(dir.path());
    let sqs = client(&endpoint);
    let url = sqs
        .get_queue_url()
        .queue_name("durable")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let attrs = attributes(&sqs, &url, QueueAttributeName::VisibilityTimeout).await;
    assert_eq!(attrs[&QueueAttributeName::VisibilityTimeout], "120");
    let tags = sqs.list_queue_tags().queue_url(&url).send().await.unwrap();
    assert_eq!(tags.tags().unwrap()["keep"], "me");

    let mut after: Vec<usize> = receive(&sqs, &url, COUNT)
        .await
        .into_iter()
        .map(|(i, _)| i)
        .collect();
    let held: BTreeSet<usize> = in_flight.iter().map(|(i, _)| *i).collect();
    let unique: BTreeSet<usize> = after.iter().copied().collect();
    assert_eq!(unique.len(), after.len(), "no message twice");
    let expected: BTreeSet<usize> = (0..COUNT)
        .filter(|i| !deleted.contains(i) && !held.contains(i))
        .collect();
    assert_eq!(
        unique, expected,
        "exactly the messages not deleted, in-flight ones still invisible"
    );
    // The receipt handles of before the crash still make the in-flight ones visible.
    for chunk in in_flight.chunks(10) {
        let mut req = sqs.change_message_visibility_batch().queue_url(&url);
        for (j, (_, handle)) in chunk.iter().enumerate() {
            req = req.entries(
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(format!("v{j}"))
                    .receipt_handle(handle)
                    .visibility_timeout(0)
                    .build()
                    .unwrap(),
            );
        }
        assert_eq!(req.send().await.unwrap().successful().len(), chunk.len());
    }
    after.extend(
        receive(&sqs, &url, IN_FLIGHT)
            .await
            .into_iter()
            .map(|(i, _)| i),
    );
    let unique: BTreeSet<usize> = after.iter().copied().collect();
    assert_eq!(unique.len(), after.len(), "no message twice");
    let expected: BTreeSet<usize> = (0..COUNT).filter(|i| !deleted.contains(i)).collect();
    assert_eq!(unique, expected, "exactly the messages not deleted");

    // A FIFO send retried after the restart is still a duplicate.
    let fifo = sqs
        .get_queue_url()
        .queue_name("durable.fifo")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let again = sqs
        .send_message()
        .queue_url(&fifo)
        .message_body("once")
        .message_group_id("g")
        .message_deduplication_id("only-once")
        .send()
        .await
        .unwrap();
    assert_eq!(again.message_id, first.message_id);
    assert_eq!(again.sequence_number, first.sequence_number);
    let got = sqs
        .receive_message()
        .queue_url(&fifo)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    assert_eq!(got.messages().len(), 1);
    child.kill().unwrap();
    child.wait().unwrap();
}
