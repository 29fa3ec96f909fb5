//! Receiving a snapshot: the offered files are staged in a directory of their own, written
//! chunk by chunk in order, synced, handed to the group's Raft, and the directory removed.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use openraft::raft::SnapshotResponse;
use openraft::type_config::alias::{SnapshotMetaOf, VoteOf};
use tokio::io::AsyncWriteExt;
use tokio::sync::{OwnedSemaphorePermit, mpsc};

use super::dispatch::serve;
use super::message::{RemoteError, Response, SnapshotOffer};
use super::registry::GroupRegistry;
use super::server_context::{Responder, ServerContext};
use super::snapshot_files::{SnapshotFile, SnapshotFiles};
use crate::group_id::GroupId;
use crate::types::{NeoRaft, NodeId};

/// The longest file name a snapshot may use (a common file system limit).
const MAX_NAME_BYTES: usize = 255;

/// How a staging directory's name starts; nothing else in the staging directory is touched.
const STAGING_PREFIX: &str = "incoming-";

/// How long a transfer waits for its next step before it is abandoned (a sender that gave up
/// without starting a new transfer of the group, which would have replaced this one).
const STEP_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

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

/// Serves one transfer: answers its offer, then each step, until it is installed, refused,
/// replaced by a newer transfer of the group, idle too long, or the connection drops. The staged
/// files are removed in every case.
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
    while let Ok(Some(TransferStep {
        correlation,
        kind,
        permit: _permit,
    })) = tokio::time::timeout(STEP_IDLE_TIMEOUT, steps.recv()).await
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

/// Removes the staging directories a previous run left in `root` (a crash mid-transfer), and
/// makes sure `root` exists.
pub(crate) async fn remove_stale_staging(root: &Path) -> std::io::Result<()> {
    tokio::fs::create_dir_all(root).await?;
    let mut entries = tokio::fs::read_dir(root).await?;
    while let Some(entry) = entries.next_entry().await? {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(STAGING_PREFIX)
        {
            tokio::fs::remove_dir_all(entry.path()).await?;
        }
    }
    Ok(())
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
        let name = format!(
            "{STAGING_PREFIX}{}-from-{from}-{}",
            offer.group, offer.transfer
        );
        let dir = StagingDir(root.join(name));
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

#[cfg(test)]
mod tests {
    use openraft::type_config::alias::StoredMembershipOf;

    use super::*;
    use crate::transport::message::SnapshotFileHeader;

    fn offer(files: &[(&str, u64)]) -> SnapshotOffer {
        SnapshotOffer {
            group: GroupId::Controller,
            transfer: 7,
            vote: openraft::Vote::new(1, 1),
            meta: SnapshotMetaOf::<NeoRaft> {
                last_log_id: None,
                last_membership: StoredMembershipOf::<NeoRaft>::default(),
            },
            files: files
                .iter()
                .map(|&(name, len)| SnapshotFileHeader {
                    name: name.to_owned(),
                    len,
                })
                .collect(),
        }
    }

    #[tokio::test]
    async fn file_names_must_be_plain_and_unique() {
        let root = tempfile::tempdir().unwrap();
        let long = "n".repeat(MAX_NAME_BYTES + 1);
        let refused: [&[(&str, u64)]; 7] = [
            &[("", 1)],
            &[(".", 1)],
            &[("..", 1)],
            &[("../escape", 1)],
            &[("a\\b", 1)],
            &[(&long, 1)],
            &[("same", 1), ("same", 2)],
        ];
        for files in refused {
            let opened = SnapshotReceiver::open(root.path(), 2, offer(files)).await;
            assert!(opened.is_err(), "{files:?}");
        }
        let accepted = [("state", 3), ("00000000000000000042.log", 9)];
        assert!(
            SnapshotReceiver::open(root.path(), 2, offer(&accepted))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn chunks_must_continue_the_first_incomplete_file() {
        let root = tempfile::tempdir().unwrap();
        let files = [("a", 4), ("empty", 0), ("c", 3)];
        let mut receiver = SnapshotReceiver::open(root.path(), 2, offer(&files))
            .await
            .unwrap();
        let steps: [(u32, u64, &[u8], bool); 7] = [
            (2, 0, b"xyz", false), // not the first incomplete file
            (0, 0, b"ab", true),
            (0, 0, b"ab", false),  // already written
            (0, 2, b"cde", false), // past the announced length
            (0, 2, b"", false),
            (0, 2, b"cd", true),
            (2, 0, b"xyz", true), // the empty file is complete from the start
        ];
        for (file, offset, data, ok) in steps {
            let written = receiver.write_chunk(file, offset, data).await;
            assert_eq!(written.is_ok(), ok, "file {file} at {offset}: {written:?}");
        }
        let dir = &receiver.dir.0;
        assert_eq!(std::fs::read(dir.join("a")).unwrap(), b"abcd");
        assert_eq!(std::fs::read(dir.join("empty")).unwrap(), b"");
        assert_eq!(std::fs::read(dir.join("c")).unwrap(), b"xyz");
        let staged = dir.clone();
        drop(receiver);
        assert!(!staged.exists(), "staging removed when the transfer ends");
    }

    #[tokio::test]
    async fn only_staging_directories_are_removed_at_start() {
        let root = tempfile::tempdir().unwrap();
        let stale = root
            .path()
            .join(format!("{STAGING_PREFIX}controller-from-2-9"));
        std::fs::create_dir_all(&stale).unwrap();
        std::fs::write(stale.join("state"), b"half").unwrap();
        std::fs::write(root.path().join("kept"), b"not ours").unwrap();
        remove_stale_staging(root.path()).await.unwrap();
        assert!(!stale.exists());
        assert!(root.path().join("kept").exists());
    }
}
