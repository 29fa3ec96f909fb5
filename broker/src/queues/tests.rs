//! The cursor against a plain model (a list of records scanned in order) under random
//! interleavings with restarts; the queue over a real log: restart, dead-lettering, delay,
//! time-to-live, ordered groups and the memory bound.

use std::sync::Arc;

use bytes::Bytes;
use neo_record::codec::{BatchBuilder, Compression, Header};
use neo_replication::partition::replica::PartitionReplica;
use neo_replication::partition::solo::SoloReplica;
use neo_storage::{Flusher, PartitionLog};
use proptest::prelude::*;

use super::*;
use crate::config::TopicConfig;
use crate::partition::Partition;

// ---- the model ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ModelState {
    Available,
    Held(u64),
    Settled,
}

#[derive(Debug, Clone)]
struct ModelRecord {
    meta: RecordMeta,
    state: ModelState,
    deliveries: u32,
    /// When its hold ends, while held.
    deadline: i64,
}

/// The consumer whose holds last its session (they end with a restart); consumer 0's are
/// short locks, which outlive it.
const SESSION_CONSUMER: u64 = 1;

#[derive(Debug, Clone)]
struct Model {
    config: CursorConfig,
    records: Vec<ModelRecord>,
}

impl Model {
    fn acquire(&mut self, now: i64, max: usize, deadline: i64, consumer: u64) -> Acquired {
        let mut out = Acquired::default();
        let mut passed: Vec<Bytes> = Vec::new();
        let ordered = self.config.ordered;
        let busy: Vec<Bytes> = self
            .records
            .iter()
            .filter(|r| matches!(r.state, ModelState::Held(_)))
            .filter_map(|r| r.meta.group.clone())
            .collect();
        for i in 0..self.records.len() {
            if out.delivered.len() >= max {
                break;
            }
            let r = &mut self.records[i];
            if r.state != ModelState::Available {
                continue;
            }
            if r.meta.expires_at.is_some_and(|t| t <= now) {
                r.state = ModelState::Settled;
                out.expired.push(r.meta.offset);
                continue;
            }
            let group = r.meta.group.clone().filter(|_| ordered);
            if let Some(g) = &group
                && (passed.contains(g) || busy.contains(g) || out_has_group(&out, g, self))
            {
                continue;
            }
            let r = &mut self.records[i];
            if r.meta.available_at > now {
                if let Some(g) = group {
                    passed.push(g);
                }
                continue;
            }
            if self
                .config
                .max_deliveries
                .is_some_and(|m| r.deliveries + 1 > m)
            {
                r.state = ModelState::Settled;
                out.dead.push(r.meta.offset);
                continue;
            }
            r.deliveries += 1;
            r.state = ModelState::Held(consumer);
            r.deadline = deadline;
            out.delivered.push(Delivery {
                offset: r.meta.offset,
                deliveries: r.deliveries,
            });
        }
        out
    }

    fn restart(&mut self) {
        for r in &mut self.records {
            if r.state == ModelState::Held(SESSION_CONSUMER) {
                r.state = ModelState::Available;
            }
        }
    }
}

/// Whether a record of group `g` was delivered earlier in this call (it is held now).
fn out_has_group(out: &Acquired, g: &Bytes, model: &Model) -> bool {
    out.delivered.iter().any(|d| {
        model
            .records
            .iter()
            .any(|r| r.meta.offset == d.offset && r.meta.group.as_ref() == Some(g))
    })
}

