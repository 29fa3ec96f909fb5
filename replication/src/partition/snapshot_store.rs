//! A partition's snapshots on disk: a directory per snapshot holding hard links to the sealed
//! segments it covers and a state file (the snapshot's metadata, where the log starts and
//! ends, and each segment's offsets). A link is a stable copy: a sealed segment's files are
//! never written again (retention unlinks them, compaction renames a new file over them), so the
//! snapshot keeps its bytes whatever the log does, at no cost in space while the log keeps them.
//!
//! Only the newest snapshot is kept: older ones would pin segments retention has removed. A
//! transfer of an older one that is still running fails and openraft sends the newest.

use std::io;
use std::path::{Path, PathBuf};

use neo_storage::{PartitionLog, SEGMENT_EXTENSIONS, SealedSegment, segment_file_name};
use openraft::alias::{SnapshotMetaOf, SnapshotOf};
use serde::{Deserialize, Serialize};

use crate::small_file;
use crate::transport::{SnapshotFile, SnapshotFiles};
use crate::types::NeoRaft;

/// How a snapshot directory's name starts, in the partition's directory.
const SNAPSHOT_PREFIX: &str = "raft.snapshot-";

/// The directory a snapshot is assembled in before it gets its name.
const BUILDING: &str = "raft.snapshot-building";

/// The state file of a snapshot, sent with its segments.
pub const STATE_FILE: &str = "snapshot.state";

/// What a snapshot holds besides its segments' bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotState {
    /// The last entry it covers and the membership then.
    pub meta: SnapshotMetaOf<NeoRaft>,
    /// The log start offset readers had.
    pub log_start: i64,
    /// The end offset of the last data entry it covers: the high watermark there.
    pub data_end: i64,
    /// Each segment's base offset and the offset after its last batch, oldest first.
    pub segments: Vec<(i64, i64)>,
}

/// The snapshots of one partition, in its directory.
#[derive(Debug, Clone)]
pub struct SnapshotStore {
    dir: PathBuf,
}

fn invalid(reason: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, reason.to_string())
}

impl SnapshotStore {
    /// The snapshots kept in the partition directory `dir`.
    pub fn new(dir: &Path) -> SnapshotStore {
        SnapshotStore {
            dir: dir.to_path_buf(),
        }
    }

    fn named(&self, state: &SnapshotState) -> PathBuf {
        let index = state.meta.last_log_id.map_or(0, |id| id.index);
        self.dir.join(format!(
            "{SNAPSHOT_PREFIX}{index:020}-{:020}",
            state.log_start
        ))
    }

    /// The newest complete snapshot and its directory.
    pub fn current(&self) -> io::Result<Option<(SnapshotState, PathBuf)>> {
        let mut newest: Option<(SnapshotState, PathBuf)> = None;
        for dir in self.snapshot_dirs()? {
            // A directory without its state file was cut short by a crash.
            let Some(state) = small_file::read::<SnapshotState>(&dir.join(STATE_FILE))? else {
                continue;
            };
            let newer = newest.as_ref().is_none_or(|(best, _)| {
                (state.meta.last_log_id, state.log_start) > (best.meta.last_log_id, best.log_start)
            });
            if newer {
                newest = Some((state, dir));
            }
        }
        Ok(newest)
    }

    /// The newest complete snapshot as openraft hands it to the transport (again if a newer
    /// one replaces it while its files are listed).
    pub fn current_snapshot(&self) -> io::Result<Option<SnapshotOf<NeoRaft, SnapshotFiles>>> {
        let mut attempts = 0;
        loop {
            let Some((state, dir)) = self.current()? else {
                return Ok(None);
            };
            match snapshot_of(&state, &dir) {
                Err(e) if e.kind() == io::ErrorKind::NotFound && attempts < 3 => attempts += 1,
                other => return other.map(Some),
            }
        }
    }

    /// Builds a snapshot of `log` from links to its sealed segments up to `limit`:
    /// `choose` is given the offset where they end and names the entry and membership the
    /// snapshot stands for there (`None`: no snapshot now). Returns the new snapshot, or
    /// `None` when nothing was built or it is the current one already.
    pub fn build(
        &self,
        log: &PartitionLog,
        limit: i64,
        choose: impl FnOnce(i64) -> Option<SnapshotMetaOf<NeoRaft>>,
    ) -> io::Result<Option<SnapshotState>> {
        let building = self.dir.join(BUILDING);
        remove_dir(&building)?;
        let (segments, data_end) = log
            .link_sealed_segments(limit, &building)
            .map_err(io::Error::other)?;
        let Some(meta) = choose(data_end) else {
            remove_dir(&building)?;
            return Ok(None);
        };
        let log_start = segments
            .first()
            .map_or(data_end, |s| s.base_offset)
            .max(log.log_start_offset())
            .min(data_end);
        let state = SnapshotState {
            meta,
            log_start,
            data_end,
            segments: segments
                .iter()
                .map(|s| (s.base_offset, s.next_offset))
                .collect(),
        };
        if self
            .current()?
            .is_some_and(|(current, _)| self.named(&current) == self.named(&state))
        {
            remove_dir(&building)?;
            return Ok(None);
        }
        small_file::write_durably(&building.join(STATE_FILE), &state)?;
        self.publish(&building, &state)?;
        Ok(Some(state))
    }

