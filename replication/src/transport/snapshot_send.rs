//! Sending a snapshot: offer the file list, stream each file in bounded chunks, then ask the
//! peer to install. Each step waits for the peer's answer, so at most one chunk of a transfer
//! is in flight and the peer never buffers more than a chunk.

use bytes::BytesMut;
use openraft::raft::SnapshotResponse;
use openraft::type_config::alias::{SnapshotOf, VoteOf};
use tokio::io::AsyncReadExt;
use tokio::time::Instant;

use super::error::CallError;
use super::message::{Request, Response, SnapshotFileHeader, SnapshotOffer};
use super::peer_link::PeerLink;
use super::snapshot_files::SnapshotFiles;
use crate::group_id::GroupId;
use crate::types::NeoRaft;

/// How one transfer is bounded: the chunk size and each step's timeout.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SnapshotSendLimits {
    pub(crate) chunk_bytes: usize,
    pub(crate) step_timeout: std::time::Duration,
}

/// Sends `snapshot` of `group` over `link` and returns the peer's answer to the install.
pub(crate) async fn send_snapshot(
    link: &PeerLink,
    group: GroupId,
    vote: VoteOf<NeoRaft>,
    snapshot: SnapshotOf<NeoRaft, SnapshotFiles>,
    limits: SnapshotSendLimits,
) -> Result<SnapshotResponse<NeoRaft>, CallError> {
    let transfer = link.next_id();
    let files = snapshot.snapshot.files;
    let offer = SnapshotOffer {
        group,
        transfer,
        vote,
        meta: snapshot.meta,
        files: files
            .iter()
            .map(|file| SnapshotFileHeader {
                name: file.name.clone(),
                len: file.len,
            })
            .collect(),
    };
    step(link, Request::SnapshotOffer(offer), limits).await?;

    for (index, file) in (0u32..).zip(&files) {
        let read_error = |source| CallError::SnapshotRead {
            path: file.path.clone(),
            source: std::sync::Arc::new(source),
        };
        let mut reader = tokio::fs::File::open(&file.path)
            .await
            .map_err(read_error)?;
        let mut offset = 0u64;
        while offset < file.len {
            let length = usize::try_from(file.len - offset)
                .unwrap_or(usize::MAX)
                .min(limits.chunk_bytes);
            let mut data = BytesMut::zeroed(length);
            reader.read_exact(&mut data).await.map_err(read_error)?;
            let chunk = Request::SnapshotChunk {
                transfer,
                file: index,
                offset,
                data: data.freeze(),
            };
            step(link, chunk, limits).await?;
            offset += length as u64;
        }
    }

    let deadline = Instant::now() + limits.step_timeout;
    match link
        .call(&Request::SnapshotDone { transfer }, deadline)
        .await?
    {
        Response::SnapshotInstalled(response) => Ok(response),
        other => Err(CallError::unexpected(
            link.target(),
            other,
            "snapshot installed",
        )),
    }
}

/// Sends one offer or chunk and waits for the peer to take it.
async fn step(
    link: &PeerLink,
    request: Request,
    limits: SnapshotSendLimits,
) -> Result<(), CallError> {
    let deadline = Instant::now() + limits.step_timeout;
    match link.call(&request, deadline).await? {
        Response::SnapshotProgress => Ok(()),
        other => Err(CallError::unexpected(
            link.target(),
            other,
            "snapshot progress",
        )),
    }
}
