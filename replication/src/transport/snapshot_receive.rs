//! Receiving a snapshot: the offered files are staged in a directory of their own, written
//! chunk by chunk in order, synced, handed to the group's Raft, and the directory removed.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use openraft::raft::SnapshotResponse;
use openraft::type_config::alias::{SnapshotMetaOf, VoteOf};
use tokio::io::AsyncWriteExt;
use tokio::sync::{OwnedSemaphorePermit, mpsc};

use super::connection::{Responder, ServerContext};
use super::dispatch::serve;
use super::message::{RemoteError, Response, SnapshotOffer};
use super::registry::GroupRegistry;
use super::snapshot_files::{SnapshotFile, SnapshotFiles};
use crate::group_id::GroupId;
use crate::types::{NeoRaft, NodeId};

/// The longest file name a snapshot may use (a common file system limit).
const MAX_NAME_BYTES: usize = 255;

/// A step of a transfer after its offer, with the request's slot on the connection.
pub(crate) struct TransferStep {
    pub(crate) correlation: u64,
    pub(crate) kind: StepKind,
    pub(crate) permit: OwnedSemaphorePermit,
}

/// What a transfer step asks.
pub(crate) enum StepKind {
    Chunk { file: u32, offset: u64, data: Bytes },
    Done,
}

/// Serves one transfer: answers its offer, then each step, until it is installed, refused, or
/// the connection drops (which removes the staged files).
pub(crate) async fn receive_snapshot(
    offer: SnapshotOffer,
    offer_step: (u64, OwnedSemaphorePermit),
    from: NodeId,
    context: Arc<ServerContext>,
    mut steps: mpsc::Receiver<TransferStep>,
    responder: Responder,
) {
    let (correlation, _permit) = offer_step;
    let mut receiver = match SnapshotReceiver::open(&context.staging_dir, from, offer).await {
        Ok(receiver) => receiver,
        Err(error) => return responder.send(correlation, Response::Error(error)).await,
    };
    responder
        .send(correlation, Response::SnapshotProgress)
        .await;
    while let Some(TransferStep {
        correlation,
        kind,
        permit: _permit,
    }) = steps.recv().await
    {
        let response = match kind {
            StepKind::Chunk { file, offset, data } => {
                match receiver.write_chunk(file, offset, &data).await {
                    Ok(()) => Response::SnapshotProgress,
                    Err(error) => Response::Error(error),
                }
            }
            StepKind::Done => {
                let installed = receiver.install(&context.registry).await;
                let response = installed.map_or_else(Response::Error, Response::SnapshotInstalled);
                return responder.send(correlation, response).await;
            }
        };
        let failed = matches!(response, Response::Error(_));
        responder.send(correlation, response).await;
        if failed {
            return;
        }
    }
}

/// A staging directory, removed when dropped: on success, failure or an aborted connection.
struct StagingDir(PathBuf);

impl Drop for StagingDir {
    fn drop(&mut self) {
        // Blocking, but once per transfer and needed even when the task is aborted.
        if let Err(error) = std::fs::remove_dir_all(&self.0)
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %self.0.display(), %error, "cannot remove a snapshot staging directory");
        }
    }
}

struct StagedFile {
    name: String,
    path: PathBuf,
    len: u64,
    written: u64,
}

/// One transfer's files being written.
struct SnapshotReceiver {
    group: GroupId,
    vote: VoteOf<NeoRaft>,
    meta: SnapshotMetaOf<NeoRaft>,
    files: Vec<StagedFile>,
    /// The file being written, by index.
    open: Option<(usize, tokio::fs::File)>,
    dir: StagingDir,
}

fn refused(reason: impl std::fmt::Display) -> RemoteError {
    RemoteError::SnapshotRefused(reason.to_string())
}

/// A single, ordinary path component.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_BYTES
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
}