    /// Keeps a snapshot received from the leader (its files in a staging directory that is
    /// removed afterwards) as this replica's current one.
    pub fn keep_received(&self, state: &SnapshotState, files: &SnapshotFiles) -> io::Result<()> {
        let building = self.dir.join(BUILDING);
        remove_dir(&building)?;
        std::fs::create_dir_all(&building)?;
        for file in &files.files {
            link_or_copy(&file.path, &building.join(&file.name))?;
        }
        sync_dir(&building)?;
        self.publish(&building, state)
    }

    /// Gives the assembled snapshot its name and removes every other snapshot.
    fn publish(&self, building: &Path, state: &SnapshotState) -> io::Result<()> {
        let target = self.named(state);
        remove_dir(&target)?;
        std::fs::rename(building, &target)?;
        sync_dir(&self.dir)?;
        for dir in self.snapshot_dirs()? {
            if dir != target {
                remove_dir(&dir)?;
            }
        }
        Ok(())
    }

    fn snapshot_dirs(&self) -> io::Result<Vec<PathBuf>> {
        let mut dirs = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(SNAPSHOT_PREFIX) && name != BUILDING && entry.path().is_dir() {
                dirs.push(entry.path());
            }
        }
        Ok(dirs)
    }
}

/// The snapshot in `dir` as openraft hands it to the transport: its segments' files, then
/// its state file.
pub fn snapshot_of(
    state: &SnapshotState,
    dir: &Path,
) -> io::Result<SnapshotOf<NeoRaft, SnapshotFiles>> {
    let mut files = Vec::with_capacity(state.segments.len() * 3 + 1);
    let names = state.segments.iter().flat_map(|(base, _)| {
        SEGMENT_EXTENSIONS.map(|extension| segment_file_name(*base, extension))
    });
    for name in names.chain(std::iter::once(STATE_FILE.to_owned())) {
        let path = dir.join(&name);
        let len = std::fs::metadata(&path)?.len();
        files.push(SnapshotFile { name, path, len });
    }
    Ok(SnapshotOf::<NeoRaft, SnapshotFiles> {
        meta: state.meta.clone(),
        snapshot: SnapshotFiles { files },
    })
}

/// The state of a received snapshot and its segments, checked: every segment has all its
/// files, and they are contiguous up to the data end.
pub fn received(files: &SnapshotFiles) -> io::Result<(SnapshotState, Vec<SealedSegment>)> {
    let path_of = |name: &str| {
        files
            .files
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.path.clone())
            .ok_or_else(|| invalid(format!("snapshot without {name}")))
    };
    let state: SnapshotState = small_file::read(&path_of(STATE_FILE)?)?
        .ok_or_else(|| invalid("snapshot state file empty"))?;
    let mut segments = Vec::with_capacity(state.segments.len());
    let mut expected = None;
    for &(base_offset, next_offset) in &state.segments {
        if expected.is_some_and(|e| e != base_offset) || next_offset <= base_offset {
            return Err(invalid(format!(
                "snapshot segments not contiguous at {base_offset}"
            )));
        }
        expected = Some(next_offset);
        let [log, index, time] =
            SEGMENT_EXTENSIONS.map(|extension| path_of(&segment_file_name(base_offset, extension)));
        segments.push(SealedSegment {
            base_offset,
            next_offset,
            files: [log?, index?, time?],
        });
    }
    if expected.unwrap_or(state.data_end) != state.data_end || state.log_start > state.data_end {
        return Err(invalid(format!(
            "snapshot segments end at {expected:?}, its data at {}",
            state.data_end
        )));
    }
    Ok((state, segments))
}

fn remove_dir(dir: &Path) -> io::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Makes `target` a hard link to `source`, or a synced copy on another file system.
fn link_or_copy(source: &Path, target: &Path) -> io::Result<()> {
    if std::fs::hard_link(source, target).is_ok() {
        return Ok(());
    }
    std::fs::copy(source, target)?;
    std::fs::File::open(target)?.sync_all()
}
