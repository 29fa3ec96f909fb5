//! The cluster RPC frame, encoded and decoded without I/O.
//!
//! On the wire a frame is `length: u32 BE | correlation: u64 BE | body`: `length` counts the
//! correlation id and the body, the body is one postcard-encoded message (a
//! [`Request`](super::message::Request) from the connecting side, a
//! [`Response`](super::message::Response) back). The length is checked against
//! `max_frame_bytes` before anything is allocated for the frame, and a decode error is returned,
//! never a panic: the connection that sent it is closed.

use bytes::{Buf, BufMut, BytesMut};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Bytes of the length prefix.
const LENGTH_BYTES: usize = 4;
/// Bytes of the correlation id.
const CORRELATION_BYTES: usize = 8;

/// Why bytes are not a frame (decoding) or a message does not fit one (encoding).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The length prefix (or an encoded message) is over the configured limit.
    #[error("a frame of {length} bytes is over the limit of {max} bytes")]
    TooLarge {
        /// The frame's length (correlation id and body).
        length: usize,
        /// The configured `max_frame_bytes`.
        max: usize,
    },
    /// The length prefix is too small to hold a correlation id.
    #[error("a frame of {length} bytes cannot hold its correlation id")]
    TooShort {
        /// The frame's length.
        length: usize,
    },
    /// The body is not a message of the expected kind.
    #[error("a frame body does not decode: {0}")]
    Malformed(postcard::Error),
    /// The body holds bytes after its message.
    #[error("a frame body has {0} bytes after its message")]
    TrailingBytes(usize),
}

/// Encodes and decodes frames bounded by `max_frame_bytes`.
#[derive(Debug, Clone, Copy)]
pub struct FrameCodec {
    max_frame_bytes: usize,
}

impl FrameCodec {
    /// A codec refusing frames longer than `max_frame_bytes` (correlation id and body).
    pub fn new(max_frame_bytes: usize) -> Self {
        Self { max_frame_bytes }
    }

    /// Appends `message` as one frame to `out`; on error `out` is left as it was.
    pub fn encode<T: Serialize>(
        &self,
        correlation: u64,
        message: &T,
        out: &mut BytesMut,
    ) -> Result<(), FrameError> {
        let start = out.len();
        out.put_u32(0);
        out.put_u64(correlation);
        if let Err(error) = postcard::to_io(message, (&mut *out).writer()) {
            out.truncate(start);
            return Err(FrameError::Malformed(error));
        }
        let length = out.len() - start - LENGTH_BYTES;
        let prefix = u32::try_from(length)
            .ok()
            .filter(|_| length <= self.max_frame_bytes);
        match (prefix, out.get_mut(start..start + LENGTH_BYTES)) {
            (Some(prefix), Some(slot)) => {
                slot.copy_from_slice(&prefix.to_be_bytes());
                Ok(())
            }
            _ => {
                out.truncate(start);
                Err(FrameError::TooLarge {
                    length,
                    max: self.max_frame_bytes,
                })
            }
        }
    }

