//! Committed group offsets, kept durably in an internal log (`<data>/__consumer_offsets`,
//! like Kafka's topic of that name) and in memory. Each commit appends one batch and waits for
//! its fsync before it is acknowledged; on open the log is replayed.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use neo_record::codec::{BatchBuilder, Compression, decode_records};
use neo_record::now_ms;
use neo_storage::{Flusher, LogConfig, PartitionLog};
use parking_lot::Mutex;

use crate::error::BrokerError;

/// Directory of the offsets log under the data directory.
pub const OFFSETS_DIR: &str = "__consumer_offsets";

/// One committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
    pub commit_timestamp: i64,
}

/// `(topic, partition)`.
pub type TopicPartition = (String, i32);

type GroupOffsets = HashMap<TopicPartition, CommittedOffset>;

/// The offsets of every group.
pub struct OffsetStore {
    log: PartitionLog,
    groups: Mutex<HashMap<String, GroupOffsets>>,
}

impl std::fmt::Debug for OffsetStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OffsetStore").finish_non_exhaustive()
    }
}

const KEY_VERSION: u8 = 0;
const VALUE_VERSION: u8 = 0;

impl OffsetStore {
    /// Opens (recovering and replaying) the offsets log under `data_dir`.
    pub fn open(data_dir: &Path, flusher: Arc<Flusher>) -> Result<OffsetStore, BrokerError> {
        let config = LogConfig {
            segment_bytes: 100 << 20,
            retention_ms: None,
            retention_bytes: None,
            ..LogConfig::default()
        };
        let log = PartitionLog::open(&data_dir.join(OFFSETS_DIR), config, flusher)?;
        let mut groups: HashMap<String, GroupOffsets> = HashMap::new();
        let mut undecodable = None;
        log.for_each_batch(0, |batch| match decode_records(batch) {
            Ok(records) => {
                for record in records {
                    apply(&mut groups, record.key, record.value);
                }
            }
            Err(e) => {
                undecodable.get_or_insert(e);
            }
        })?;
        if let Some(e) = undecodable {
            return Err(e.into());
        }
        Ok(OffsetStore {
            log,
            groups: Mutex::new(groups),
        })
    }

    /// Stores `offsets` of `group` durably, then makes them visible.
    pub async fn commit(
        &self,
        group: &str,
        offsets: Vec<(TopicPartition, CommittedOffset)>,
    ) -> Result<(), BrokerError> {
        if offsets.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let mut builder = BatchBuilder::new(Compression::None, now);
        for ((topic, partition), committed) in &offsets {
            let key = encode_key(group, topic, *partition);
            let value = encode_value(committed);
            builder.push(now, Some(&key), Some(&value), &[]);
        }
        let mut batch = builder.build()?;
        self.log.append_durable(&mut batch).await?;
        let mut groups = self.groups.lock();
        let entry = groups.entry(group.to_string()).or_default();
        for (tp, committed) in offsets {
            entry.insert(tp, committed);
        }
        Ok(())
    }

    /// Removes offsets of `group`: the given partitions, or all of them with `None`.
    pub async fn delete(
        &self,
        group: &str,
        partitions: Option<&[TopicPartition]>,
    ) -> Result<(), BrokerError> {
        let doomed: Vec<TopicPartition> = {
            let groups = self.groups.lock();
            let Some(offsets) = groups.get(group) else {
                return Ok(());
            };
            match partitions {
                None => offsets.keys().cloned().collect(),
                Some(ps) => ps
                    .iter()
                    .filter(|p| offsets.contains_key(*p))
                    .cloned()
                    .collect(),
            }
        };
        if doomed.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let mut builder = BatchBuilder::new(Compression::None, now);
        for (topic, partition) in &doomed {
            builder.push(now, Some(&encode_key(group, topic, *partition)), None, &[]);
        }
        let mut batch = builder.build()?;
        self.log.append_durable(&mut batch).await?;
        let mut groups = self.groups.lock();
        if let Some(offsets) = groups.get_mut(group) {
            for tp in &doomed {
                offsets.remove(tp);
            }
            if offsets.is_empty() {
                groups.remove(group);
            }
        }
        Ok(())
    }

    /// The committed offset of one partition.
    pub fn get(&self, group: &str, topic: &str, partition: i32) -> Option<CommittedOffset> {
        self.groups
            .lock()
            .get(group)
            .and_then(|g| g.get(&(topic.to_string(), partition)))
            .cloned()
    }

