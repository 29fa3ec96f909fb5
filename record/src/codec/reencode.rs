//! Re-encoding a batch with another codec, for topics whose `compression.type` names one.

use bytes::BytesMut;

use super::builder::BatchBuilder;
use super::compression::Compression;
use super::decode::decode_records;
use crate::batch_header::BatchHeader;
use crate::error::BatchError;

/// `batch` with its records compressed by `codec` instead: same records (keys, values,
/// headers, timestamps), same producer id, epoch and base sequence. Offsets and leader epoch
/// are left for the append to assign, as with any batch.
pub fn recompress(batch: &[u8], codec: Compression) -> Result<BytesMut, BatchError> {
    let header = BatchHeader::parse(batch)?;
    let mut builder = BatchBuilder::new(codec, header.base_timestamp).producer(
        header.producer_id,
        header.producer_epoch,
        header.base_sequence,
    );
    for record in decode_records(batch)? {
        builder.push(
            record.timestamp(header.base_timestamp),
            record.key.as_deref(),
            record.value.as_deref(),
            &record.headers,
        );
    }
    builder.build()
}
