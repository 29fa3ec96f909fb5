//! The metadata store: changes survive a reopen (from the log, and across snapshots), a torn
//! last record is cut, and a data directory of the first format (JSON files) is taken over.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use neo_broker::BrokerConfig;
use neo_broker::cluster::ClusterNode;
use neo_broker::metadata::{
    DocumentChange, DocumentKind, MetadataCommand, MetadataStore, TopicRecord,
};
use neo_storage::Flusher;

fn topic(name: &str) -> TopicRecord {
    TopicRecord {
        name: name.into(),
        id: uuid::Uuid::new_v4(),
        partitions: 1,
        configs: BTreeMap::from([("retention.ms".into(), "1000".into())]),
        replicas: Vec::new(),
        reassigning: Default::default(),
    }
}

async fn open(dir: &Path) -> MetadataStore {
    let config = BrokerConfig {
        data_dir: dir.to_path_buf(),
        ..BrokerConfig::default()
    };
    let cluster = Arc::new(ClusterNode::start(&config).await.unwrap());
    MetadataStore::open(dir, cluster, Flusher::new(1))
        .await
        .unwrap()
}

#[tokio::test]
async fn changes_survive_a_reopen_across_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    store
        .apply(MetadataCommand::CreateTopic(topic("t")))
        .await
        .unwrap();
    // Past the snapshot interval: the reopen starts at a snapshot and replays the rest.
    for _ in 0..1_005 {
        store
            .apply(MetadataCommand::ReserveProducerIds {
                count: 10,
                from: None,
            })
            .await
            .unwrap();
    }
    let doc = DocumentChange {
        kind: DocumentKind::SqsQueue,
        name: "q".into(),
        value: Some(serde_json::json!({"tags": {"a": "b"}})),
    };
    store
        .apply(MetadataCommand::ChangeDocuments(vec![doc]))
        .await
        .unwrap();
    let before = store.read(Clone::clone);
    store.close().await.unwrap();
    store.close().await.unwrap();

    let again = open(dir.path()).await;
    assert_eq!(again.read(Clone::clone), before);
    assert_eq!(again.read(|s| s.producer_ids_reserved), 10_050);
    assert_eq!(again.read(|s| s.topics["t"].configs.len()), 1);
}

#[tokio::test]
async fn a_refused_change_is_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let t = topic("t");
    store
        .apply(MetadataCommand::CreateTopic(t.clone()))
        .await
        .unwrap();
    let mut other = topic("t");
    other.partitions = 7;
    assert!(
        store
            .apply(MetadataCommand::CreateTopic(other))
            .await
            .is_err()
    );
    store.close().await.unwrap();
    let again = open(dir.path()).await;
    assert_eq!(again.read(|s| s.topics["t"].clone()), t);
}

#[tokio::test]
async fn a_torn_last_change_is_cut_and_the_rest_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    store
        .apply(MetadataCommand::CreateTopic(topic("kept")))
        .await
        .unwrap();
    store.close().await.unwrap();
    // Half a record at the end of the log, as a crash in the middle of a write leaves it.
    let segment = std::fs::read_dir(dir.path().join("meta/raft/log/entries"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "log"))
        .unwrap();
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(segment)
        .unwrap();
    file.write_all(&[0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 1, 0, 0])
        .unwrap();
    drop(file);
    let again = open(dir.path()).await;
    assert!(again.read(|s| s.topics.contains_key("kept")));
    again
        .apply(MetadataCommand::CreateTopic(topic("after")))
        .await
        .unwrap();
}

#[tokio::test]
async fn first_format_files_are_taken_over_once() {
    let dir = tempfile::tempdir().unwrap();
    let meta = dir.path().join("meta");
    std::fs::create_dir_all(&meta).unwrap();
    let t = topic("old");
    let topics = serde_json::json!({"version": 1, "topics": [t]});
    std::fs::write(meta.join("topics.json"), topics.to_string()).unwrap();
    std::fs::write(meta.join("producer-id-block"), "3000").unwrap();
    std::fs::write(
        meta.join("acls.json"),
        r#"[{"resource_type":2,"resource_name":"t","pattern_type":3,"principal":"User:*","host":"*","operation":4,"permission":2}]"#,
    )
    .unwrap();

    let store = open(dir.path()).await;
    assert_eq!(store.read(|s| s.topics["old"].clone()), t);
    assert_eq!(store.read(|s| s.producer_ids_reserved), 3000);
    assert_eq!(store.read(|s| s.acls.len()), 1);
    assert!(!meta.join("topics.json").exists());
    assert!(meta.join("topics.json.migrated").exists());
    store
        .apply(MetadataCommand::DeleteTopic { name: "old".into() })
        .await
        .unwrap();
    store.close().await.unwrap();
    // The log is the truth from now on: the retired file does not bring the topic back.
    let again = open(dir.path()).await;
    assert!(again.read(|s| s.topics.is_empty()));
    assert_eq!(again.read(|s| s.acls.len()), 1);
}

#[tokio::test]
async fn a_reservation_from_an_end_that_moved_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let reserve = |from| MetadataCommand::ReserveProducerIds {
        count: 1_000,
        from: Some(from),
    };
    store.apply(reserve(0)).await.unwrap();
    // Another broker that read the end before that reservation does not get the same ids.
    let refused = store.apply(reserve(0)).await;
    assert!(
        matches!(refused, Err(neo_broker::BrokerError::InvalidConfig { .. })),
        "{refused:?}"
    );
    store.apply(reserve(1_000)).await.unwrap();
    assert_eq!(store.read(|s| s.producer_ids_reserved), 2_000);
}