    /// Every committed offset of `group`.
    pub fn all(&self, group: &str) -> Vec<(TopicPartition, CommittedOffset)> {
        let mut all: Vec<_> = self
            .groups
            .lock()
            .get(group)
            .map(|g| g.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// Groups that have committed offsets.
    pub fn groups(&self) -> Vec<String> {
        self.groups.lock().keys().cloned().collect()
    }

    /// Groups whose newest commit is older than `cutoff_ms` (for `offsets.retention.minutes`).
    pub fn stale_groups(&self, cutoff_ms: i64) -> Vec<String> {
        self.groups
            .lock()
            .iter()
            .filter(|(_, offsets)| offsets.values().all(|c| c.commit_timestamp < cutoff_ms))
            .map(|(g, _)| g.clone())
            .collect()
    }

    /// Flushes and closes the log.
    pub fn close(&self) -> Result<(), BrokerError> {
        Ok(self.log.close()?)
    }
}

fn apply(groups: &mut HashMap<String, GroupOffsets>, key: Option<Bytes>, value: Option<Bytes>) {
    let Some((group, topic, partition)) = key.and_then(decode_key) else {
        tracing::warn!("skipping an unreadable record in the offsets log");
        return;
    };
    match value.map(decode_value) {
        Some(Some(committed)) => {
            groups
                .entry(group)
                .or_default()
                .insert((topic, partition), committed);
        }
        Some(None) => tracing::warn!(group, "skipping an unreadable offset value"),
        None => {
            if let Some(offsets) = groups.get_mut(&group) {
                offsets.remove(&(topic, partition));
                if offsets.is_empty() {
                    groups.remove(&group);
                }
            }
        }
    }
}

fn put_str(out: &mut BytesMut, s: &str) {
    out.put_u16(s.len().min(u16::MAX as usize) as u16);
    out.put_slice(&s.as_bytes()[..s.len().min(u16::MAX as usize)]);
}

fn get_str(buf: &mut Bytes) -> Option<String> {
    if buf.remaining() < 2 {
        return None;
    }
    let len = buf.get_u16() as usize;
    if buf.remaining() < len {
        return None;
    }
    String::from_utf8(buf.split_to(len).to_vec()).ok()
}

fn encode_key(group: &str, topic: &str, partition: i32) -> BytesMut {
    let mut out = BytesMut::new();
    out.put_u8(KEY_VERSION);
    put_str(&mut out, group);
    put_str(&mut out, topic);
    out.put_i32(partition);
    out
}

fn decode_key(mut key: Bytes) -> Option<(String, String, i32)> {
    if key.remaining() < 1 || key.get_u8() != KEY_VERSION {
        return None;
    }
    let group = get_str(&mut key)?;
    let topic = get_str(&mut key)?;
    (key.remaining() == 4).then(|| (group, topic, key.get_i32()))
}

fn encode_value(c: &CommittedOffset) -> BytesMut {
    let mut out = BytesMut::new();
    out.put_u8(VALUE_VERSION);
    out.put_i64(c.offset);
    out.put_i32(c.leader_epoch);
    out.put_i64(c.commit_timestamp);
    match &c.metadata {
        Some(m) => {
            out.put_u8(1);
            put_str(&mut out, m);
        }
        None => out.put_u8(0),
    }
    out
}

fn decode_value(mut value: Bytes) -> Option<CommittedOffset> {
    if value.remaining() < 1 + 8 + 4 + 8 + 1 || value.get_u8() != VALUE_VERSION {
        return None;
    }
    let offset = value.get_i64();
    let leader_epoch = value.get_i32();
    let commit_timestamp = value.get_i64();
    let metadata = match value.get_u8() {
        0 => None,
        _ => Some(get_str(&mut value)?),
    };
    Some(CommittedOffset {
        offset,
        leader_epoch,
        metadata,
        commit_timestamp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn commits_survive_reopen_and_deletes_stick() {
        let dir = tempfile::tempdir().unwrap();
        let flusher = Flusher::new(1);
        let committed = |offset| CommittedOffset {
            offset,
            leader_epoch: -1,
            metadata: Some("m".into()),
            commit_timestamp: 5,
        };
        {
            let store = OffsetStore::open(dir.path(), flusher.clone()).unwrap();
            store
                .commit(
                    "g",
                    vec![
                        (("t".into(), 0), committed(10)),
                        (("t".into(), 1), committed(20)),
                    ],
                )
                .await
                .unwrap();
            store
                .commit("g", vec![(("t".into(), 0), committed(11))])
                .await
                .unwrap();
            store
                .commit("h", vec![(("u".into(), 0), committed(1))])
                .await
                .unwrap();
            store.delete("h", None).await.unwrap();
            store.close().unwrap();
        }
        let store = OffsetStore::open(dir.path(), flusher).unwrap();
        assert_eq!(store.get("g", "t", 0), Some(committed(11)));
        assert_eq!(store.get("g", "t", 1), Some(committed(20)));
        assert_eq!(store.get("h", "u", 0), None);
        assert_eq!(store.groups(), vec!["g".to_string()]);
    }
}
