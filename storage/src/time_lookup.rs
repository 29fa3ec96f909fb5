//! Finding offsets by timestamp: ListOffsets by time and by max timestamp.

use crate::error::LogError;
use crate::log::PartitionLog;
use neo_record::batch_header::BatchHeader;

impl PartitionLog {
    /// The first offset whose record timestamp is `>= timestamp`, with that timestamp.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>, LogError> {
        let log_start = self.log_start_offset();
        let segments = self.inner.segments.read().clone();
        for segment in segments.iter().filter(|s| s.max_timestamp() >= timestamp) {
            let mut found = segment.find_batch_by_time(timestamp)?;
            while let Some((position, header)) = found {
                if header.last_offset() >= log_start {
                    let batch = segment.read_at(position, header.total_len())?;
                    if let Some(hit) =
                        first_record_at_or_after(&batch, &header, timestamp, log_start)?
                    {
                        return Ok(Some(hit));
                    }
                }
                let after = position + header.total_len() as u64;
                found = segment.walk_from(after, |h| h.max_timestamp >= timestamp)?;
            }
        }
        Ok(None)
    }

    /// The largest timestamp in the log and the offset of the batch that carries it.
    pub fn max_timestamp(&self) -> Result<Option<(i64, i64)>, LogError> {
        let segments = self.inner.segments.read().clone();
        let Some(segment) = segments
            .iter()
            .filter(|s| s.max_timestamp() >= 0)
            .max_by_key(|s| s.max_timestamp())
        else {
            return Ok(None);
        };
        let ts = segment.max_timestamp();
        Ok(segment
            .find_batch_by_time(ts)?
            .map(|(_, h)| (ts, h.last_offset())))
    }
}

/// The offset and timestamp of the first record in `batch` at or after `timestamp`.
fn first_record_at_or_after(
    batch: &[u8],
    header: &BatchHeader,
    timestamp: i64,
    log_start: i64,
) -> Result<Option<(i64, i64)>, LogError> {
    if header.is_log_append_time() {
        let offset = header.base_offset.max(log_start);
        return Ok((header.max_timestamp >= timestamp).then_some((offset, header.max_timestamp)));
    }
    let records = neo_record::codec::decode_records(batch)?;
    Ok(records
        .iter()
        .map(|r| {
            (
                r.offset(header.base_offset),
                r.timestamp(header.base_timestamp),
            )
        })
        .find(|&(offset, ts)| offset >= log_start && ts >= timestamp))
}
