//! One record inside a batch, and its encoding.

use bytes::Bytes;

use super::varint::{read_varint, read_varlong, write_varint, write_varlong};
use crate::error::BatchError;

/// A record header: a UTF-8 key and a nullable value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub key: String,
    pub value: Option<Bytes>,
}

/// One record, with its deltas relative to the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub attributes: i8,
    pub timestamp_delta: i64,
    pub offset_delta: i32,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<Header>,
}

impl Record {
    /// The record's offset given its batch's base offset.
    pub fn offset(&self, base_offset: i64) -> i64 {
        base_offset + i64::from(self.offset_delta)
    }

    /// The record's timestamp given its batch's base timestamp.
    pub fn timestamp(&self, base_timestamp: i64) -> i64 {
        base_timestamp.saturating_add(self.timestamp_delta)
    }
}

/// Reads a varint length (-1 = null) and that many bytes.
fn read_nullable<'a>(buf: &'a [u8], pos: &mut usize) -> Result<Option<&'a [u8]>, BatchError> {
    let len = read_varint(buf, pos)?;
    if len == -1 {
        return Ok(None);
    }
    let len = usize::try_from(len)
        .map_err(|_| BatchError::Malformed(format!("negative length {len}")))?;
    let bytes = buf.get(*pos..*pos + len).ok_or_else(|| {
        BatchError::Malformed(format!("field of {len} bytes runs past the record"))
    })?;
    *pos += len;
    Ok(Some(bytes))
}

/// The bounds of the record at `*pos`: its body and where the next record starts.
#[inline]
fn record_body<'a>(records: &'a [u8], pos: &mut usize) -> Result<&'a [u8], BatchError> {
    let len = read_varint(records, pos)?;
    let len = usize::try_from(len)
        .map_err(|_| BatchError::Malformed(format!("negative record length {len}")))?;
    let body = records.get(*pos..*pos + len).ok_or_else(|| {
        BatchError::Malformed(format!("record of {len} bytes runs past the batch"))
    })?;
    *pos += len;
    Ok(body)
}

/// The offset delta of the record at `*pos`, skipping to the next record without allocating.
#[inline]
pub(crate) fn skip_record(records: &[u8], pos: &mut usize) -> Result<i32, BatchError> {
    let body = record_body(records, pos)?;
    let mut p = 1; // attributes
    read_varlong(body, &mut p)?;
    read_varint(body, &mut p)
}

/// Parses the record at `*pos` of `records` (shared, so keys and values are zero-copy).
pub(crate) fn parse_record(records: &Bytes, pos: &mut usize) -> Result<Record, BatchError> {
    let start = *pos;
    let body = record_body(records, pos)?;
    let body_start = *pos - body.len();
    let slice = |field: &[u8]| {
        let offset = field.as_ptr() as usize - records.as_ptr() as usize;
        records.slice(offset..offset + field.len())
    };
    let mut p = 0;
    let attributes = *body
        .first()
        .ok_or_else(|| BatchError::Malformed(format!("empty record at {start}")))?
        as i8;
    p += 1;
    let timestamp_delta = read_varlong(body, &mut p)?;
    let offset_delta = read_varint(body, &mut p)?;
    let key = read_nullable(body, &mut p)?.map(slice);
    let value = read_nullable(body, &mut p)?.map(slice);
    let count = read_varint(body, &mut p)?;
    let count = usize::try_from(count)
        .map_err(|_| BatchError::Malformed(format!("negative header count {count}")))?;
    // Each header takes at least two bytes: never reserve more than the body could hold.
    let mut headers = Vec::with_capacity(count.min(body.len() / 2));
    for _ in 0..count {
        let key = read_nullable(body, &mut p)?
            .ok_or_else(|| BatchError::Malformed("null header key".into()))?;
        let key = std::str::from_utf8(key)
            .map_err(|_| BatchError::Malformed("header key is not UTF-8".into()))?
            .to_string();
        let value = read_nullable(body, &mut p)?.map(slice);
        headers.push(Header { key, value });
    }
    if p != body.len() {
        return Err(BatchError::Malformed(format!(
            "record at {body_start} has {} trailing bytes",
            body.len() - p
        )));
    }
    Ok(Record {
        attributes,
        timestamp_delta,
        offset_delta,
        key,
        value,
        headers,
    })
}

fn write_nullable(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        None => write_varint(out, -1),
        Some(b) => {
            write_varint(out, b.len() as i32);
            out.extend_from_slice(b);
        }
    }
}

/// Appends one encoded record (length-prefixed) to `out`.
pub(crate) fn write_record(
    out: &mut Vec<u8>,
    offset_delta: i32,
    timestamp_delta: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[Header],
) {
    let mut body =
        Vec::with_capacity(16 + key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len));
    body.push(0); // attributes: unused in v2
    write_varlong(&mut body, timestamp_delta);
    write_varint(&mut body, offset_delta);
    write_nullable(&mut body, key);
    write_nullable(&mut body, value);
    write_varint(&mut body, headers.len() as i32);
    for header in headers {
        write_nullable(&mut body, Some(header.key.as_bytes()));
        write_nullable(&mut body, header.value.as_deref());
    }
    write_varint(out, body.len() as i32);
    out.extend_from_slice(&body);
}