#[derive(Debug, Clone)]
enum Op {
    Enqueue {
        count: usize,
        group: Option<u8>,
        delay: i64,
        ttl: Option<i64>,
    },
    Acquire {
        max: usize,
        consumer: u64,
    },
    Ack(usize),
    Release(usize),
    /// Moves a hold's deadline this far from now.
    Extend(usize, i64),
    Tick(i64),
    ExpireLocks,
    Purge {
        in_flight: bool,
    },
    Snapshot,
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (
            1usize..5,
            proptest::option::of(0u8..3),
            0i64..3,
            proptest::option::of(1i64..6)
        )
            .prop_map(|(count, group, delay, ttl)| Op::Enqueue {
                count,
                group,
                delay,
                ttl
            }),
        (1usize..4, 0u64..2).prop_map(|(max, consumer)| Op::Acquire { max, consumer }),
        (0usize..64).prop_map(Op::Ack),
        (0usize..64).prop_map(Op::Release),
        (0usize..64, 0i64..8).prop_map(|(i, ms)| Op::Extend(i, ms)),
        (1i64..3).prop_map(Op::Tick),
        Just(Op::ExpireLocks),
        any::<bool>().prop_map(|in_flight| Op::Purge { in_flight }),
        Just(Op::Snapshot),
        Just(Op::Restart),
    ]
}

/// The cursor rebuilt as `Queue::open` does: last snapshot, then the events after it, each
/// loading the records it names first.
fn rebuild(config: CursorConfig, log: &[CursorEvent], records: &[RecordMeta]) -> QueueCursor {
    let last = log
        .iter()
        .rposition(|e| matches!(e, CursorEvent::Snapshot { .. }));
    let mut cursor = last
        .and_then(|i| QueueCursor::from_snapshot(config, &log[i]))
        .unwrap_or_else(|| QueueCursor::new(config, 0));
    for event in &log[last.map_or(0, |i| i + 1)..] {
        let offset = match *event {
            CursorEvent::Acquired { offset, .. }
            | CursorEvent::Acked { offset }
            | CursorEvent::Archived { offset }
            | CursorEvent::Released { offset } => Some(offset),
            _ => None,
        };
        if let Some(offset) = offset {
            let from = cursor.head().max(0) as usize;
            let through = (offset as usize + 1).min(records.len());
            cursor.load(records[from.min(through)..through].iter().cloned());
        }
        cursor.replay(event);
    }
    cursor.finish_replay();
    cursor
}

