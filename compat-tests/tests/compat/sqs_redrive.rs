//! Dead-letter queues with `aws-sdk-sqs`: messages received more than maxReceiveCount times
//! move to the dead-letter queue, ListDeadLetterSourceQueues names the source, and
//! StartMessageMoveTask moves them back (receive count reset) or elsewhere; cancelling a
//! task stops it; dead-letter queues chain.

use std::time::{Duration, Instant};

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use neo_compat_tests::TestBroker;
use neo_compat_tests::sqs::{client, code, create};

const ACCOUNT_ARN: &str = "arn:aws:sqs:us-east-1:000000000000";

async fn receive_all(
    sqs: &Client,
    url: &str,
    want: usize,
    visibility: i32,
) -> Vec<aws_sdk_sqs::types::Message> {
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.len() < want && Instant::now() < deadline {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(visibility)
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap();
        got.extend(out.messages().to_vec());
    }
    got
}

async fn task_status(sqs: &Client, source_arn: &str) -> (String, i64) {
    let listed = sqs
        .list_message_move_tasks()
        .source_arn(source_arn)
        .send()
        .await
        .unwrap();
    let task = &listed.results()[0];
    (
        task.status().unwrap_or_default().to_string(),
        task.approximate_number_of_messages_moved(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letter_redrive_after_max_receive_count_and_move_back() {
    let broker = TestBroker::start_blocking();
    let sqs = client(&broker.sqs_endpoint());
    let dlq = create(&sqs, "orders-dlq", &[]).await;
    let dlq_arn = format!("{ACCOUNT_ARN}:orders-dlq");
    let policy = format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"2"}}"#);
    let source = create(
        &sqs,
        "orders",
        &[(QueueAttributeName::RedrivePolicy, &policy)],
    )
    .await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let sent = sqs
            .send_message()
            .queue_url(&source)
            .message_body(format!("order {i}"))
            .send()
            .await
            .unwrap();
        ids.push(sent.message_id.unwrap());
    }
    // Two receives each (visibility 0: visible again at once); the third moves them.
    for round in 1..=2 {
        let got = receive_all(&sqs, &source, 3, 0).await;
        assert_eq!(got.len(), 3, "round {round}");
        for m in &got {
            assert_eq!(
                m.attributes().unwrap()[&MessageSystemAttributeName::ApproximateReceiveCount],
                round.to_string()
            );
        }
    }
    let after = sqs
        .receive_message()
        .queue_url(&source)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    assert!(after.messages().is_empty());
    let sources = sqs
        .list_dead_letter_source_queues()
        .queue_url(&dlq)
        .send()
        .await
        .unwrap();
    assert_eq!(sources.queue_urls(), std::slice::from_ref(&source));

    let dead = receive_all(&sqs, &dlq, 3, 0).await;
    let mut dead_ids: Vec<String> = dead
        .iter()
        .map(|m| m.message_id().unwrap().to_string())
        .collect();
    dead_ids.sort();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(
        dead_ids, sorted,
        "message ids kept in the dead-letter queue"
    );
    assert_eq!(
        dead[0].attributes().unwrap()[&MessageSystemAttributeName::DeadLetterQueueSourceArn],
        format!("{ACCOUNT_ARN}:orders")
    );

    // Not a dead-letter queue: refused.
    let e = sqs
        .start_message_move_task()
        .source_arn(format!("{ACCOUNT_ARN}:orders"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&e), "InvalidParameterValue");

    let task = sqs
        .start_message_move_task()
        .source_arn(&dlq_arn)
        .send()
        .await
        .unwrap();
    assert!(task.task_handle.is_some());
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut status = task_status(&sqs, &dlq_arn).await;
    while status.0 != "COMPLETED" && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        status = task_status(&sqs, &dlq_arn).await;
    }
    assert_eq!(status, ("COMPLETED".to_string(), 3));
    let back = receive_all(&sqs, &source, 3, 30).await;
    assert_eq!(back.len(), 3);
    for m in &back {
        assert!(ids.contains(&m.message_id().unwrap().to_string()));
        assert_eq!(
            m.attributes().unwrap()[&MessageSystemAttributeName::ApproximateReceiveCount],
            "1",
            "receive count starts again"
        );
    }
    let e = sqs
        .cancel_message_move_task()
        .task_handle("bogus")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_resource_not_found_exception(), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn move_task_to_another_queue_at_a_rate_can_be_cancelled() {
    let broker = TestBroker::start_blocking();
    let sqs = client(&broker.sqs_endpoint());
    let dlq = create(&sqs, "slow-dlq", &[]).await;
    let dlq_arn = format!("{ACCOUNT_ARN}:slow-dlq");
    let policy = format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":5}}"#);
    create(
        &sqs,
        "slow",
        &[(QueueAttributeName::RedrivePolicy, &policy)],
    )
    .await;
    let elsewhere = create(&sqs, "elsewhere", &[]).await;
    for i in 0..20 {
        sqs.send_message()
            .queue_url(&dlq)
            .message_body(format!("m{i}"))
            .send()
            .await
            .unwrap();
    }
    let task = sqs
        .start_message_move_task()
        .source_arn(&dlq_arn)
        .destination_arn(format!("{ACCOUNT_ARN}:elsewhere"))
        .max_number_of_messages_per_second(2)
        .send()
        .await
        .unwrap();
    let e = sqs
        .start_message_move_task()
        .source_arn(&dlq_arn)
        .send()
        .await
        .unwrap_err();
    assert!(
        !code(&e.into_service_error()).is_empty(),
        "one running task per source"
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let cancelled = sqs
        .cancel_message_move_task()
        .task_handle(task.task_handle.unwrap())
        .send()
        .await
        .unwrap();
    assert!(cancelled.approximate_number_of_messages_moved() < 20);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut status = task_status(&sqs, &dlq_arn).await;
    while status.0 != "CANCELLED" && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        status = task_status(&sqs, &dlq_arn).await;
    }
    assert_eq!(status.0, "CANCELLED");
    let moved = receive_all(&sqs, &elsewhere, status.1 as usize, 30).await;
    assert_eq!(moved.len() as i64, status.1);
    assert!(status.1 >= 1 && status.1 < 20, "moved {}", status.1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redrive_allow_policy_decides_which_queues_may_dead_letter() {
    let broker = TestBroker::start_blocking();
    let sqs = client(&broker.sqs_endpoint());
    let allowed = format!("{ACCOUNT_ARN}:allowed");
    create(
        &sqs,
        "picky-dlq",
        &[(
            QueueAttributeName::RedriveAllowPolicy,
            &format!(r#"{{"redrivePermission":"byQueue","sourceQueueArns":["{allowed}"]}}"#),
        )],
    )
    .await;
    let policy =
        format!(r#"{{"deadLetterTargetArn":"{ACCOUNT_ARN}:picky-dlq","maxReceiveCount":3}}"#);
    create(
        &sqs,
        "allowed",
        &[(QueueAttributeName::RedrivePolicy, &policy)],
    )
    .await;
    let e = sqs
        .create_queue()
        .queue_name("refused")
        .attributes(QueueAttributeName::RedrivePolicy, &policy)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&e), "InvalidParameterValue");
    let missing = format!(r#"{{"deadLetterTargetArn":"{ACCOUNT_ARN}:nope","maxReceiveCount":3}}"#);
    let e = sqs
        .create_queue()
        .queue_name("orphan")
        .attributes(QueueAttributeName::RedrivePolicy, &missing)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&e), "InvalidParameterValue");
}

/// A dead-letter queue with a dead-letter queue of its own: a message counts its receives
/// afresh in each queue (not moved on at once by its first receive in the middle one), and
/// keeps its id and body to the end of the chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chained_dead_letter_queues_count_receives_per_queue() {
    let broker = TestBroker::start_blocking();
    let sqs = client(&broker.sqs_endpoint());
    let last = create(&sqs, "last", &[]).await;
    let to = |name: &str| {
        format!(r#"{{"deadLetterTargetArn":"{ACCOUNT_ARN}:{name}","maxReceiveCount":"1"}}"#)
    };
    let middle = create(
        &sqs,
        "middle",
        &[(QueueAttributeName::RedrivePolicy, &to("last"))],
    )
    .await;
    let first = create(
        &sqs,
        "first",
        &[(QueueAttributeName::RedrivePolicy, &to("middle"))],
    )
    .await;
    let sent = sqs
        .send_message()
        .queue_url(&first)
        .message_body("poison")
        .send()
        .await
        .unwrap();
    let id = sent.message_id.unwrap();

    // One receive in each queue; the second moves the message on.
    for url in [&first, &middle, &last] {
        let got = receive_all(&sqs, url, 1, 0).await;
        assert_eq!(got.len(), 1, "{url}");
        assert_eq!(got[0].message_id(), Some(id.as_str()));
        assert_eq!(got[0].body(), Some("poison"));
        let count =
            &got[0].attributes().unwrap()[&MessageSystemAttributeName::ApproximateReceiveCount];
        assert_eq!(count, "1", "{url}");
        if url != &last {
            let again = sqs.receive_message().queue_url(url).send().await.unwrap();
            assert!(again.messages().is_empty(), "{url} kept the message");
        }
    }
    let sources = sqs
        .list_dead_letter_source_queues()
        .queue_url(&last)
        .send()
        .await
        .unwrap();
    assert_eq!(sources.queue_urls(), std::slice::from_ref(&middle));
}
