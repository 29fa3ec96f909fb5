//! The metadata store: the state, and the one way to change it. A change is a
//! [`MetadataCommand`], checked against the state, written to the metadata log and fsynced,
//! then applied; readers see the state before or after it, never half of it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use neo_storage::Flusher;
use parking_lot::RwLock;

use super::command::MetadataCommand;
use super::legacy;
use super::metadata_log::MetadataLog;
use super::state::MetadataState;
use crate::error::BrokerError;

/// Directory of the store under the data directory.
const DIR: &str = "meta";
/// The metadata log, under [`DIR`].
const LOG_DIR: &str = "log";
/// The cluster id file, under [`DIR`].
const CLUSTER_ID_FILE: &str = "cluster.id";

/// The broker's metadata (`<data>/meta`).
#[derive(Debug)]
pub struct MetadataStore {
    dir: PathBuf,
    state: RwLock<MetadataState>,
    /// Held while a change is written and applied: changes apply in log order.
    log: tokio::sync::Mutex<MetadataLog>,
}

impl MetadataStore {
    /// Opens the store under `data_dir`, replaying its log; a data directory of the first
    /// format (JSON files) is taken over into a new log.
    pub async fn open(
        data_dir: &Path,
        flusher: Arc<Flusher>,
    ) -> Result<MetadataStore, BrokerError> {
        let dir = data_dir.join(DIR);
        std::fs::create_dir_all(&dir).map_err(|source| BrokerError::DataDir {
            path: dir.clone(),
            source,
        })?;
        let (mut log, replayed) = MetadataLog::open(&dir.join(LOG_DIR), flusher)?;
        let state = match replayed {
            Some(state) => state,
            None => {
                let state = legacy::read_state(&dir)?;
                log.snapshot(state.clone()).await?;
                legacy::retire_state_files(&dir);
                state
            }
        };
        Ok(MetadataStore {
            dir,
            state: RwLock::new(state),
            log: tokio::sync::Mutex::new(log),
        })
    }

    /// Checks `command` against the state, writes it durably and applies it.
    pub async fn apply(&self, command: MetadataCommand) -> Result<(), BrokerError> {
        let mut log = self.log.lock().await;
        self.state.read().check(&command)?;
        log.append(&command, || {
            let mut after = self.state.read().clone();
            after.apply(command.clone());
            after
        })
        .await?;
        self.state.write().apply(command);
        Ok(())
    }

    /// Reads the state.
    pub fn read<R>(&self, read: impl FnOnce(&MetadataState) -> R) -> R {
        read(&self.state.read())
    }

    /// A front-end's metadata file of the first format (`meta/<name>`), while it is still
    /// there: the front-end takes its contents over, then calls [`Self::retire_legacy`].
    pub fn legacy_file(&self, name: &str) -> Result<Option<String>, BrokerError> {
        legacy::read(&self.dir, name)
    }

    /// Sets a front-end's first-format file aside once its contents are in the store.
    pub fn retire_legacy(&self, name: &str) {
        legacy::retire(&self.dir, name);
    }

    /// The cluster's id, chosen once when the data directory is new (`meta/cluster.id`).
    pub fn cluster_id(&self) -> Result<String, BrokerError> {
        if let Some(id) = legacy::read(&self.dir, CLUSTER_ID_FILE)?
            && !id.trim().is_empty()
        {
            return Ok(id.trim().to_string());
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        write_atomically(&self.dir, CLUSTER_ID_FILE, id.as_bytes())?;
        Ok(id)
    }

    /// Closes the metadata log cleanly.
    pub fn close(&self) -> Result<(), BrokerError> {
        match self.log.try_lock() {
            Ok(log) => log.close(),
            // A change is being written: the log's recovery handles the unclean close.
            Err(_) => Ok(()),
        }
    }
}

/// Temporary file, fsync, rename, fsync directory.
fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), BrokerError> {
    use std::io::Write;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BrokerError::DataDir { path, source }
    };
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}.tmp"));
    let mut out = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    out.write_all(bytes).map_err(io(&tmp))?;
    out.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
}
