//! The writing half of a connection: one task drains a bounded queue of encoded frames,
//! flushing once the queue is empty so pipelined responses share writes.

use bytes::Bytes;
use tokio::io::{AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::sync::mpsc;

/// Writes frames from `frames` to `writer` until the queue closes or a write fails.
pub(crate) async fn drain<W: AsyncWrite + Unpin>(writer: W, mut frames: mpsc::Receiver<Bytes>) {
    let mut writer = BufWriter::with_capacity(64 * 1024, writer);
    while let Some(frame) = frames.recv().await {
        if writer.write_all(&frame).await.is_err() {
            return;
        }
        while let Ok(frame) = frames.try_recv() {
            if writer.write_all(&frame).await.is_err() {
                return;
            }
        }
        if writer.flush().await.is_err() {
            return;
        }
    }
    let _ = writer.shutdown().await;
}
