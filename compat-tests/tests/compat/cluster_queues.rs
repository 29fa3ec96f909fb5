//! Queues on a cluster of three `neo serve` processes: a queue's acknowledgements and holds
//! are records of its replicated cursor topic, so when the broker leading an AMQP queue is
//! SIGKILLed, a lapin client reconnecting to the new leader finds every confirmed message
//! except the acknowledged ones, and those it held come back marked redelivered. The same for
//! an SQS queue with aws-sdk-sqs, talking to brokers that do not lead the queue (they forward
//! its requests to the one that does): deleted messages never come back after the failover,
//! the rest are all received, and the queue's attributes hold everywhere. And AMQP clients of
//! brokers that do not lead their queue, whose operations are forwarded to the leader: through
//! its failover, and through the death of the broker they reached it by.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::QueueAttributeName;
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection};
use neo_compat_tests::amqp::declare_durable;
use neo_compat_tests::cluster::Cluster;
use neo_compat_tests::sqs::{attributes, client, create};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::cluster_topics::create_topics;

const QUEUE: &str = "jobs";
/// The queue's topic (AMQP queue `jobs`).
const TOPIC: &str = "amqp.jobs";
const COUNT: u32 = 300;
const ACKED: u32 = 100;
const HELD: u32 = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_queue_leader_keeps_acknowledgements_and_holds() {
    let mut cluster = Cluster::start(3);
    let bootstrap = cluster.bootstrap_servers();
    create_topics(&bootstrap, &[(TOPIC, 1, 3)]).await;
    let leader = queue_leader(&bootstrap, None);

    let conn = connect(&cluster, leader).await;
    let ch = conn.create_channel().await.unwrap();
    declare(&ch, QUEUE).await;
    publish_to(&ch, QUEUE, 0..COUNT).await;

    // ACKED + HELD are delivered (the prefetch limit), the consumer cancelled (so nothing
    // more comes), then the first ACKED acknowledged: the next HELD stay held.
    let consumer = conn.create_channel().await.unwrap();
    consumer
        .basic_qos((ACKED + HELD) as u16, BasicQosOptions::default())
        .await
        .unwrap();
    let mut deliveries = consume_from(&consumer, QUEUE).await;
    let mut delivered = Vec::new();
    for _ in 0..ACKED + HELD {
        let delivery = next(&mut deliveries).await;
        assert!(!delivery.redelivered);
        delivered.push(delivery);
    }
    consumer
        .basic_cancel(deliveries.tag(), BasicCancelOptions::default())
        .await
        .unwrap();
    for delivery in delivered {
        if index(&delivery.data) < ACKED {
            delivery.ack(BasicAckOptions::default()).await.unwrap();
        }
    }
    // The acknowledgements reach the cursor topic's replicas within milliseconds.
    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster.kill(leader);
    drop(deliveries);

    // The client reconnects to the queue's new leader and gets everything but the
    // acknowledged records: the held ones marked redelivered, the rest not.
    let leader = queue_leader(&bootstrap, Some(leader));
    let conn = connect(&cluster, leader).await;
    let consumer = conn.create_channel().await.unwrap();
    let mut deliveries = consume_from(&consumer, QUEUE).await;
    receive_after_failover(&mut deliveries, COUNT - ACKED).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_requests_reach_the_queue_leader_through_any_broker_across_a_failover() {
    const SENT: usize = 100;
    const DELETED: usize = 20;
    let mut cluster = Cluster::start(3);
    let bootstrap = cluster.bootstrap_servers();
    // Created through broker 1, whichever broker comes to lead it.
    let sqs = client(&format!("http://{}", cluster.sqs_addr(1)));
    create(
        &sqs,
        "tasks",
        &[(QueueAttributeName::VisibilityTimeout, "1")],
    )
    .await;
    let leader = leader_of(&bootstrap, "sqs.tasks", None);
    // Every request below goes to a broker that does not lead the queue.
    let other = |leader: u64, not: u64| (1..=3).find(|id| *id != leader && *id != not).unwrap();
    let sqs = client(&format!(
        "http://{}",
        cluster.sqs_addr(other(leader, leader))
    ));
    let url = sqs
        .get_queue_url()
        .queue_name("tasks")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let attrs = attributes(&sqs, &url, QueueAttributeName::VisibilityTimeout).await;
    assert_eq!(attrs[&QueueAttributeName::VisibilityTimeout], "1");
    for i in 0..SENT {
        sqs.send_message()
            .queue_url(&url)
            .message_body(i.to_string())
            .send()
            .await
            .unwrap();
    }
    // Received and deleted (DeleteMessage answers once the deletion is replicated).
    let mut deleted = Vec::new();
    while deleted.len() < DELETED {
        let got = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        for m in got.messages.unwrap_or_default() {
            if deleted.len() < DELETED {
                sqs.delete_message()
                    .queue_url(&url)
                    .receipt_handle(m.receipt_handle.unwrap())
                    .send()
                    .await
                    .unwrap();
                deleted.push(m.body.unwrap());
            }
        }
    }
    cluster.kill(leader);

    let dead = leader;
    let leader = leader_of(&bootstrap, "sqs.tasks", Some(dead));
    let sqs = client(&format!("http://{}", cluster.sqs_addr(other(leader, dead))));
    let mut received = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while received.len() < SENT - DELETED {
        assert!(Instant::now() < deadline, "received {received:?}");
        let got = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await;
        let Ok(got) = got else {
            // The new leader is still taking the queue's cursor over.
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        for m in got.messages.unwrap_or_default() {
            let body = m.body.unwrap();
            assert!(!deleted.contains(&body), "message {body} was deleted");
            received.insert(body);
            // Not retried: a deletion lost to a failover only means the message comes again.
            let _ = sqs
                .delete_message()
                .queue_url(&url)
                .receipt_handle(m.receipt_handle.unwrap())
                .send()
                .await;
        }
    }
}

/// SQS messages received before their queue's leader is SIGKILLed stay invisible for their
/// visibility timeout on the new leader, and the receipt handles of before the failover still
/// change their visibility and delete them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_visibility_and_receipt_handles_survive_a_failover() {
    const SENT: usize = 10;
    let mut cluster = Cluster::start(3);
    let bootstrap = cluster.bootstrap_servers();
    let sqs = client(&format!("http://{}", cluster.sqs_addr(1)));
    let url = create(
        &sqs,
        "invisible",
        &[(QueueAttributeName::VisibilityTimeout, "60")],
    )
    .await;
    let leader = leader_of(&bootstrap, "sqs.invisible", None);
    let others: Vec<u64> = (1..=3).filter(|id| *id != leader).collect();
    let sqs = client(&format!("http://{}", cluster.sqs_addr(others[0])));
    for i in 0..SENT {
        sqs.send_message()
            .queue_url(&url)
            .message_body(i.to_string())
            .send()
            .await
            .unwrap();
    }
    let mut handles = BTreeMap::new();
    while handles.len() < SENT {
        let got = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        for m in got.messages.unwrap_or_default() {
            handles.insert(m.body.unwrap(), m.receipt_handle.unwrap());
        }
    }
    // The locks reach the cursor topic's replicas within milliseconds.
    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster.kill(leader);
    leader_of(&bootstrap, "sqs.invisible", Some(leader));

    // Message 0 made visible with its handle of before the failover: it alone comes back.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let changed = sqs
            .change_message_visibility()
            .queue_url(&url)
            .receipt_handle(&handles["0"])
            .visibility_timeout(0)
            .send()
            .await;
        match changed {
            Ok(_) => break,
            // The new leader is still taking the queue's cursor over.
            Err(e) => assert!(Instant::now() < deadline, "{e:?}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let got = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .wait_time_seconds(2)
        .send()
        .await
        .unwrap();
    let bodies: Vec<String> = got
        .messages
        .unwrap_or_default()
        .into_iter()
        .map(|m| m.body.unwrap())
        .collect();
    assert_eq!(bodies, ["0"], "the others are still invisible");
    for (body, handle) in &handles {
        if body != "0" {
            sqs.delete_message()
                .queue_url(&url)
                .receipt_handle(handle)
                .send()
                .await
                .unwrap();
        }
    }
    let attrs = attributes(
        &sqs,
        &url,
        QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
    )
    .await;
    assert_eq!(
        attrs[&QueueAttributeName::ApproximateNumberOfMessagesNotVisible],
        "1"
    );
}

/// The broker leading `TOPIC`'s partition, other than `not` (a broker just killed).
fn queue_leader(bootstrap: &str, not: Option<u64>) -> u64 {
    leader_of(bootstrap, TOPIC, not)
}

/// The broker leading partition 0 of `topic`, other than `not` (a broker just killed).
pub fn leader_of(bootstrap: &str, topic: &str, not: Option<u64>) -> u64 {
    leader_of_partition(bootstrap, topic, 0, not)
}

/// The broker leading partition `index` of `topic`, other than `not`.
pub fn leader_of_partition(bootstrap: &str, topic: &str, index: i32, not: Option<u64>) -> u64 {
    let client: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(metadata) = client.fetch_metadata(Some(topic), Duration::from_secs(5))
            && let Some(partition) = metadata.topics()[0]
                .partitions()
                .iter()
                .find(|p| p.id() == index)
            && partition.leader() > 0
            && Some(partition.leader() as u64) != not
        {
            return partition.leader() as u64;
        }
        assert!(Instant::now() < deadline, "{topic} has no new leader");
        std::thread::sleep(Duration::from_millis(100));
    }
}

async fn connect(cluster: &Cluster, id: u64) -> Connection {
    neo_compat_tests::amqp::connect(&format!("amqp://guest:guest@{}/%2f", cluster.amqp_addr(id)))
        .await
}

async fn next(deliveries: &mut lapin::Consumer) -> lapin::message::Delivery {
    tokio::time::timeout(Duration::from_secs(30), deliveries.next())
        .await
        .expect("no delivery within 30 s")
        .unwrap()
        .unwrap()
}

fn index(body: &[u8]) -> u32 {
    std::str::from_utf8(body).unwrap().parse().unwrap()
}

/// An AMQP client connected to a broker that does not lead its queue: declares, publishes
/// with confirms, reads with basic.get, consumes and acknowledges through it (the broker
/// forwards each operation to the queue's leader); a channel closed there gives its
/// deliveries back; and when the queue's leader is SIGKILLed, the same connection goes on
/// with the new leader: acknowledged messages never come back, held ones come back marked
/// redelivered, and new publishes are confirmed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_clients_of_any_broker_use_a_queue_led_elsewhere_across_its_failover() {
    const NAME: &str = "remote";
    let mut cluster = Cluster::start(3);
    let bootstrap = cluster.bootstrap_servers();
    // Declared through broker 1; then everything goes through a broker that does not lead
    // the queue.
    let first = connect(&cluster, 1).await;
    declare(&first.create_channel().await.unwrap(), NAME).await;
    let leader = leader_of(&bootstrap, "amqp.remote", None);
    let via = (1..=3).find(|id| *id != leader).unwrap();
    let conn = connect(&cluster, via).await;
    let ch = conn.create_channel().await.unwrap();
    let declared = declare(&ch, NAME).await;
    assert_eq!(declared.message_count(), 0);
    publish_to(&ch, NAME, 0..COUNT).await;
    assert_eq!(declare(&ch, NAME).await.message_count(), COUNT);

    let got = ch
        .basic_get(NAME.into(), lapin::options::BasicGetOptions::default())
        .await
        .unwrap()
        .expect("basic.get through a broker not leading the queue");
    assert_eq!(index(&got.delivery.data), 0);
    assert_eq!(got.message_count, COUNT - 1);
    got.delivery.ack(BasicAckOptions::default()).await.unwrap();

    // A channel that closes with unacknowledged deliveries gives them back, redelivered.
    let closing = conn.create_channel().await.unwrap();
    closing
        .basic_qos(10, BasicQosOptions::default())
        .await
        .unwrap();
    let mut deliveries = consume_from(&closing, NAME).await;
    for _ in 0..10 {
        next(&mut deliveries).await;
    }
    closing.close(200, "bye".into()).await.unwrap();
    drop(deliveries);

    // Acknowledged through the forwarding broker: 1..ACKED; then ACKED..ACKED+HELD held
    // (message 0 went to basic.get).
    let consumer = conn.create_channel().await.unwrap();
    consumer
        .basic_qos((ACKED + HELD - 1) as u16, BasicQosOptions::default())
        .await
        .unwrap();
    let mut deliveries = consume_from(&consumer, NAME).await;
    let mut delivered = Vec::new();
    for _ in 1..ACKED + HELD {
        let delivery = next(&mut deliveries).await;
        assert_eq!(delivery.redelivered, index(&delivery.data) <= 10);
        delivered.push(delivery);
    }
    consumer
        .basic_cancel(deliveries.tag(), BasicCancelOptions::default())
        .await
        .unwrap();
    delivered.sort_by_key(|d| index(&d.data));
    for delivery in &delivered {
        if index(&delivery.data) < ACKED {
            delivery.ack(BasicAckOptions::default()).await.unwrap();
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster.kill(leader);

    // The same connection, now served by the queue's new leader.
    publish_to(&ch, NAME, COUNT..COUNT + 10).await;
    let after = conn.create_channel().await.unwrap();
    let mut deliveries = consume_from(&after, NAME).await;
    receive_after_failover(&mut deliveries, COUNT + 10 - ACKED).await;
}

/// When the broker a consumer reached the queue through is SIGKILLed, what it held comes
/// back from the queue's leader, marked redelivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_held_through_a_dead_broker_come_back() {
    const NAME: &str = "orphans";
    let mut cluster = Cluster::start(3);
    let bootstrap = cluster.bootstrap_servers();
    let first = connect(&cluster, 1).await;
    declare(&first.create_channel().await.unwrap(), NAME).await;
    let leader = leader_of(&bootstrap, "amqp.orphans", None);
    let via = (1..=3).find(|id| *id != leader).unwrap();
    let at_leader = connect(&cluster, leader).await;
    let ch = at_leader.create_channel().await.unwrap();
    publish_to(&ch, NAME, 0..HELD).await;

    let conn = connect(&cluster, via).await;
    let holding = conn.create_channel().await.unwrap();
    let mut deliveries = consume_from(&holding, NAME).await;
    for _ in 0..HELD {
        next(&mut deliveries).await;
    }
    cluster.kill(via);

    let mut deliveries = consume_from(&ch, NAME).await;
    let mut got = std::collections::BTreeSet::new();
    while got.len() < HELD as usize {
        let delivery = next(&mut deliveries).await;
        assert!(delivery.redelivered);
        got.insert(index(&delivery.data));
        delivery.ack(BasicAckOptions::default()).await.unwrap();
    }
}

/// Receives (and acknowledges) `count` messages after a failover: none of those acknowledged
/// before it (below `ACKED`), none twice, exactly the held ones (below `ACKED + HELD`) marked
/// redelivered; then nothing else is waiting.
async fn receive_after_failover(deliveries: &mut lapin::Consumer, count: u32) {
    let mut got = BTreeMap::new();
    while got.len() < count as usize {
        let delivery = next(deliveries).await;
        let i = index(&delivery.data);
        assert!(
            i >= ACKED,
            "message {i} was acknowledged before the failover"
        );
        assert!(
            got.insert(i, delivery.redelivered).is_none(),
            "message {i} delivered twice"
        );
        delivery.ack(BasicAckOptions::default()).await.unwrap();
    }
    for (i, redelivered) in got {
        assert_eq!(
            redelivered,
            i < ACKED + HELD,
            "message {i}: redelivered flag after the failover"
        );
    }
    let extra = tokio::time::timeout(Duration::from_millis(500), deliveries.next()).await;
    assert!(extra.is_err(), "a message came twice: {extra:?}");
}

async fn declare(ch: &Channel, name: &str) -> lapin::Queue {
    declare_durable(ch, name).await.unwrap()
}

async fn publish_to(ch: &Channel, queue: &str, range: std::ops::Range<u32>) {
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let mut confirms = Vec::new();
    for i in range {
        confirms.push(
            ch.basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                i.to_string().as_bytes(),
                BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .unwrap(),
        );
    }
    for confirm in confirms {
        assert!(confirm.await.unwrap().is_ack());
    }
}

async fn consume_from(ch: &Channel, queue: &str) -> lapin::Consumer {
    ch.basic_consume(
        queue.into(),
        "".into(),
        BasicConsumeOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap()
}
