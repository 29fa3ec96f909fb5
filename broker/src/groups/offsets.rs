//! Committed group offsets: the record format they are stored in (one record per committed
//! partition, keyed by group, topic and partition; a record without a value deletes) and the
//! offsets of every group as replaying those records gives them. The records live in the
//! partitions of the offsets topic; a data directory from before clusters kept them in one
//! log, `<data>/__consumer_offsets`, of the same format.

use std::collections::HashMap;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use neo_record::BatchError;
use neo_record::codec::{BatchBuilder, Compression, decode_records};
use neo_record::now_ms;

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

/// A change to one partition's committed offset: a commit, or a deletion (`None`).
pub(super) type OffsetChange = (TopicPartition, Option<CommittedOffset>);

type GroupOffsets = HashMap<TopicPartition, CommittedOffset>;

/// The committed offsets of every group, by group.
#[derive(Debug, Default)]
pub(super) struct OffsetsByGroup(HashMap<String, GroupOffsets>);

const KEY_VERSION: u8 = 0;
const VALUE_VERSION: u8 = 0;

impl OffsetsByGroup {
    /// Applies `changes` of `group`.
    pub fn apply(&mut self, group: &str, changes: impl IntoIterator<Item = OffsetChange>) {
        for (tp, change) in changes {
            match change {
                Some(committed) => {
                    self.0
                        .entry(group.to_string())
                        .or_default()
                        .insert(tp, committed);
                }
                None => {
                    if let Some(offsets) = self.0.get_mut(group) {
                        offsets.remove(&tp);
                        if offsets.is_empty() {
                            self.0.remove(group);
                        }
                    }
                }
            }
        }
    }

    /// Applies every record of one stored batch; an unreadable record is skipped (logged).
    pub fn apply_batch(&mut self, batch: &[u8]) -> Result<(), BatchError> {
        for record in decode_records(batch)? {
            let Some((group, topic, partition)) = record.key.and_then(decode_key) else {
                tracing::warn!("skipping an unreadable record of committed offsets");
                continue;
            };
            let change = match record.value.map(decode_value) {
                Some(Some(committed)) => Some(committed),
                Some(None) => {
                    tracing::warn!(group, "skipping an unreadable committed offset");
                    continue;
                }
                None => None,
            };
            self.apply(&group, [((topic, partition), change)]);
        }
        Ok(())
    }

    /// The committed offset of one partition.
    pub fn get(&self, group: &str, topic: &str, partition: i32) -> Option<CommittedOffset> {
        self.0
            .get(group)
            .and_then(|g| g.get(&(topic.to_string(), partition)))
            .cloned()
    }

    /// Every committed offset of `group`, sorted by topic and partition.
    pub fn all(&self, group: &str) -> Vec<(TopicPartition, CommittedOffset)> {
        let mut all: Vec<_> = self
            .0
            .get(group)
            .map(|g| g.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// Whether `group` has committed offsets.
    pub fn contains(&self, group: &str) -> bool {
        self.0.contains_key(group)
    }

    /// Groups that have committed offsets.
    pub fn groups(&self) -> impl Iterator<Item = &String> {
        self.0.keys()
    }

    /// Groups whose newest commit is older than `cutoff_ms` (for `offsets.retention.minutes`).
    pub fn stale_groups(&self, cutoff_ms: i64) -> Vec<String> {
        self.0
            .iter()
            .filter(|(_, offsets)| offsets.values().all(|c| c.commit_timestamp < cutoff_ms))
            .map(|(g, _)| g.clone())
            .collect()
    }

    /// Every group's offsets as changes (what a store of them would be written as).
    pub fn into_changes(self) -> impl Iterator<Item = (String, Vec<OffsetChange>)> {
        self.0.into_iter().map(|(group, offsets)| {
            let changes = offsets.into_iter().map(|(tp, c)| (tp, Some(c))).collect();
            (group, changes)
        })
    }
}

/// One record batch holding `changes` of `group`.
pub(super) fn encode_batch(group: &str, changes: &[OffsetChange]) -> Result<Bytes, BatchError> {
    let now = now_ms();
    let mut builder = BatchBuilder::new(Compression::None, now);
    for ((topic, partition), change) in changes {
        let key = encode_key(group, topic, *partition);
        let value = change.as_ref().map(encode_value);
        builder.push(now, Some(&key), value.as_deref(), &[]);
    }
    Ok(builder.build()?.freeze())
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

    fn committed(offset: i64) -> CommittedOffset {
        CommittedOffset {
            offset,
            leader_epoch: -1,
            metadata: Some("m".into()),
            commit_timestamp: 5,
        }
    }

    #[test]
    fn replayed_batches_give_the_last_commit_and_deletes_stick() {
        let t = |p: i32| ("t".to_string(), p);
        let batches = [
            encode_batch(
                "g",
                &[(t(0), Some(committed(10))), (t(1), Some(committed(20)))],
            ),
            encode_batch("g", &[(t(0), Some(committed(11)))]),
            encode_batch("h", &[(("u".into(), 0), Some(committed(1)))]),
            encode_batch("h", &[(("u".into(), 0), None)]),
        ];
        let mut replayed = OffsetsByGroup::default();
        for batch in batches {
            replayed.apply_batch(&batch.unwrap()).unwrap();
        }
        assert_eq!(replayed.get("g", "t", 0), Some(committed(11)));
        assert_eq!(replayed.get("g", "t", 1), Some(committed(20)));
        assert_eq!(replayed.get("h", "u", 0), None);
        assert_eq!(replayed.groups().collect::<Vec<_>>(), ["g"]);
    }
}
