//! Building a v2 batch from records (for gateways that turn messages into records, and tests).

use bytes::{BufMut, BytesMut};

use super::compression::{Compression, compress};
use super::record::{Header, write_record};
use crate::batch_header::{self, HEADER_LEN, LOG_OVERHEAD, MAGIC_V2};
use crate::error::BatchError;

/// Accumulates records and builds one RecordBatch v2 with a valid CRC.
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    compression: Compression,
    base_timestamp: i64,
    max_timestamp: i64,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    count: i32,
    /// Set when records keep offset deltas of their own (a batch rebuilt by compaction).
    last_offset_delta: Option<i32>,
    records: Vec<u8>,
}

impl BatchBuilder {
    /// An empty batch whose timestamps are deltas from `base_timestamp`.
    pub fn new(compression: Compression, base_timestamp: i64) -> Self {
        Self {
            compression,
            base_timestamp,
            max_timestamp: base_timestamp,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            count: 0,
            last_offset_delta: None,
            records: Vec::new(),
        }
    }

    /// Marks the batch as written by an idempotent producer.
    pub fn producer(mut self, id: i64, epoch: i16, base_sequence: i32) -> Self {
        self.producer_id = id;
        self.producer_epoch = epoch;
        self.base_sequence = base_sequence;
        self
    }

    /// Adds a record; its offset delta is its position in the batch.
    pub fn push(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) {
        self.push_at(self.count, timestamp, key, value, headers);
    }

    /// Adds a record at its own offset delta (deltas must increase): for rebuilding a batch
    /// with some records removed, whose offsets must not change.
    pub fn push_at(
        &mut self,
        offset_delta: i32,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) {
        write_record(
            &mut self.records,
            offset_delta,
            timestamp - self.base_timestamp,
            key,
            value,
            headers,
        );
        self.max_timestamp = self.max_timestamp.max(timestamp);
        self.count += 1;
    }

    /// The batch's last offset delta, when it covers more offsets than its records (records
    /// removed by compaction, or none left).
    pub fn covering(mut self, last_offset_delta: i32) -> Self {
        self.last_offset_delta = Some(last_offset_delta);
        self
    }

    /// Number of records pushed.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True when no record was pushed.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes of encoded (uncompressed) records so far.
    pub fn records_size(&self) -> usize {
        self.records.len()
    }

    /// The complete batch: base offset 0, leader epoch -1, CRC sealed.
    pub fn build(&self) -> Result<BytesMut, BatchError> {
        let body = compress(self.compression, &self.records)?;
        let total = HEADER_LEN + body.len();
        let mut out = BytesMut::with_capacity(total);
        out.put_i64(0);
        out.put_i32((total - LOG_OVERHEAD) as i32);
        out.put_i32(-1);
        out.put_i8(MAGIC_V2);
        out.put_u32(0); // CRC, sealed below
        out.put_i16(self.compression.id());
        out.put_i32(self.last_offset_delta.unwrap_or((self.count - 1).max(0)));
        out.put_i64(self.base_timestamp);
        out.put_i64(self.max_timestamp);
        out.put_i64(self.producer_id);
        out.put_i16(self.producer_epoch);
        out.put_i32(self.base_sequence);
        out.put_i32(self.count);
        out.put_slice(&body);
        batch_header::reseal_crc(&mut out);
        Ok(out)
    }
}
