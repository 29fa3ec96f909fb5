//! Looking inside a stored batch: its records, decompressed.

use bytes::Bytes;

use super::compression::{Compression, decompress};
use super::record::{Record, parse_record, skip_record};
use crate::batch_header::{BatchHeader, HEADER_LEN};
use crate::error::BatchError;

/// Largest decompressed records section [`decode_records`] accepts.
pub const MAX_DECOMPRESSED: usize = 256 << 20;

/// The records section of `batch`, decompressed.
fn records_section(batch: &[u8], header: &BatchHeader, max: usize) -> Result<Vec<u8>, BatchError> {
    let end = header.total_len().min(batch.len());
    let data = batch.get(HEADER_LEN..end).ok_or(BatchError::Truncated {
        needed: HEADER_LEN,
        available: batch.len(),
    })?;
    decompress(Compression::from_attributes(header.attributes)?, data, max)
}

/// Every record of one whole v2 batch, decompressing it if needed.
pub fn decode_records(batch: &[u8]) -> Result<Vec<Record>, BatchError> {
    decode_records_with_limit(batch, MAX_DECOMPRESSED)
}

/// As [`decode_records`], refusing a records section that decompresses past `max` bytes.
pub fn decode_records_with_limit(batch: &[u8], max: usize) -> Result<Vec<Record>, BatchError> {
    let header = BatchHeader::parse(batch)?;
    if header.total_len() > batch.len() {
        return Err(BatchError::Truncated {
            needed: header.total_len(),
            available: batch.len(),
        });
    }
    let section = Bytes::from(records_section(batch, &header, max)?);
    let count = usize::try_from(header.records_count).map_err(|_| BatchError::BadRecordCount {
        count: header.records_count,
        last_offset_delta: header.last_offset_delta,
    })?;
    // A record is at least 7 bytes: never reserve more than the section could hold.
    let mut records = Vec::with_capacity(count.min(section.len() / 7));
    let mut pos = 0;
    for _ in 0..count {
        records.push(parse_record(&section, &mut pos)?);
    }
    if pos != section.len() {
        return Err(BatchError::Malformed(format!(
            "{} bytes after the last record",
            section.len() - pos
        )));
    }
    Ok(records)
}

/// Checks that the records' offset deltas are exactly `0..count`. Uncompressed batches are
/// walked without allocating; compressed ones are decompressed first.
pub fn check_offset_deltas(batch: &[u8]) -> Result<(), BatchError> {
    let header = BatchHeader::parse(batch)?;
    let compressed;
    let section = if header.compression() == 0 {
        batch
            .get(HEADER_LEN..header.total_len().min(batch.len()))
            .unwrap_or_default()
    } else {
        compressed = records_section(batch, &header, MAX_DECOMPRESSED)?;
        &compressed[..]
    };
    let mut pos = 0;
    for index in 0..header.records_count.max(0) as usize {
        let delta = skip_record(section, &mut pos)?;
        if i64::from(delta) != index as i64 {
            return Err(BatchError::OffsetGap {
                index,
                delta: i64::from(delta),
            });
        }
    }
    if pos != section.len() {
        return Err(BatchError::Malformed(format!(
            "{} bytes after the last record",
            section.len() - pos
        )));
    }
    Ok(())
}
