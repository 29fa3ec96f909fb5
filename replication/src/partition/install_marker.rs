//! A snapshot install cut short by a crash. Installing replaces the log's segments, empties
//! the sidecar and rewrites the Raft state files one after another, so a crash between two
//! steps leaves them disagreeing. A marker written before the first step and removed after the
//! last tells the next open to start the replica over from an empty log, keeping its vote, as
//! a wiped follower does; its leader then sends the snapshot again.

use std::fs::File;
use std::io;
use std::path::Path;

use neo_storage::PartitionLog;

use crate::small_file;

/// The marker's name in the partition directory.
const INSTALLING_FILE: &str = "raft.installing";
/// The Raft state files all start so.
const RAFT_PREFIX: &str = "raft.";
/// The one Raft state file a replica keeps when it starts over: a vote given must stay given.
const KEPT: &str = "raft.vote";

/// Marks an install begun in `dir`, durably.
pub(crate) fn begin(dir: &Path) -> io::Result<()> {
    small_file::write_durably(&dir.join(INSTALLING_FILE), &true)
}

/// Marks the install in `dir` finished: every file it wrote is durable.
pub(crate) fn finish(dir: &Path) -> io::Result<()> {
    std::fs::remove_file(dir.join(INSTALLING_FILE))?;
    File::open(dir)?.sync_all()
}

/// If an install in `log`'s directory was cut short, empties the replica (the log, the
/// sidecar, every Raft state file but the vote, the snapshots) and returns true.
pub(crate) fn start_over_if_interrupted(log: &PartitionLog) -> io::Result<bool> {
    let dir = log.dir();
    if !dir.join(INSTALLING_FILE).exists() {
        return Ok(false);
    }
    tracing::warn!(dir = %dir.display(), "a snapshot install was cut short: the replica starts over from an empty log");
    log.replace_segments(&[], 0, 0).map_err(io::Error::other)?;
    forget_raft_state(dir)?;
    finish(dir)?;
    Ok(true)
}

/// Removes every Raft state file and snapshot in `dir` but the vote (and an install's
/// marker), durably.
pub(crate) fn forget_raft_state(dir: &Path) -> io::Result<()> {
    let mut removed = false;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !name.starts_with(RAFT_PREFIX) || name == KEPT || name == INSTALLING_FILE {
            continue;
        }
        if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(entry.path())?;
        } else {
            std::fs::remove_file(entry.path())?;
        }
        removed = true;
    }
    if removed {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use neo_record::codec::{BatchBuilder, Compression};
    use neo_storage::{Flusher, LogConfig};

    use super::*;

    #[test]
    fn an_interrupted_install_leaves_an_empty_replica_that_kept_its_vote() {
        let dir = tempfile::tempdir().unwrap();
        let flusher = Flusher::new(1);
        let log = PartitionLog::open(dir.path(), LogConfig::default(), flusher.clone()).unwrap();
        let mut batch = BatchBuilder::new(Compression::None, 1_000);
        batch.push(1_000, None, Some(b"acknowledged once".as_slice()), &[]);
        log.append(&mut batch.build().unwrap()).unwrap();
        for name in ["raft.vote", "raft.committed", "raft.entries"] {
            std::fs::write(dir.path().join(name), b"state").unwrap();
        }
        std::fs::create_dir(
            dir.path()
                .join("raft.snapshot-00000000000000000007-00000000000000000000"),
        )
        .unwrap();

        assert!(
            !start_over_if_interrupted(&log).unwrap(),
            "no marker, nothing to do"
        );
        assert_eq!(log.log_end_offset(), 1);

        begin(dir.path()).unwrap();
        assert!(start_over_if_interrupted(&log).unwrap());
        assert_eq!(log.log_end_offset(), 0);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with(RAFT_PREFIX))
            .collect();
        left.sort();
        assert_eq!(left, ["raft.vote"]);
        drop(log);
        let reopened = PartitionLog::open(dir.path(), LogConfig::default(), flusher).unwrap();
        assert_eq!(reopened.log_end_offset(), 0);
    }
}