fn check_model(config: CursorConfig, ops: Vec<Op>) {
    let mut model = Model {
        config,
        records: Vec::new(),
    };
    let mut cursor = QueueCursor::new(config, 0);
    let mut log: Vec<CursorEvent> = Vec::new();
    let mut metas: Vec<RecordMeta> = Vec::new();
    let mut now = 100i64;
    let lock = 4;
    for op in ops {
        match op {
            Op::Enqueue {
                count,
                group,
                delay,
                ttl,
            } => {
                for _ in 0..count {
                    let meta = RecordMeta {
                        offset: metas.len() as i64,
                        available_at: now + delay,
                        expires_at: ttl.map(|t| now + t),
                        group: group.map(|g| Bytes::from(vec![g])),
                        size: (metas.len() % 7) as u32 * 10,
                    };
                    metas.push(meta.clone());
                    model.records.push(ModelRecord {
                        meta,
                        state: ModelState::Available,
                        deliveries: 0,
                        deadline: 0,
                    });
                }
            }
            Op::Acquire { max, consumer } => {
                // The queue loads everything there is before acquiring (window not reached).
                let from = cursor.head() as usize;
                cursor.load(metas[from.min(metas.len())..].iter().cloned());
                let deadline = if consumer == SESSION_CONSUMER {
                    now + SESSION_HOLD_MS + 1
                } else {
                    now + lock
                };
                let expected = model.acquire(now, max, deadline, consumer);
                let (got, events) = cursor.acquire(now, max, deadline, consumer);
                assert_eq!(got, expected, "acquire at {now}");
                log.extend(events);
            }
            Op::Ack(i) | Op::Release(i) => {
                let Some(r) = model.records.get_mut(i) else {
                    continue;
                };
                let result = if matches!(op, Op::Ack(_)) {
                    cursor.ack(i as i64, None)
                } else {
                    cursor.release(i as i64, None)
                };
                match r.state {
                    ModelState::Held(_) => {
                        r.state = if matches!(op, Op::Ack(_)) {
                            ModelState::Settled
                        } else {
                            ModelState::Available
                        };
                        log.push(result.unwrap());
                    }
                    _ => assert_eq!(result, Err(CursorError::NotInFlight(i as i64))),
                }
            }
            Op::Extend(i, ms) => {
                let Some(r) = model.records.get_mut(i) else {
                    continue;
                };
                let result = cursor.set_deadline(i as i64, None, now + ms);
                match r.state {
                    ModelState::Held(_) => {
                        r.deadline = now + ms;
                        log.push(result.unwrap());
                    }
                    _ => assert_eq!(result, Err(CursorError::NotInFlight(i as i64))),
                }
            }
            Op::Tick(ms) => now += ms,
            Op::ExpireLocks => {
                // The holds whose deadline passed, as the model has them.
                let mut due: Vec<i64> = model
                    .records
                    .iter()
                    .filter(|r| matches!(r.state, ModelState::Held(_)) && r.deadline <= now)
                    .map(|r| r.meta.offset)
                    .collect();
                let events = cursor.expire_locks(now);
                let mut released: Vec<i64> = events
                    .iter()
                    .map(|e| match e {
                        CursorEvent::Released { offset } => *offset,
                        e => panic!("{e:?}"),
                    })
                    .collect();
                due.sort_unstable();
                released.sort_unstable();
                assert_eq!(released, due, "locks ended at {now}");
                for offset in released {
                    model.records[offset as usize].state = ModelState::Available;
                }
                log.extend(events);
            }
            Op::Purge { in_flight } => {
                let end = metas.len() as i64;
                log.push(cursor.purge(end, in_flight));
                for r in &mut model.records {
                    if r.state == ModelState::Available
                        || (in_flight && matches!(r.state, ModelState::Held(_)))
                    {
                        r.state = ModelState::Settled;
                    }
                }
            }
            Op::Snapshot => log.push(cursor.snapshot()),
            Op::Restart => {
                // Through the encoding, as the cursor log stores them.
                let stored: Vec<CursorEvent> = log
                    .iter()
                    .map(|e| CursorEvent::decode(e.encode()).unwrap())
                    .collect();
                cursor = rebuild(config, &stored, &metas);
                log.push(cursor.snapshot()); // as `Queue::open` does
                model.restart();
            }
        }
        // Invariants after every step.
        let unsettled = model
            .records
            .iter()
            .filter(|r| r.state != ModelState::Settled)
            .map(|r| r.meta.offset)
            .next()
            .unwrap_or(metas.len() as i64);
        assert!(cursor.start() <= unsettled);
        let held = model
            .records
            .iter()
            .filter(|r| matches!(r.state, ModelState::Held(_)))
            .count();
        assert_eq!(cursor.in_flight(), held);
        let available_bytes: u64 = model
            .records
            .iter()
            .filter(|r| r.state == ModelState::Available && r.meta.offset < cursor.head())
            .map(|r| u64::from(r.meta.size))
            .sum();
        assert_eq!(cursor.available_bytes(), available_bytes);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn cursor_matches_the_model(ops in proptest::collection::vec(op(), 1..80)) {
        check_model(CursorConfig::default(), ops);
    }

    #[test]
    fn ordered_cursor_with_a_delivery_limit_matches_the_model(
        ops in proptest::collection::vec(op(), 1..80)
    ) {
        check_model(CursorConfig { max_deliveries: Some(2), ordered: true }, ops);
    }
}

// ---- the queue over a real log ----

async fn open_partition(
    dir: &std::path::Path,
    topic: &str,
    flusher: &Arc<Flusher>,
) -> Arc<Partition> {
    let config = TopicConfig {
        flush_messages: i64::MAX,
        ..TopicConfig::default()
    };
    let log = PartitionLog::open(
        &dir.join(format!("{topic}-0")),
        config.log_config(),
        Arc::clone(flusher),
    )
    .unwrap();
    let solo = SoloReplica::open(
        format!("{topic}-0"),
        log.clone(),
        Partition::gate(&log),
        config.is_durable(),
        1,
    )
    .unwrap();
    let metrics = crate::metrics::BrokerMetrics::new().unwrap();
    Arc::new(Partition::new(
        topic,
        0,
        log,
        PartitionReplica::Solo(solo),
        &config,
        metrics.topic_counters(topic),
    ))
}

async fn open_queue(dir: &std::path::Path, config: QueueConfig) -> Queue {
    let flusher = Flusher::new(1);
    let partition = open_partition(dir, "q", &flusher).await;
    let cursor_log = open_partition(dir, "__cursor.q", &flusher).await;
    Queue::open(partition, cursor_log, config).await.unwrap()
}

/// Appends `values` and waits until they are committed (readable from the queue).
async fn enqueue(queue: &Queue, now: i64, values: &[(&str, Option<&str>, &[Header])]) {
    let mut b = BatchBuilder::new(Compression::None, now);
    for (value, key, headers) in values {
        b.push(now, key.map(str::as_bytes), Some(value.as_bytes()), headers);
    }
    let appended = queue.enqueue(b.build().unwrap().freeze()).await.unwrap();
    appended.acknowledged(crate::Acks::All).await.unwrap();
}

fn values(records: &[QueuedRecord]) -> Vec<String> {
    records
        .iter()
        .map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap())
        .collect()
}

