//! Request frames: a 4-byte big-endian length, then the request header and body. The length
//! is checked against the limit before anything is allocated.

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind};
use kafka_protocol::protocol::Decodable;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::versions;

/// Kafka's default `socket.request.max.bytes`.
pub const MAX_REQUEST_BYTES_DEFAULT: usize = 100 * 1024 * 1024;

/// Why a frame could not be read or decoded. Each one closes the connection.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {size} bytes exceeds socket.request.max.bytes {max}")]
    TooLarge { size: i64, max: usize },
    #[error("frame length {0} is negative or too short for a header")]
    BadLength(i32),
    #[error("unknown API key {0}")]
    UnknownApi(i16),
    #[error("{api:?} version {version} is not supported")]
    UnsupportedVersion { api: ApiKey, version: i16 },
    #[error("malformed {api:?} v{version} request: {reason}")]
    Malformed {
        api: ApiKey,
        version: i16,
        reason: String,
    },
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
}

/// A decoded request.
#[derive(Debug)]
pub enum Request {
    /// A request at a version this broker implements.
    Known {
        header: RequestHeader,
        version: i16,
        body: Box<RequestKind>,
    },
    /// ApiVersions at a version newer than this broker knows: answered at v0 with
    /// UNSUPPORTED_VERSION and the supported list, so the client can retry lower.
    ApiVersionsTooNew { correlation_id: i32 },
}

/// Reads one frame body; `Ok(None)` on a clean end of stream between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    max: usize,
) -> Result<Option<Bytes>, FrameError> {
    let mut len = [0u8; 4];
    match reader.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = i32::from_be_bytes(len);
    // api key, api version and correlation id at least.
    if len < 8 {
        return Err(FrameError::BadLength(len));
    }
    if len as usize > max {
        return Err(FrameError::TooLarge {
            size: i64::from(len),
            max,
        });
    }
    // Read into spare capacity rather than zero-filling a buffer of up to 100 MiB first.
    let len = len as usize;
    let mut body = BytesMut::with_capacity(len);
    while body.len() < len {
        let missing = (len - body.len()) as u64;
        if (&mut *reader).take(missing).read_buf(&mut body).await? == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
        }
    }
    Ok(Some(body.freeze()))
}

/// Decodes a frame body into a request.
pub fn decode(mut frame: Bytes) -> Result<Request, FrameError> {
    if frame.len() < 8 {
        return Err(FrameError::BadLength(frame.len() as i32));
    }
    let raw_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let api = ApiKey::try_from(raw_key).map_err(|_| FrameError::UnknownApi(raw_key))?;
    let Some((min, max)) = versions::supported(api) else {
        return Err(FrameError::UnknownApi(raw_key));
    };
    if api == ApiKey::ApiVersions && version > max {
        let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
        return Ok(Request::ApiVersionsTooNew { correlation_id });
    }
    if version < min || version > max {
        return Err(FrameError::UnsupportedVersion { api, version });
    }
    let malformed = |reason: String| FrameError::Malformed {
        api,
        version,
        reason,
    };
    let header = RequestHeader::decode(&mut frame, api.request_header_version(version))
        .map_err(|e| malformed(format!("header: {e:#}")))?;
    let body =
        RequestKind::decode(api, &mut frame, version).map_err(|e| malformed(format!("{e:#}")))?;
    if frame.has_remaining() {
        // Kafka ignores bytes after a request, and some clients send them (librdkafka 2.0's
        // Metadata v12 carries 3): ignore them too.
        tracing::debug!(
            ?api,
            version,
            extra = frame.remaining(),
            "bytes after the request"
        );
    }
    Ok(Request::Known {
        header,
        version,
        body: Box::new(body),
    })
}
