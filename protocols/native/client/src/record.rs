//! A record as a consumer receives it.

use bytes::Bytes;
use neo_record::codec::Header;

/// One record read from a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedRecord {
    /// The topic it was read from.
    pub topic: String,
    /// The partition it was read from.
    pub partition: i32,
    /// Its offset in the partition.
    pub offset: i64,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    /// The record's key.
    pub key: Option<Bytes>,
    /// The record's value.
    pub value: Option<Bytes>,
    /// The record's headers (AMQP properties and SQS attributes arrive here too).
    pub headers: Vec<Header>,
}

/// Decodes whole batches into records at or after `from`, returning the bytes consumed.
pub(crate) fn decode_batches(
    topic: &str,
    partition: i32,
    mut batches: &[u8],
    from: i64,
    out: &mut Vec<ConsumedRecord>,
) -> Result<(), String> {
    use neo_record::batch_header::BatchHeader;
    while !batches.is_empty() {
        let header = BatchHeader::parse(batches).map_err(|e| e.to_string())?;
        let len = header.total_len();
        let batch = batches
            .get(..len)
            .ok_or_else(|| "batch cut short".to_string())?;
        batches = batches.get(len..).unwrap_or_default();
        if header.is_control() || header.last_offset() < from {
            continue;
        }
        let records = neo_record::codec::decode_records(batch).map_err(|e| e.to_string())?;
        let log_append_time = header.is_log_append_time().then_some(header.max_timestamp);
        for record in records {
            let offset = record.offset(header.base_offset);
            if offset < from {
                continue;
            }
            out.push(ConsumedRecord {
                topic: topic.to_string(),
                partition,
                offset,
                timestamp: log_append_time.unwrap_or(record.timestamp(header.base_timestamp)),
                key: record.key,
                value: record.value,
                headers: record.headers,
            });
        }
    }
    Ok(())
}