#[tokio::test]
async fn after_a_restart_acks_stay_session_holds_end_and_locks_hold() {
    let dir = tempfile::tempdir().unwrap();
    let now = 1_000_000;
    {
        let queue = open_queue(dir.path(), QueueConfig::default()).await;
        enqueue(
            &queue,
            now,
            &[("a", None, &[]), ("b", None, &[]), ("c", None, &[])],
        )
        .await;
        enqueue(&queue, now, &[("d", None, &[]), ("e", None, &[])]).await;
        // Held for consumer 1's session (AMQP), and by consumer 3 for 30 s (SQS).
        let session = now + SESSION_HOLD_MS + 1;
        let got = queue.receive(now, 3, session, 1).unwrap();
        assert_eq!(values(&got.delivered), ["a", "b", "c"]);
        let got = queue.receive(now, 2, now + 30_000, 3).unwrap();
        assert_eq!(values(&got.delivered), ["d", "e"]);
        let moved = queue.set_deadline(&[4], Some(3), now + 60_000).unwrap();
        assert!(moved.iter().all(Result::is_ok));
        assert!(
            queue
                .ack(&[0, 2], Some(1))
                .unwrap()
                .iter()
                .all(Result::is_ok)
        );
        assert_eq!(
            queue.ack(&[0], Some(1)).unwrap(),
            vec![Err(CursorError::NotInFlight(0))],
            "settled twice"
        );
        // No close: as after kill -9, the cursor log is replayed from its last snapshot.
    }
    let queue = open_queue(dir.path(), QueueConfig::default()).await;
    let got = queue.receive(now, 10, now + 90_000, 2).unwrap();
    assert_eq!(values(&got.delivered), ["b"], "d and e are still locked");
    assert_eq!(
        got.delivered[0].deliveries, 2,
        "b was delivered once before"
    );
    // d's lock ends at 30 s, e's was moved to 60 s; their holder still settles them.
    let got = queue.receive(now + 30_000, 10, now + 90_000, 2).unwrap();
    assert_eq!(values(&got.delivered), ["d"]);
    assert_eq!(got.delivered[0].deliveries, 2);
    assert_eq!(queue.ack(&[4], Some(3)).unwrap(), vec![Ok(())]);
}

