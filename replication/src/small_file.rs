//! Small state files (a vote, a log id): postcard-encoded, replaced whole through a
//! temporary file and a rename.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The value in `path`, or `None` when there is no such file.
pub fn read<T: DeserializeOwned>(path: &Path) -> io::Result<Option<T>> {
    match std::fs::read(path) {
        Ok(bytes) => postcard::from_bytes(&bytes).map(Some).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Replaces the value in `path` (a crash leaves the old or the new one, not necessarily on
/// disk yet).
pub fn write<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    replace(path, value, false)
}

/// Replaces the value in `path` and makes it durable before returning.
pub fn write_durably<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    replace(path, value, true)
}

/// The temporary file `path` is written through: beside it and named after all of it
/// (`raft.vote` and `raft.applied` are written by different tasks and must not share one).
pub fn temporary(path: &Path) -> PathBuf {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    PathBuf::from(tmp)
}

fn replace<T: Serialize>(path: &Path, value: &T, durable: bool) -> io::Result<()> {
    let bytes = postcard::to_stdvec(value).map_err(io::Error::other)?;
    let tmp = temporary(path);
    let mut out = File::create(&tmp)?;
    out.write_all(&bytes)?;
    if durable {
        out.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if durable && let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}
