//! AMQP frames on the wire, through `amq-protocol`: each frame is read whole after its 7-byte
//! header has been checked against the negotiated `frame_max`, so a peer cannot make the
//! gateway allocate more than that.

use amq_protocol::frame::{AMQPFrame, gen_frame, parse_frame};
use tokio::io::{AsyncRead, AsyncReadExt};

/// The protocol header a 0-9-1 client sends first, and what the server answers a wrong one
/// with before closing.
pub const PROTOCOL_HEADER: &[u8; 8] = b"AMQP\x00\x00\x09\x01";

/// Frame type byte, channel (2), payload size (4).
const HEADER_LEN: usize = 7;
/// The byte every frame ends with.
pub const FRAME_END: u8 = 0xCE;
/// The frame type of a content body frame.
pub const FRAME_BODY: u8 = 3;

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("frame of {size} bytes is larger than frame_max {max}")]
    TooLarge { size: u32, max: u32 },
    #[error("frame does not end with 0xCE")]
    BadEnd,
    #[error("malformed frame: {0}")]
    Malformed(String),
}

/// Reads one whole frame; `Ok(None)` on a clean end of stream between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    frame_max: u32,
) -> Result<Option<AMQPFrame>, FrameError> {
    let mut header = [0u8; HEADER_LEN];
    match reader.read_exact(&mut header).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let size = u32::from_be_bytes([header[3], header[4], header[5], header[6]]);
    if size > frame_max {
        return Err(FrameError::TooLarge {
            size,
            max: frame_max,
        });
    }
    let mut frame = Vec::with_capacity(HEADER_LEN + size as usize + 1);
    frame.extend_from_slice(&header);
    frame.resize(HEADER_LEN + size as usize + 1, 0);
    reader.read_exact(&mut frame[HEADER_LEN..]).await?;
    if frame.last() != Some(&FRAME_END) {
        return Err(FrameError::BadEnd);
    }
    decode(&frame).map(Some)
}

/// Decodes one whole frame (header, payload and end byte).
pub fn decode(frame: &[u8]) -> Result<AMQPFrame, FrameError> {
    match parse_frame(frame) {
        Ok((&[], parsed)) => Ok(parsed),
        Ok((rest, _)) => Err(FrameError::Malformed(format!(
            "{} bytes after the frame",
            rest.len()
        ))),
        Err(e) => Err(FrameError::Malformed(format!("{e:?}"))),
    }
}

/// Encodes a frame for the wire.
pub fn encode(frame: &AMQPFrame) -> Vec<u8> {
    // Generating into a growable buffer only fails on I/O, which a Vec does not have.
    cookie_factory::gen_simple(gen_frame(frame), Vec::new()).unwrap_or_default()
}
