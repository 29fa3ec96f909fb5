//! Reading and writing the field types of message bodies (big-endian integers,
//! u16-length strings, u32-length byte strings), never trusting a length read from the peer.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// A body that does not hold what its kind says it holds.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum BodyError {
    /// The body ends inside this field (or a count is larger than the body can hold).
    #[error("body ends inside field {0}")]
    Truncated(&'static str),
    /// This string field is not UTF-8.
    #[error("field {0} is not UTF-8")]
    NotUtf8(&'static str),
    /// A field holds a value outside its range.
    #[error("field {field} has invalid value {value}")]
    InvalidValue {
        /// The field.
        field: &'static str,
        /// What it held.
        value: i64,
    },
    /// Bytes after the last field.
    #[error("{0} bytes left over after the body")]
    TrailingBytes(usize),
    /// A kind this version does not know.
    #[error("unknown message kind {0:#04x}")]
    UnknownKind(u8),
}

/// Reads fields off a body, front to back.
pub(crate) struct BodyReader {
    buf: BytesMut,
}

impl BodyReader {
    pub(crate) fn new(buf: BytesMut) -> Self {
        BodyReader { buf }
    }

    fn need(&self, n: usize, field: &'static str) -> Result<(), BodyError> {
        if self.buf.remaining() < n {
            return Err(BodyError::Truncated(field));
        }
        Ok(())
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, BodyError> {
        self.need(1, field)?;
        Ok(self.buf.get_u8())
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, BodyError> {
        self.need(2, field)?;
        Ok(self.buf.get_u16())
    }

    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, BodyError> {
        self.need(4, field)?;
        Ok(self.buf.get_u32())
    }

    pub(crate) fn i32(&mut self, field: &'static str) -> Result<i32, BodyError> {
        self.need(4, field)?;
        Ok(self.buf.get_i32())
    }

    pub(crate) fn i64(&mut self, field: &'static str) -> Result<i64, BodyError> {
        self.need(8, field)?;
        Ok(self.buf.get_i64())
    }

    pub(crate) fn bool(&mut self, field: &'static str) -> Result<bool, BodyError> {
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(BodyError::InvalidValue {
                field,
                value: i64::from(v),
            }),
        }
    }

    pub(crate) fn string(&mut self, field: &'static str) -> Result<String, BodyError> {
        let len = usize::from(self.u16(field)?);
        self.need(len, field)?;
        let raw = self.buf.split_to(len);
        String::from_utf8(raw.to_vec()).map_err(|_| BodyError::NotUtf8(field))
    }

    pub(crate) fn bytes(&mut self, field: &'static str) -> Result<Bytes, BodyError> {
        Ok(self.bytes_mut(field)?.freeze())
    }

    pub(crate) fn bytes_mut(&mut self, field: &'static str) -> Result<BytesMut, BodyError> {
        let len = self.u32(field)? as usize;
        self.need(len, field)?;
        Ok(self.buf.split_to(len))
    }

    pub(crate) fn optional_bytes(
        &mut self,
        field: &'static str,
    ) -> Result<Option<Bytes>, BodyError> {
        if self.bool(field)? {
            Ok(Some(self.bytes(field)?))
        } else {
            Ok(None)
        }
    }

    /// A u32 count of items, refused when the body cannot hold that many of `min_item` bytes.
    pub(crate) fn count(
        &mut self,
        field: &'static str,
        min_item: usize,
    ) -> Result<usize, BodyError> {
        let n = self.u32(field)? as usize;
        if n.saturating_mul(min_item.max(1)) > self.buf.remaining() {
            return Err(BodyError::Truncated(field));
        }
        Ok(n)
    }

    /// Everything left, for a trailing payload.
    pub(crate) fn rest(&mut self) -> BytesMut {
        self.buf.split()
    }

    pub(crate) fn finish(self) -> Result<(), BodyError> {
        match self.buf.remaining() {
            0 => Ok(()),
            n => Err(BodyError::TrailingBytes(n)),
        }
    }
}

/// Writes fields of a body.
pub(crate) trait BodyWriter {
    fn string(&mut self, s: &str);
    fn bytes(&mut self, b: &[u8]);
    fn optional_bytes(&mut self, b: Option<&[u8]>);
    fn bool(&mut self, v: bool);
}

impl BodyWriter for BytesMut {
    fn string(&mut self, s: &str) {
        // Strings longer than a u16 are cut at a char boundary rather than corrupting the body.
        let mut end = s.len().min(usize::from(u16::MAX));
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        let s = s.get(..end).unwrap_or_default();
        self.put_u16(s.len() as u16);
        self.put_slice(s.as_bytes());
    }

    fn bytes(&mut self, b: &[u8]) {
        self.put_u32(b.len() as u32);
        self.put_slice(b);
    }

    fn optional_bytes(&mut self, b: Option<&[u8]>) {
        match b {
            Some(b) => {
                self.put_u8(1);
                self.bytes(b);
            }
            None => self.put_u8(0),
        }
    }

    fn bool(&mut self, v: bool) {
        self.put_u8(u8::from(v));
    }
}
