//! The append path: validating batches, assigning offsets, writing them to the active segment.

use std::sync::atomic::Ordering;

use neo_record::batch_header::{self, BatchHeader, LOG_OVERHEAD};
use neo_record::{BatchError, now_ms};

use crate::config::{LogConfig, TimestampType};
use crate::error::LogError;
use crate::log::PartitionLog;
use crate::segment::BatchMeta;

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset of the first record appended.
    pub base_offset: i64,
    /// Offset of the last record appended.
    pub last_offset: i64,
    /// The broker's timestamp when the log stamps LogAppendTime, else `None`.
    pub log_append_time: Option<i64>,
    /// Number of batches appended.
    pub batches: usize,
    /// Number of records appended.
    pub records: u64,
    /// Bytes appended.
    pub bytes: usize,
}

impl PartitionLog {
    /// Checks `records` as [`Self::append`] would (whole batches, CRC, record counts, offset
    /// deltas, `max.message.bytes`) without writing them.
    pub fn validate(&self, records: &[u8]) -> Result<(), LogError> {
        validate_batches(records, &self.config()).map(drop)
    }

    /// Validates `records` (one or more v2 batches), assigns offsets and the leader epoch in
    /// place, and appends them. Returns once the bytes are written (not yet durable: see
    /// [`PartitionLog::wait_durable`]). Invalid input leaves the log unchanged.
    pub fn append(&self, records: &mut [u8]) -> Result<AppendInfo, LogError> {
        self.check_open()?;
        let config = self.config();
        let headers = validate_batches(records, &config)?;
        let mut writer = self.inner.writer.lock();
        let now = now_ms();
        let total = records.len() as u64;
        let active = self.active()?;
        let age_expired = config
            .segment_ms
            .is_some_and(|ms| now - active.created_ms() >= ms as i64);
        let would_overflow = active.size() + total > config.segment_bytes.min(i32::MAX as u64);
        let roll = !active.is_empty() && (would_overflow || age_expired || active.index_full());
        if roll {
            self.roll(&mut writer, &config, now)?;
        }
        let active = self.active()?;
        let epoch = self.inner.leader_epoch.load(Ordering::Acquire);
        let append_time = (config.timestamp_type == TimestampType::LogAppendTime).then_some(now);
        let mut next = self.log_end_offset();
        let base_offset = next;
        self.assign_epoch(epoch, base_offset)?;
        let mut metas = Vec::with_capacity(headers.len());
        let mut position = 0usize;
        let mut record_count = 0u64;
        for header in &headers {
            let len = header.total_len();
            let Some(batch) = records.get_mut(position..position + len) else {
                return Err(BatchError::Truncated {
                    needed: position + len,
                    available: total as usize,
                }
                .into());
            };
            batch_header::set_base_offset(batch, next);
            batch_header::set_leader_epoch(batch, epoch);
            if let Some(ts) = append_time {
                batch_header::set_log_append_time(batch, ts);
            }
            metas.push(BatchMeta {
                base_offset: next,
                last_offset: next + i64::from(header.last_offset_delta),
                max_timestamp: append_time.unwrap_or(header.max_timestamp),
                len: len as u32,
            });
            next += i64::from(header.last_offset_delta) + 1;
            record_count += header.records_count.max(0) as u64;
            position += len;
        }
        active.append(records, &metas, config.index_interval_bytes)?;
        self.inner.log_end.store(next, Ordering::Release);
        self.inner
            .bytes_appended
            .fetch_add(total, Ordering::Relaxed);
        self.inner.positions.send_modify(|p| p.log_end = next);
        writer.unflushed_messages += record_count;
        let sync = config.flush.acks_wait_for_fsync()
            || writer.unflushed_messages >= config.flush.messages;
        if sync {
            writer.unflushed_messages = 0;
        }
        drop(writer);
        // After a roll the flusher seals the old segment, even on a topic that syncs rarely.
        if sync || roll {
            self.request_sync();
        }
        self.prepare_roll_if_due(&active, &config);
        Ok(AppendInfo {
            base_offset,
            last_offset: next - 1,
            log_append_time: append_time,
            batches: headers.len(),
            records: record_count,
            bytes: total as usize,
        })
    }
}

/// Checks every batch in `records` and returns their headers, in order.
fn validate_batches(records: &[u8], config: &LogConfig) -> Result<Vec<BatchHeader>, LogError> {
    let mut headers = Vec::new();
    let mut position = 0usize;
    while position < records.len() {
        let rest = records.get(position..).unwrap_or_default();
        let (_, batch_len) =
            batch_header::peek_offset_and_len(rest).ok_or(BatchError::Truncated {
                needed: LOG_OVERHEAD,
                available: rest.len(),
            })?;
        let len = LOG_OVERHEAD + batch_len.max(0) as usize;
        if len > config.max_message_bytes as usize {
            return Err(BatchError::TooLarge {
                size: len,
                max: config.max_message_bytes as usize,
            }
            .into());
        }
        let batch = rest.get(..len).ok_or(BatchError::Truncated {
            needed: len,
            available: rest.len(),
        })?;
        let header = batch_header::validate(batch)?;
        if header.records_count > 0 && header.last_offset_delta != header.records_count - 1 {
            return Err(BatchError::BadRecordCount {
                count: header.records_count,
                last_offset_delta: header.last_offset_delta,
            }
            .into());
        }
        if header.compression() == 0 {
            neo_record::codec::check_offset_deltas(batch)?;
        }
        headers.push(header);
        position += len;
    }
    if headers.is_empty() {
        return Err(BatchError::Empty.into());
    }
    Ok(headers)
}