#[tokio::test]
async fn lock_expiry_release_and_the_delivery_limit() {
    let dir = tempfile::tempdir().unwrap();
    let config = QueueConfig {
        cursor: CursorConfig {
            max_deliveries: Some(2),
            ordered: false,
        },
        ..QueueConfig::default()
    };
    let queue = open_queue(dir.path(), config).await;
    let now = 5_000;
    enqueue(&queue, now, &[("x", None, &[])]).await;
    let first = queue.receive(now, 1, now + 100, 1).unwrap();
    assert_eq!(values(&first.delivered), ["x"]);
    assert!(
        queue
            .receive(now + 50, 1, now + 150, 1)
            .unwrap()
            .delivered
            .is_empty()
    );
    // The lock ends: delivered again, then a third time is over the limit.
    let second = queue.receive(now + 100, 1, now + 200, 2).unwrap();
    assert_eq!(second.delivered[0].deliveries, 2);
    assert!(
        queue
            .release(&[0], Some(2))
            .unwrap()
            .iter()
            .all(Result::is_ok)
    );
    let third = queue.receive(now + 100, 1, now + 200, 2).unwrap();
    assert!(third.delivered.is_empty());
    assert_eq!(values(&third.dead), ["x"]);
    assert_eq!(
        queue.counts(),
        QueueCounts {
            available: 0,
            in_flight: 0
        }
    );
}

#[tokio::test]
async fn delay_time_to_live_and_ordered_groups() {
    let dir = tempfile::tempdir().unwrap();
    let config = QueueConfig {
        cursor: CursorConfig {
            max_deliveries: None,
            ordered: true,
        },
        ttl_ms: Some(1_000),
        ..QueueConfig::default()
    };
    let queue = open_queue(dir.path(), config).await;
    let now = 10_000;
    let later = [Header {
        key: NOT_BEFORE_HEADER.into(),
        value: Some(Bytes::from((now + 500).to_string())),
    }];
    enqueue(
        &queue,
        now,
        &[
            ("g1-a", Some("g1"), &[]),
            ("g1-b", Some("g1"), &[]),
            ("g2-a", Some("g2"), &[]),
            ("late", Some("g3"), &later),
        ],
    )
    .await;
    let got = queue.receive(now, 10, now + 5_000, 1).unwrap();
    assert_eq!(
        values(&got.delivered),
        ["g1-a", "g2-a"],
        "one per group, the delayed one waits"
    );
    queue.ack(&[0], Some(1)).unwrap();
    let got = queue.receive(now + 500, 10, now + 5_000, 1).unwrap();
    assert_eq!(values(&got.delivered), ["g1-b", "late"]);
    // A record older than the time-to-live is not delivered.
    enqueue(&queue, now, &[("stale", None, &[])]).await;
    let got = queue.receive(now + 2_000, 10, now + 5_000, 1).unwrap();
    assert!(got.delivered.is_empty());
    assert_eq!(values(&got.expired), ["stale"]);
}

#[tokio::test]
async fn memory_follows_the_records_in_flight_not_the_depth() {
    async fn loaded_with(depth: usize) -> usize {
        let dir = tempfile::tempdir().unwrap();
        let config = QueueConfig {
            scan_window: 1_000,
            ..QueueConfig::default()
        };
        let queue = open_queue(dir.path(), config).await;
        let now = 1;
        let value = [b'v'; 100];
        for _ in 0..depth / 1_000 {
            let mut b = BatchBuilder::new(Compression::None, now);
            for _ in 0..1_000 {
                b.push(now, None, Some(&value), &[]);
            }
            let appended = queue.enqueue(b.build().unwrap().freeze()).await.unwrap();
            appended.acknowledged(crate::Acks::All).await.unwrap();
        }
        let got = queue.receive(now, 10, now + 30_000, 1).unwrap();
        assert_eq!(got.delivered.len(), 10);
        assert_eq!(queue.counts().available as usize, depth - 10);
        queue.loaded()
    }
    let shallow = loaded_with(1_000).await;
    let deep = loaded_with(300_000).await;
    assert!(
        deep <= shallow,
        "{deep} records loaded for a deep queue, {shallow} for a shallow one"
    );
}

