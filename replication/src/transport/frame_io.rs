//! Moving frames between a socket and the codec: reading whole frames, writing queued ones.

use std::io;

use bytes::{Bytes, BytesMut};
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::frame::{FrameCodec, FrameError};

/// Bytes asked of the socket at least per read.
const READ_CHUNK_BYTES: usize = 16 << 10;

/// A frame ready to write, with its correlation id (so a caller can be told it was not sent).
#[derive(Debug)]
pub(crate) struct EncodedFrame {
    pub(crate) correlation: u64,
    pub(crate) bytes: Bytes,
}

/// Why a connection stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FrameIoError {
    #[error("socket error: {0}")]
    Io(#[from] io::Error),
    #[error("undecodable frame: {0}")]
    Frame(#[from] FrameError),
    #[error("the connection closed in the middle of a frame")]
    TruncatedFrame,
}

/// Reads the next whole frame, keeping what follows it in `buf`; `Ok(None)` when the peer
/// closed the connection between frames.
pub(crate) async fn read_frame<T, R>(
    reader: &mut R,
    buf: &mut BytesMut,
    codec: &FrameCodec,
) -> Result<Option<(u64, T)>, FrameIoError>
where
    T: DeserializeOwned,
    R: AsyncRead + Unpin,
{
    loop {
        if let Some(frame) = codec.decode(buf)? {
            return Ok(Some(frame));
        }
        buf.reserve(READ_CHUNK_BYTES);
        if reader.read_buf(buf).await? == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(FrameIoError::TruncatedFrame)
            };
        }
    }
}

/// Writes `first`, then every frame the queue yields, flushing whenever the queue is empty so
/// frames queued together leave in one write; `on_written` is called per frame. Returns when
/// the queue closes.
pub(crate) async fn write_frames<W>(
    writer: W,
    first: Option<EncodedFrame>,
    queue: &mut mpsc::Receiver<EncodedFrame>,
    mut on_written: impl FnMut(),
) -> io::Result<()>
where
    W: AsyncWrite + Unpin,
{
    let mut writer = tokio::io::BufWriter::new(writer);
    if let Some(frame) = first {
        writer.write_all(&frame.bytes).await?;
        on_written();
    }
    loop {
        let frame = match queue.try_recv() {
            Ok(frame) => frame,
            Err(_) => {
                writer.flush().await?;
                match queue.recv().await {
                    Some(frame) => frame,
                    None => return Ok(()),
                }
            }
        };
        writer.write_all(&frame.bytes).await?;
        on_written();
    }
}
