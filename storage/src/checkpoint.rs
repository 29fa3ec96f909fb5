//! Small files written atomically: a value to a temporary file, fsync, rename, fsync the dir.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::LogError;

/// Name of the file whose presence says the log was closed cleanly.
pub(crate) const CLEAN_SHUTDOWN: &str = ".clean_shutdown";
/// Offset below which every byte is known to be on disk.
pub(crate) const RECOVERY_POINT: &str = "recovery-point-offset";
/// The log start offset, once `delete_records` or retention moved it.
pub(crate) const LOG_START: &str = "log-start-offset";

/// fsync of a directory, so a created, renamed or removed entry is durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), LogError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(LogError::io(dir))
}

/// Writes `value` to `dir/name` atomically and durably.
pub(crate) fn write_i64(dir: &Path, name: &str, value: i64) -> Result<(), LogError> {
    replace_i64(dir, name, value)?;
    sync_dir(dir)
}

/// Writes `value` to `dir/name` atomically; durable once the directory is synced.
pub(crate) fn replace_i64(dir: &Path, name: &str, value: i64) -> Result<(), LogError> {
    replace_bytes(dir, name, value.to_string().as_bytes())
}

/// Writes `bytes` to `dir/name` atomically and durably.
pub(crate) fn write_bytes(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), LogError> {
    replace_bytes(dir, name, bytes)?;
    sync_dir(dir)
}

/// Writes `bytes` to `dir/name` atomically; durable once the directory is synced.
fn replace_bytes(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), LogError> {
    let path = dir.join(name);
    // Unique per write: the flusher and a closing writer may both write the same checkpoint.
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let tmp = dir.join(format!(
        "{name}.{}.tmp",
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let mut file = File::create(&tmp).map_err(LogError::io(&tmp))?;
    file.write_all(bytes).map_err(LogError::io(&tmp))?;
    file.sync_all().map_err(LogError::io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(LogError::io(&path))
}

/// Reads a value written by [`write_i64`]; `None` if the file is missing or unreadable.
pub(crate) fn read_i64(dir: &Path, name: &str) -> Option<i64> {
    std::fs::read_to_string(dir.join(name))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Creates the clean-shutdown marker durably (an empty file: syncing the directory that
/// holds it is enough).
pub(crate) fn mark_clean(dir: &Path) -> Result<(), LogError> {
    let path = dir.join(CLEAN_SHUTDOWN);
    File::create(&path).map_err(LogError::io(&path))?;
    sync_dir(dir)
}

/// Removes the clean-shutdown marker durably; returns whether it was there.
pub(crate) fn take_clean_mark(dir: &Path) -> Result<bool, LogError> {
    let path = dir.join(CLEAN_SHUTDOWN);
    match std::fs::remove_file(&path) {
        Ok(()) => {
            sync_dir(dir)?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(LogError::Io { path, source: e }),
    }
}
