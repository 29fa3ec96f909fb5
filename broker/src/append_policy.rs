//! What a topic demands of a batch before it is stored: the codec it is stored in
//! (`compression.type`) and, on a compacted topic, a key on every record.

use bytes::BytesMut;
use neo_record::batch_header::{self, BatchHeader};
use neo_record::codec::{Compression, decode_records, recompress};

use crate::config::TopicConfig;
use crate::error::BrokerError;

/// A topic's demands on incoming batches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct AppendPolicy {
    /// The codec batches are stored in; `None` stores them as the producer compressed them.
    pub compression: Option<Compression>,
    /// Compacted topics refuse records without a key (Kafka: INVALID_RECORD).
    pub keys_required: bool,
}

impl AppendPolicy {
    pub fn of(config: &TopicConfig) -> AppendPolicy {
        AppendPolicy {
            compression: config.storage_compression(),
            keys_required: config.is_compacted(),
        }
    }

    /// Checks `records` (one or more whole batches) against the policy; returns them
    /// re-encoded when a batch is not in the topic's codec, `None` when they go in as sent.
    /// `topic` and `partition` name the partition in error messages.
    pub fn apply(
        &self,
        records: &[u8],
        topic: &str,
        partition: i32,
    ) -> Result<Option<BytesMut>, BrokerError> {
        if *self == AppendPolicy::default() {
            return Ok(None);
        }
        let mut rest = records;
        let mut out: Option<BytesMut> = None;
        let mut done = 0usize;
        while !rest.is_empty() {
            // Checked whole (CRC included) before anything is decoded or re-encoded, so a
            // corrupt batch is refused rather than sealed with a fresh CRC.
            let len = BatchHeader::parse(rest)?.total_len().min(rest.len());
            let (batch, tail) = rest.split_at(len);
            let header = batch_header::validate(batch)?;
            if self.keys_required && !header.is_control() {
                check_keys(batch, topic, partition)?;
            }
            let target = self
                .compression
                .filter(|codec| codec.id() != header.compression() && !header.is_control());
            if let Some(codec) = target {
                let buffer = out.get_or_insert_with(|| {
                    let mut b = BytesMut::with_capacity(records.len());
                    b.extend_from_slice(&records[..done]);
                    b
                });
                buffer.extend_from_slice(&recompress(batch, codec)?);
            } else if let Some(buffer) = out.as_mut() {
                buffer.extend_from_slice(batch);
            }
            done += batch.len();
            rest = tail;
        }
        Ok(out)
    }
}

fn check_keys(batch: &[u8], topic: &str, partition: i32) -> Result<(), BrokerError> {
    let keyless: Vec<i32> = decode_records(batch)?
        .iter()
        .enumerate()
        .filter(|(_, r)| r.key.is_none())
        .map(|(i, _)| i as i32)
        .collect();
    if keyless.is_empty() {
        return Ok(());
    }
    Err(BrokerError::InvalidRecord {
        message: format!(
            "Compacted topic cannot accept message without key in topic partition {topic}-{partition}."
        ),
        record_indexes: keyless,
    })
}

#[cfg(test)]
mod tests {
    use neo_record::codec::BatchBuilder;

    use super::*;

    fn batch(codec: Compression, keys: &[Option<&[u8]>]) -> BytesMut {
        let mut b = BatchBuilder::new(codec, 1_000);
        for key in keys {
            b.push(1_000, *key, Some(b"v"), &[]);
        }
        b.build().unwrap()
    }

    #[test]
    fn producer_codec_goes_in_as_sent() {
        let policy = AppendPolicy::default();
        let b = batch(Compression::Gzip, &[None]);
        assert!(policy.apply(&b, "t", 0).unwrap().is_none());
    }

    #[test]
    fn other_codecs_are_reencoded_and_matching_ones_kept() {
        let policy = AppendPolicy {
            compression: Some(Compression::Lz4),
            keys_required: false,
        };
        let mut two = batch(Compression::Lz4, &[Some(b"a")]);
        two.extend_from_slice(&batch(Compression::None, &[Some(b"b"), None]));
        let out = policy.apply(&two, "t", 0).unwrap().unwrap();
        let first = BatchHeader::parse(&out).unwrap();
        batch_header::validate(&out[..first.total_len()]).unwrap();
        assert_eq!(first.compression(), Compression::Lz4.id());
        let second = batch_header::validate(&out[first.total_len()..]).unwrap();
        assert_eq!(second.compression(), Compression::Lz4.id());
        assert_eq!(decode_records(&out[first.total_len()..]).unwrap().len(), 2);
        let only_lz4 = batch(Compression::Lz4, &[None]);
        assert!(policy.apply(&only_lz4, "t", 0).unwrap().is_none());
    }

    #[test]
    fn compacted_topics_name_every_keyless_record() {
        let policy = AppendPolicy {
            compression: None,
            keys_required: true,
        };
        let b = batch(Compression::Snappy, &[Some(b"a"), None, Some(b"c"), None]);
        match policy.apply(&b, "t", 3) {
            Err(BrokerError::InvalidRecord {
                message,
                record_indexes,
            }) => {
                assert_eq!(record_indexes, vec![1, 3]);
                assert!(message.ends_with("topic partition t-3."), "{message}");
            }
            other => panic!("expected InvalidRecord, got {other:?}"),
        }
        let keyed = batch(Compression::None, &[Some(b"a")]);
        assert!(policy.apply(&keyed, "t", 3).unwrap().is_none());
    }

    #[test]
    fn corrupt_batches_are_refused_not_resealed() {
        let policy = AppendPolicy {
            compression: Some(Compression::Zstd),
            keys_required: false,
        };
        let mut b = batch(Compression::None, &[Some(b"a")]);
        let last = b.len() - 1;
        b[last] ^= 0xff;
        assert!(matches!(
            policy.apply(&b, "t", 0),
            Err(BrokerError::InvalidBatch(_))
        ));
    }
}