#[tokio::test]
async fn purge_settles_waiting_records_and_optionally_held_ones() {
    let dir = tempfile::tempdir().unwrap();
    let queue = open_queue(dir.path(), QueueConfig::default()).await;
    let now = 1;
    enqueue(
        &queue,
        now,
        &[("a", None, &[]), ("b", None, &[]), ("c", None, &[])],
    )
    .await;
    queue.receive(now, 1, now + 1_000, 1).unwrap();
    assert_eq!(queue.purge(false).unwrap(), 2);
    assert_eq!(
        queue.counts(),
        QueueCounts {
            available: 0,
            in_flight: 1
        }
    );
    assert!(queue.ack(&[0], Some(1)).unwrap().iter().all(Result::is_ok));
    enqueue(&queue, now, &[("d", None, &[])]).await;
    queue.receive(now, 1, now + 1_000, 1).unwrap();
    assert_eq!(queue.purge(true).unwrap(), 1);
    assert_eq!(
        queue.counts(),
        QueueCounts {
            available: 0,
            in_flight: 0
        }
    );
}

#[tokio::test]
async fn group_runs_hand_over_consecutive_records_of_idle_groups_only() {
    let dir = tempfile::tempdir().unwrap();
    let config = QueueConfig {
        cursor: CursorConfig {
            max_deliveries: None,
            ordered: true,
        },
        ..QueueConfig::default()
    };
    let queue = open_queue(dir.path(), config).await;
    let now = 10_000;
    let later = [Header {
        key: NOT_BEFORE_HEADER.into(),
        value: Some(Bytes::from((now + 500).to_string())),
    }];
    enqueue(
        &queue,
        now,
        &[
            ("g1-a", Some("g1"), &[]),
            ("g2-a", Some("g2"), &[]),
            ("g1-b", Some("g1"), &[]),
            ("g2-late", Some("g2"), &later),
            ("g2-c", Some("g2"), &[]),
            ("g1-c", Some("g1"), &[]),
        ],
    )
    .await;
    // g2's run stops at its delayed record: g2-c may not overtake it.
    let got = queue.receive_group_runs(now, 10, now + 5_000, 1).unwrap();
    assert_eq!(values(&got.delivered), ["g1-a", "g2-a", "g1-b", "g1-c"]);
    // Both groups have records in flight: nothing more, even for the same consumer.
    let got = queue
        .receive_group_runs(now + 500, 10, now + 5_000, 1)
        .unwrap();
    assert!(got.delivered.is_empty());
    queue.ack(&[1], Some(1)).unwrap();
    let got = queue
        .receive_group_runs(now + 500, 10, now + 5_000, 2)
        .unwrap();
    assert_eq!(values(&got.delivered), ["g2-late", "g2-c"]);
}

#[tokio::test]
async fn a_record_whose_lock_ended_can_be_acknowledged_until_it_is_delivered_again() {
    let dir = tempfile::tempdir().unwrap();
    let queue = open_queue(dir.path(), QueueConfig::default()).await;
    let now = 10_000;
    enqueue(&queue, now, &[("a", None, &[]), ("b", None, &[])]).await;
    // Never delivered: not settled this way.
    assert!(queue.ack_redelivered(&[0]).unwrap()[0].is_err());
    let got = queue.receive(now, 1, now + 100, 1).unwrap();
    assert_eq!(values(&got.delivered), ["a"]);
    // Its lock ends (released by a receive that takes nothing).
    let got = queue.receive(now + 200, 0, now + 200, 2).unwrap();
    assert!(got.delivered.is_empty());
    assert_eq!(queue.ack_redelivered(&[0]).unwrap(), [Ok(())]);
    let got = queue.receive(now + 300, 10, now + 5_000, 3).unwrap();
    assert_eq!(values(&got.delivered), ["b"], "a is settled");
}
