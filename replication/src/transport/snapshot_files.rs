//! A snapshot's data as the transport moves it: a list of files on disk.
//!
//! A partition group's snapshot is its sealed segment files, the controller's one file of
//! serialized state. The sender streams each file in bounded chunks; the receiver writes them
//! into a staging directory and hands the group a [`SnapshotFiles`] naming the staged copies.

use std::path::PathBuf;

/// The data of a snapshot: every group's state machine uses this as its `SnapshotData`.
///
/// On the sending side the files must stay readable, unchanged, for as long as the snapshot is
/// the group's current one. On the receiving side they are in the transport's staging directory:
/// `install_snapshot` must move (rename) the ones it keeps, since the staging directory is
/// removed once the install returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotFiles {
    /// The files, transferred in this order.
    pub files: Vec<SnapshotFile>,
}

/// One file of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotFile {
    /// Its name on the receiving side: one path component, unique in the snapshot.
    pub name: String,
    /// Where it is on this node.
    pub path: PathBuf,
    /// Its length in bytes; exactly this many are sent.
    pub len: u64,
}
