//! A queue's cursor topic: the internal topic of one partition, with the queue partition's
//! replicas, whose records are the cursor's changes (see `cursor_store.rs`). Its name is the
//! queue topic's behind a prefix clients cannot create topics under.

use std::collections::BTreeMap;

use bytes::Bytes;
use neo_record::batch_header::BatchHeader;
use neo_record::codec::decode_records;

use crate::topic_name::{CURSOR_TOPIC_PREFIX, MAX_TOPIC_NAME_LEN};

/// The first record of a batch that starts with a snapshot has this key; the first record of
/// any other batch has the offset of the last snapshot before it (8 bytes, big-endian) when
/// the writer knows it, so any replica finds where replay starts from the last batch alone.
pub const SNAPSHOT_KEY: &[u8] = b"snapshot";

/// The cursor topic of queue topic `topic`: the prefix and the name, or for a name too long
/// for that, its first 200 characters and a hash of the whole.
pub fn cursor_topic_for(topic: &str) -> String {
    if CURSOR_TOPIC_PREFIX.len() + topic.len() <= MAX_TOPIC_NAME_LEN {
        return format!("{CURSOR_TOPIC_PREFIX}{topic}");
    }
    let hash = topic.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let head = topic.get(..200).unwrap_or(topic);
    format!("{CURSOR_TOPIC_PREFIX}{head}.{hash:016x}")
}

/// A cursor topic's configs: kept until a snapshot makes the records before it useless
/// (trimmed by [`snapshot_offset`], not by retention), room for a snapshot of many records
/// held at once, and fsynced every second rather than at each change: a lost change only
/// delivers a message again, and an fsync per acknowledgement would halve what the disk
/// gives the messages themselves. A change waited for ([`super::Queue::sync`]) is fsynced on a
/// single broker, and on a majority's page caches on a cluster.
pub fn cursor_topic_configs() -> BTreeMap<String, String> {
    [
        ("cleanup.policy", "delete"),
        ("retention.ms", "-1"),
        ("retention.bytes", "-1"),
        ("segment.bytes", "16777216"),
        ("max.message.bytes", "33554432"),
        ("flush.messages", "9223372036854775807"),
        ("flush.ms", "1000"),
        ("compression.type", "producer"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The key of a batch's first record: [`SNAPSHOT_KEY`] when the batch starts with a
/// snapshot, else where the last snapshot is, if known.
pub fn first_key(starts_with_snapshot: bool, last_snapshot: Option<i64>) -> Option<Bytes> {
    if starts_with_snapshot {
        Some(Bytes::from_static(SNAPSHOT_KEY))
    } else {
        last_snapshot.map(|o| Bytes::copy_from_slice(&o.to_be_bytes()))
    }
}

/// Where the last snapshot is, read from the first batch in `bytes` (the log's last batch):
/// the log before it can go.
pub fn snapshot_offset(bytes: &[u8]) -> Option<i64> {
    let header = BatchHeader::parse(bytes).ok()?;
    let batch = bytes.get(..header.total_len())?;
    let first = decode_records(batch).ok()?.into_iter().next()?;
    let key = first.key?;
    if key.as_ref() == SNAPSHOT_KEY {
        return Some(header.base_offset);
    }
    let raw: [u8; 8] = key.as_ref().try_into().ok()?;
    Some(i64::from_be_bytes(raw))
}

#[cfg(test)]
mod tests {
    use super::*;
    use neo_record::codec::{BatchBuilder, Compression};

    #[test]
    fn names_fit_kafka_rules_and_stay_apart() {
        assert_eq!(cursor_topic_for("amqp.q"), "__cursor.amqp.q");
        let long = "x".repeat(249);
        let other = format!("{}y", "x".repeat(248));
        let name = cursor_topic_for(&long);
        assert!(crate::topic_name::validate_topic_name(&name).is_ok());
        assert_ne!(name, cursor_topic_for(&other));
        assert!(
            crate::topic_name::is_cursor_topic(&name)
                && !crate::topic_name::is_cursor_topic("amqp.q")
        );
    }

    #[test]
    fn the_last_batch_says_where_replay_starts() {
        let batch = |key: Option<Bytes>, base: i64| {
            let mut b = BatchBuilder::new(Compression::None, 0);
            b.push(0, key.as_deref(), Some(b"event"), &[]);
            b.push(0, None, Some(b"event"), &[]);
            let mut bytes = b.build().unwrap();
            bytes[..8].copy_from_slice(&base.to_be_bytes());
            bytes.freeze()
        };
        assert_eq!(
            snapshot_offset(&batch(first_key(true, Some(3)), 40)),
            Some(40)
        );
        assert_eq!(
            snapshot_offset(&batch(first_key(false, Some(3)), 40)),
            Some(3)
        );
        assert_eq!(snapshot_offset(&batch(first_key(false, None), 40)), None);
        assert_eq!(snapshot_offset(b"torn"), None);
    }
}
