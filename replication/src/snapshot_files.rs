//! A snapshot's data: files in a directory (the controller's serialized state; a partition's
//! sealed segments), sent to a follower file by file.

use std::path::PathBuf;

/// The files of one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotFiles {
    /// The directory holding them.
    pub dir: PathBuf,
    /// Each file's name (relative to `dir`) and length.
    pub files: Vec<(String, u64)>,
}
