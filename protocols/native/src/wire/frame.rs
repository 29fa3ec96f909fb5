//! Framing: a 4-byte length, then version, kind, flags and correlation id, then the body.

use bytes::{Buf, BufMut, BytesMut};
use tokio_util::codec::Decoder;

/// The protocol version this code speaks (the highest it negotiates).
pub const PROTOCOL_VERSION: u8 = 1;
/// Bytes of the length prefix.
pub const LENGTH_PREFIX_LEN: usize = 4;
/// Bytes of the header after the length prefix: version, kind, flags (2), correlation id (4).
pub const FRAME_HEADER_LEN: usize = 8;
/// Default largest frame (header and body, without the length prefix).
pub const MAX_FRAME_BYTES_DEFAULT: usize = 16 * 1024 * 1024;

/// The fixed fields every frame starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Protocol version the frame is written in.
    pub version: u8,
    /// Message kind (see [`crate::wire::Kind`]).
    pub kind: u8,
    /// Reserved bits; version 1 senders write zero and receivers ignore them.
    pub flags: u16,
    /// Pairs a response with its request, and names a subscription or an invocation.
    pub correlation: u32,
}

/// One frame: its header and its undecoded body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The fixed fields.
    pub header: FrameHeader,
    /// The message body, decoded by [`crate::wire::Message::decode`].
    pub body: BytesMut,
}

/// A frame that cannot be read; the connection is closed after an error frame.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    /// The length prefix is over the limit.
    #[error("frame of {size} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// The length the peer announced.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The length prefix is shorter than the fixed header.
    #[error("frame of {0} bytes is shorter than its header")]
    TooShort(usize),
    /// Reading the stream failed.
    #[error("i/o: {0}")]
    Io(String),
}

impl From<std::io::Error> for FrameError {
    fn from(e: std::io::Error) -> Self {
        FrameError::Io(e.to_string())
    }
}

/// Splits a byte stream into frames, refusing any larger than `max_frame` before buffering it.
#[derive(Debug, Clone, Copy)]
pub struct FrameDecoder {
    max_frame: usize,
}

impl FrameDecoder {
    /// A decoder accepting frames up to `max_frame` bytes (length prefix excluded).
    pub fn new(max_frame: usize) -> Self {
        FrameDecoder { max_frame }
    }
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder::new(MAX_FRAME_BYTES_DEFAULT)
    }
}

impl Decoder for FrameDecoder {
    type Item = Frame;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        let Some(prefix) = src.get(..LENGTH_PREFIX_LEN) else {
            return Ok(None);
        };
        let mut prefix = prefix;
        let size = prefix.get_u32() as usize;
        if size > self.max_frame {
            return Err(FrameError::TooLarge {
                size,
                limit: self.max_frame,
            });
        }
        if size < FRAME_HEADER_LEN {
            return Err(FrameError::TooShort(size));
        }
        if src.len() < LENGTH_PREFIX_LEN + size {
            src.reserve(LENGTH_PREFIX_LEN + size - src.len());
            return Ok(None);
        }
        src.advance(LENGTH_PREFIX_LEN);
        let mut frame = src.split_to(size);
        let header = FrameHeader {
            version: frame.get_u8(),
            kind: frame.get_u8(),
            flags: frame.get_u16(),
            correlation: frame.get_u32(),
        };
        Ok(Some(Frame {
            header,
            body: frame,
        }))
    }
}

/// Appends a frame with `header` whose body `write_body` writes, filling in the length.
pub fn encode_frame(
    out: &mut BytesMut,
    header: FrameHeader,
    write_body: impl FnOnce(&mut BytesMut),
) {
    let start = out.len();
    out.put_u32(0);
    out.put_u8(header.version);
    out.put_u8(header.kind);
    out.put_u16(header.flags);
    out.put_u32(header.correlation);
    write_body(out);
    let size = (out.len() - start - LENGTH_PREFIX_LEN) as u32;
    if let Some(prefix) = out.get_mut(start..start + LENGTH_PREFIX_LEN) {
        prefix.copy_from_slice(&size.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(correlation: u32) -> FrameHeader {
        FrameHeader {
            version: PROTOCOL_VERSION,
            kind: 7,
            flags: 0,
            correlation,
        }
    }

    #[test]
    fn frames_split_at_their_lengths_whatever_the_chunking() {
        let mut wire = BytesMut::new();
        encode_frame(&mut wire, header(1), |b| b.put_slice(b"hello"));
        encode_frame(&mut wire, header(2), |_| {});
        let mut decoder = FrameDecoder::default();
        let mut src = BytesMut::new();
        let mut frames = Vec::new();
        for byte in wire.iter() {
            src.put_u8(*byte);
            while let Some(frame) = decoder.decode(&mut src).unwrap() {
                frames.push(frame);
            }
        }
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].header, header(1));
        assert_eq!(&frames[0].body[..], b"hello");
        assert_eq!(frames[1].header.correlation, 2);
        assert!(frames[1].body.is_empty());
    }

    #[test]
    fn a_frame_over_the_limit_is_refused_before_it_is_buffered() {
        let mut src = BytesMut::from(&[0x00, 0x10, 0x00, 0x00][..]);
        let err = FrameDecoder::new(1024).decode(&mut src).unwrap_err();
        assert_eq!(
            err,
            FrameError::TooLarge {
                size: 0x0010_0000,
                limit: 1024
            }
        );
    }

    #[test]
    fn a_frame_shorter_than_its_header_is_refused() {
        let mut src = BytesMut::from(&[0, 0, 0, 3, 1, 2, 3][..]);
        assert_eq!(
            FrameDecoder::default().decode(&mut src).unwrap_err(),
            FrameError::TooShort(3)
        );
    }
}