    /// Takes the first whole frame off `buf`: `Ok(None)` while it is incomplete (having reserved
    /// room for the rest of it), the correlation id and the message once it is whole.
    pub fn decode<T: DeserializeOwned>(
        &self,
        buf: &mut BytesMut,
    ) -> Result<Option<(u64, T)>, FrameError> {
        let Some(prefix) = buf.get(..LENGTH_BYTES) else {
            return Ok(None);
        };
        let mut prefix = prefix;
        let length = prefix.get_u32() as usize;
        if length > self.max_frame_bytes {
            return Err(FrameError::TooLarge {
                length,
                max: self.max_frame_bytes,
            });
        }
        if length < CORRELATION_BYTES {
            return Err(FrameError::TooShort { length });
        }
        let whole = LENGTH_BYTES + length;
        if buf.len() < whole {
            buf.reserve(whole - buf.len());
            return Ok(None);
        }
        buf.advance(LENGTH_BYTES);
        let mut frame = buf.split_to(length);
        let correlation = frame.get_u64();
        let (message, rest) = postcard::take_from_bytes(&frame).map_err(FrameError::Malformed)?;
        if !rest.is_empty() {
            return Err(FrameError::TrailingBytes(rest.len()));
        }
        Ok(Some((correlation, message)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group_id::GroupId;
    use crate::transport::message::{RemoteError, Request, Response};

    fn hello() -> Request {
        Request::Hello {
            node_id: 7,
            cluster_id: "neo-test".into(),
        }
    }

    fn encoded(codec: &FrameCodec, correlation: u64, request: &Request) -> BytesMut {
        let mut out = BytesMut::new();
        codec.encode(correlation, request, &mut out).unwrap();
        out
    }

    #[test]
    fn a_frame_decodes_to_what_was_encoded() {
        let codec = FrameCodec::new(1024);
        let mut buf = encoded(&codec, 42, &hello());
        let response = Response::Error(RemoteError::UnknownGroup(GroupId::Partition {
            topic_id: 9,
            partition: 3,
        }));
        codec.encode(43, &response, &mut buf).unwrap();

        let (correlation, request) = codec.decode::<Request>(&mut buf).unwrap().unwrap();
        assert_eq!(correlation, 42);
        assert!(
            matches!(request, Request::Hello { node_id: 7, ref cluster_id } if cluster_id == "neo-test")
        );
        let (correlation, decoded) = codec.decode::<Response>(&mut buf).unwrap().unwrap();
        assert_eq!(correlation, 43);
        assert_eq!(format!("{decoded:?}"), format!("{response:?}"));
        assert!(buf.is_empty());
    }

    #[test]
    fn every_prefix_of_a_frame_waits_for_more_bytes() {
        let codec = FrameCodec::new(1024);
        let whole = encoded(&codec, 1, &hello());
        for cut in 0..whole.len() {
            let mut part = BytesMut::from(&whole[..cut]);
            assert!(
                codec.decode::<Request>(&mut part).unwrap().is_none(),
                "cut at {cut}"
            );
            assert_eq!(part.len(), cut, "nothing consumed at {cut}");
        }
    }

    #[test]
    fn a_length_over_the_limit_is_refused_before_the_body_arrives() {
        let codec = FrameCodec::new(1024);
        let mut buf = BytesMut::from(&1025u32.to_be_bytes()[..]);
        assert_eq!(
            codec.decode::<Request>(&mut buf).unwrap_err(),
            FrameError::TooLarge {
                length: 1025,
                max: 1024
            }
        );
        assert!(
            buf.capacity() < 1025,
            "no room reserved for a refused frame"
        );
    }

    #[test]
    fn a_message_over_the_limit_is_not_encoded() {
        let codec = FrameCodec::new(16);
        let mut out = BytesMut::from(&b"kept"[..]);
        let error = codec.encode(1, &hello(), &mut out).unwrap_err();
        assert!(matches!(error, FrameError::TooLarge { max: 16, .. }));
        assert_eq!(&out[..], b"kept");
    }

    type Expected = fn(&FrameError) -> bool;

    #[test]
    fn bad_frames_are_errors() {
        let codec = FrameCodec::new(1024);
        let mut with_trailing = encoded(&codec, 1, &hello());
        with_trailing.put_u8(0);
        let length = (with_trailing.len() - LENGTH_BYTES) as u32;
        with_trailing[..LENGTH_BYTES].copy_from_slice(&length.to_be_bytes());

        let cases: [(&str, BytesMut, Expected); 3] = [
            (
                "length shorter than a correlation id",
                BytesMut::from(&[0, 0, 0, 3, 1, 2, 3][..]),
                |e| matches!(e, FrameError::TooShort { length: 3 }),
            ),
            (
                "unknown message variant",
                BytesMut::from(&[0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 1, 200][..]),
                |e| matches!(e, FrameError::Malformed(_)),
            ),
            ("a byte after the message", with_trailing, |e| {
                matches!(e, FrameError::TrailingBytes(1))
            }),
        ];
        for (name, mut buf, expected) in cases {
            let error = codec.decode::<Request>(&mut buf).unwrap_err();
            assert!(expected(&error), "{name}: {error}");
        }
    }
}