impl SnapshotReceiver {
    async fn open(root: &Path, from: NodeId, offer: SnapshotOffer) -> Result<Self, RemoteError> {
        let mut names = HashSet::new();
        for file in &offer.files {
            if !valid_name(&file.name) || !names.insert(file.name.as_str()) {
                return Err(refused(format!(
                    "file name {:?} is not a unique plain name",
                    file.name
                )));
            }
        }
        let dir = StagingDir(root.join(format!("{}-from-{from}-{}", offer.group, offer.transfer)));
        let staging_error =
            |e: std::io::Error| refused(format!("staging {}: {e}", dir.0.display()));
        match tokio::fs::remove_dir_all(&dir.0).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(staging_error(e)),
            _ => {}
        }
        tokio::fs::create_dir_all(&dir.0)
            .await
            .map_err(staging_error)?;
        let mut files = Vec::with_capacity(offer.files.len());
        for header in offer.files {
            let path = dir.0.join(&header.name);
            tokio::fs::File::create(&path)
                .await
                .map_err(staging_error)?;
            files.push(StagedFile {
                name: header.name,
                path,
                len: header.len,
                written: 0,
            });
        }
        Ok(Self {
            group: offer.group,
            vote: offer.vote,
            meta: offer.meta,
            files,
            open: None,
            dir,
        })
    }

    /// Writes a chunk: it must continue the first incomplete file where it stands.
    async fn write_chunk(
        &mut self,
        file: u32,
        offset: u64,
        data: &[u8],
    ) -> Result<(), RemoteError> {
        let index = self
            .files
            .iter()
            .position(|staged| staged.written < staged.len)
            .ok_or_else(|| refused("every file is already complete"))?;
        let staged = self
            .files
            .get_mut(index)
            .ok_or_else(|| refused("no such file"))?;
        let end = offset.checked_add(data.len() as u64);
        if usize::try_from(file).ok() != Some(index)
            || offset != staged.written
            || data.is_empty()
            || end.is_none_or(|end| end > staged.len)
        {
            return Err(refused(format!(
                "chunk of {} bytes at {offset} of file {file}: expected file {index} from {} to {}",
                data.len(),
                staged.written,
                staged.len
            )));
        }
        let write_error =
            |e: std::io::Error| refused(format!("writing {}: {e}", staged.path.display()));
        let handle = match self.open.take() {
            Some((open, handle)) if open == index => handle,
            _ => tokio::fs::OpenOptions::new()
                .append(true)
                .open(&staged.path)
                .await
                .map_err(write_error)?,
        };
        let handle = &mut self.open.insert((index, handle)).1;
        handle.write_all(data).await.map_err(write_error)?;
        staged.written += data.len() as u64;
        if staged.written == staged.len {
            handle.sync_all().await.map_err(write_error)?;
            self.open = None;
        }
        Ok(())
    }

    /// Hands the complete files to the group's Raft; the staging directory goes afterwards.
    async fn install(
        self,
        registry: &GroupRegistry,
    ) -> Result<SnapshotResponse<NeoRaft>, RemoteError> {
        if let Some(missing) = self.files.iter().find(|staged| staged.written < staged.len) {
            return Err(refused(format!(
                "file {} has {} of {} bytes",
                missing.name, missing.written, missing.len
            )));
        }
        // Empty files were never synced by a chunk; the directory holds every entry.
        let sync_error =
            |e: std::io::Error| refused(format!("syncing {}: {e}", self.dir.0.display()));
        let dir = tokio::fs::File::open(&self.dir.0)
            .await
            .map_err(sync_error)?;
        dir.sync_all().await.map_err(sync_error)?;
        let files = SnapshotFiles {
            files: self
                .files
                .into_iter()
                .map(|staged| SnapshotFile {
                    name: staged.name,
                    path: staged.path,
                    len: staged.len,
                })
                .collect(),
        };
        let (vote, meta) = (self.vote, self.meta);
        let response = serve(registry, self.group, |raft| {
            raft.install_snapshot(vote, meta, files)
        })
        .await;
        drop(self.dir);
        response
    }
}
