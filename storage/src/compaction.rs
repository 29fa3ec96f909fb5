//! Log compaction (`cleanup.policy=compact`): the sealed segments keep only the latest record
//! of each key. Offsets never change: a batch that loses records is rebuilt covering the same
//! offsets (its records keep their offset deltas), and a batch that loses all of them stays
//! as an empty batch, so batches stay contiguous and recovery reads them as before.
//!
//! A segment is rewritten into `<base>.cleaned.tmp`, fsynced, its indexes unlinked, and the
//! file renamed over `<base>.log`; readers holding the old segment keep reading its old
//! inode. A crash before the rename leaves the old segment (the `.tmp` is removed on open);
//! after it, the new one. Either way its missing indexes are rebuilt on open.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;

use crate::checkpoint;
use crate::error::LogError;
use crate::log::PartitionLog;
use crate::segment::Segment;
use crate::segment_files::segment_path;
use neo_record::batch_header::{self, BatchHeader};
use neo_record::codec::{BatchBuilder, Compression, Record, decode_records};

/// What one compaction did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CompactionReport {
    pub segments_rewritten: usize,
    pub records_removed: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
}

impl PartitionLog {
    /// Compacts the sealed segments (the active one is left alone, as in Kafka): a record is
    /// removed when a later record of the sealed segments has the same key, and a tombstone
    /// (null value) that is the latest of its key once it is older than
    /// `delete_retention_ms`. Records without a key are kept.
    pub fn compact(
        &self,
        now: i64,
        delete_retention_ms: i64,
    ) -> Result<CompactionReport, LogError> {
        self.compact_below(now, delete_retention_ms, i64::MAX)
    }

    /// [`Self::compact`] of the sealed segments that end at or below `below` only (a
    /// replicated log leaves alone what another replica may still be sent as written).
    pub fn compact_below(
        &self,
        now: i64,
        delete_retention_ms: i64,
        below: i64,
    ) -> Result<CompactionReport, LogError> {
        self.check_open()?;
        let _maintenance = self.inner.maintenance.lock();
        let sealed: Vec<Arc<Segment>> = {
            let segments = self.inner.segments.read();
            segments
                .get(..segments.len().saturating_sub(1))
                .unwrap_or_default()
                .iter()
                .filter(|segment| segment.next_offset() <= below)
                .cloned()
                .collect()
        };
        let mut latest: HashMap<Bytes, i64> = HashMap::new();
        for segment in &sealed {
            segment.for_each_batch(|batch| {
                let header = BatchHeader::parse(batch)?;
                if header.is_control() {
                    return Ok(());
                }
                for record in decode_records(batch)? {
                    if let Some(key) = record.key.clone() {
                        latest.insert(key, record.offset(header.base_offset));
                    }
                }
                Ok(())
            })?;
        }
        let tombstones_before = now.saturating_sub(delete_retention_ms);
        let keep = |base: i64, r: &Record, ts: i64| match &r.key {
            None => true,
            Some(key) => {
                latest.get(key) == Some(&r.offset(base))
                    && (r.value.is_some() || ts >= tombstones_before)
            }
        };
        let mut report = CompactionReport::default();
        for segment in sealed {
            let before = segment.size();
            let Some((bytes, removed)) = rewrite(&segment, &keep)? else {
                continue;
            };
            self.replace_segment(&segment, &bytes)?;
            report.segments_rewritten += 1;
            report.records_removed += removed;
            report.bytes_before += before;
            report.bytes_after += bytes.len() as u64;
        }
        Ok(report)
    }

    /// Puts `bytes` in place of `old`'s file and `old` out of the segment list.
    fn replace_segment(&self, old: &Arc<Segment>, bytes: &[u8]) -> Result<(), LogError> {
        let dir = &self.inner.dir;
        let base = old.base_offset();
        let tmp = segment_path(dir, base, "cleaned.tmp");
        std::fs::write(&tmp, bytes).map_err(LogError::io(&tmp))?;
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(LogError::io(&tmp))?;
        for extension in ["index", "timeindex"] {
            let path = segment_path(dir, base, extension);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(LogError::Io { path, source: e }),
            }
        }
        std::fs::rename(&tmp, old.log_path()).map_err(LogError::io(&tmp))?;
        checkpoint::sync_dir(dir)?;
        let config = self.config();
        let fresh = Segment::open(
            dir,
            base,
            Some(config.max_index_bytes),
            neo_record::now_ms(),
            self.inner.flusher.segment_cache(),
        )?;
        fresh.scan(config.index_interval_bytes)?;
        fresh.seal()?;
        let mut writer = self.inner.writer.lock();
        let mut segments = self.inner.segments.write();
        if let Some(slot) = segments.iter_mut().find(|s| Arc::ptr_eq(s, old)) {
            *slot = fresh;
        }
        writer.unsynced.retain(|s| !Arc::ptr_eq(s, old));
        Ok(())
    }
}

/// The segment's batches with only the records `keep` accepts; `None` when all are kept.
fn rewrite(
    segment: &Segment,
    keep: &impl Fn(i64, &Record, i64) -> bool,
) -> Result<Option<(Vec<u8>, u64)>, LogError> {
    let mut out = Vec::with_capacity(segment.size() as usize);
    let mut removed = 0u64;
    segment.for_each_batch(|batch| {
        let header = BatchHeader::parse(batch)?;
        if header.is_control() || header.is_transactional() {
            out.extend_from_slice(batch);
            return Ok(());
        }
        let records = decode_records(batch)?;
        let timestamp = |r: &Record| {
            if header.is_log_append_time() {
                header.max_timestamp
            } else {
                r.timestamp(header.base_timestamp)
            }
        };
        let kept: Vec<&Record> = records
            .iter()
            .filter(|r| keep(header.base_offset, r, timestamp(r)))
            .collect();
        if kept.len() == records.len() {
            out.extend_from_slice(batch);
            return Ok(());
        }
        removed += (records.len() - kept.len()) as u64;
        let codec = if kept.is_empty() {
            Compression::None
        } else {
            Compression::from_attributes(header.attributes)?
        };
        let mut builder = BatchBuilder::new(codec, header.base_timestamp)
            .producer(
                header.producer_id,
                header.producer_epoch,
                header.base_sequence,
            )
            .covering(header.last_offset_delta);
        for r in kept {
            builder.push_at(
                r.offset_delta,
                timestamp(r),
                r.key.as_deref(),
                r.value.as_deref(),
                &r.headers,
            );
        }
        let mut rebuilt = builder.build()?;
        batch_header::set_base_offset(&mut rebuilt, header.base_offset);
        batch_header::set_leader_epoch(&mut rebuilt, header.partition_leader_epoch);
        if header.is_log_append_time() {
            batch_header::set_log_append_time(&mut rebuilt, header.max_timestamp);
        }
        out.extend_from_slice(&rebuilt);
        Ok(())
    })?;
    Ok((removed > 0).then_some((out, removed)))
}
