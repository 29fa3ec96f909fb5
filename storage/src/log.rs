//! The partition log: an ordered list of segments with one writer and many readers.
//!
//! This file holds the log's state and its life cycle (open, close, delete); the append path,
//! rolls, reads, positions, durability and truncation each have a file of their own.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Instant;

use parking_lot::{Mutex, RwLock};
use tokio::sync::watch;

use crate::checkpoint::{self, RECOVERY_POINT};
use crate::companion::Companion;
use crate::config::LogConfig;
use crate::epoch_cache::EpochCache;
use neo_record::now_ms;

use crate::error::LogError;
use crate::flusher::{Flusher, SyncState};
use crate::log_positions::LogPositions;
use crate::recovery::{Recovered, RecoveryReport, recover};
use crate::segment::Segment;
use crate::spare::SpareState;

pub(crate) struct Writer {
    /// Rolled segments the flusher has not yet synced and sealed.
    pub(crate) unsynced: Vec<Arc<Segment>>,
    /// A segment was created since the directory was last fsynced.
    pub(crate) dir_dirty: bool,
    pub(crate) unflushed_messages: u64,
}

pub(crate) struct LogInner {
    pub(crate) dir: PathBuf,
    pub(crate) config: RwLock<LogConfig>,
    pub(crate) segments: RwLock<Vec<Arc<Segment>>>,
    pub(crate) writer: Mutex<Writer>,
    pub(crate) log_start: AtomicI64,
    pub(crate) log_end: AtomicI64,
    pub(crate) last_sync_ms: AtomicI64,
    pub(crate) positions: watch::Sender<LogPositions>,
    pub(crate) sync_state: Mutex<SyncState>,
    pub(crate) flusher: Arc<Flusher>,
    pub(crate) leader_epoch: AtomicI32,
    /// The first offset of each leader epoch; changed only under the writer lock.
    pub(crate) epochs: Mutex<EpochCache>,
    pub(crate) closed: AtomicBool,
    pub(crate) bytes_appended: AtomicU64,
    /// Held by work that replaces or removes whole segments (compaction, retention), so
    /// they never act on the same segment at once.
    pub(crate) maintenance: Mutex<()>,
    /// The next segment's files, made ahead of the roll.
    pub(crate) spare: SpareState,
    /// A file synced with the log, if any.
    pub(crate) companion: OnceLock<Arc<dyn Companion>>,
    pub(crate) me: Weak<LogInner>,
}

/// A partition's log. Cheap to clone; all clones share one log.
#[derive(Clone)]
pub struct PartitionLog {
    pub(crate) inner: Arc<LogInner>,
}

impl std::fmt::Debug for PartitionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionLog")
            .field("dir", &self.inner.dir)
            .field("log_start", &self.log_start_offset())
            .field("log_end", &self.log_end_offset())
            .finish()
    }
}

impl PartitionLog {
    /// Opens the log in `dir` (creating it if missing), recovering after an unclean shutdown.
    pub fn open(
        dir: &Path,
        config: LogConfig,
        flusher: Arc<Flusher>,
    ) -> Result<PartitionLog, LogError> {
        Self::open_with_report(dir, config, flusher).map(|(log, _)| log)
    }

    /// As [`PartitionLog::open`], also saying what recovery did.
    pub fn open_with_report(
        dir: &Path,
        config: LogConfig,
        flusher: Arc<Flusher>,
    ) -> Result<(PartitionLog, RecoveryReport), LogError> {
        let started = Instant::now();
        let now = now_ms();
        let Recovered {
            segments,
            log_start,
            mut report,
        } = recover(dir, &config, now, flusher.segment_cache())?;
        let log_end = segments.last().map_or(0, |s| s.next_offset());
        let positions = LogPositions {
            log_end,
            durable: log_end,
            companion_synced: 0,
            failed: false,
        };
        let inner = Arc::new_cyclic(|me| LogInner {
            dir: dir.to_path_buf(),
            config: RwLock::new(config),
            segments: RwLock::new(segments),
            writer: Mutex::new(Writer {
                unsynced: Vec::new(),
                dir_dirty: false,
                unflushed_messages: 0,
            }),
            log_start: AtomicI64::new(log_start),
            log_end: AtomicI64::new(log_end),
            last_sync_ms: AtomicI64::new(now),
            positions: watch::Sender::new(positions),
            sync_state: Mutex::new(SyncState::default()),
            flusher,
            leader_epoch: AtomicI32::new(0),
            epochs: Mutex::new(EpochCache::default()),
            closed: AtomicBool::new(false),
            bytes_appended: AtomicU64::new(0),
            maintenance: Mutex::new(()),
            spare: SpareState::default(),
            companion: OnceLock::new(),
            me: me.clone(),
        });
        let log = PartitionLog { inner };
        log.load_epochs()?;
        report.duration = started.elapsed();
        Ok((log, report))
    }

    /// The partition directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The current configuration.
    pub fn config(&self) -> LogConfig {
        self.inner.config.read().clone()
    }

    /// Replaces the configuration; takes effect on the next append, roll or retention pass.
    pub fn set_config(&self, config: LogConfig) {
        *self.inner.config.write() = config;
    }

    /// The leader epoch stamped on appended batches.
    pub fn set_leader_epoch(&self, epoch: i32) {
        self.inner.leader_epoch.store(epoch, Ordering::Release);
    }

    /// Number of segments.
    pub fn segment_count(&self) -> usize {
        self.inner.segments.read().len()
    }

    /// Bytes in all segments.
    pub fn size_bytes(&self) -> u64 {
        self.inner.segments.read().iter().map(|s| s.size()).sum()
    }

    /// Total bytes appended since open.
    pub fn bytes_appended(&self) -> u64 {
        self.inner.bytes_appended.load(Ordering::Relaxed)
    }

    pub(crate) fn active(&self) -> Result<Arc<Segment>, LogError> {
        self.inner
            .segments
            .read()
            .last()
            .cloned()
            .ok_or_else(|| LogError::Closed(self.inner.dir.clone()))
    }

    pub(crate) fn check_open(&self) -> Result<(), LogError> {
        if self.inner.closed.load(Ordering::Acquire) || self.inner.positions.borrow().failed {
            return Err(LogError::Closed(self.inner.dir.clone()));
        }
        Ok(())
    }

    /// Flushes everything, trims the active indexes and writes the clean-shutdown marker.
    /// Further appends fail with [`LogError::Closed`].
    pub fn close(&self) -> Result<(), LogError> {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let mut writer = self.inner.writer.lock();
        let segments = self.inner.segments.read().clone();
        // A closed segment has nothing to sync: the cache only closes sealed segments, and a
        // segment is synced before it is sealed.
        for segment in &segments {
            segment.sync_if_open()?;
            segment.seal_if_rolled()?;
        }
        if let Some(active) = segments.last() {
            active.seal()?;
        }
        writer.unsynced.clear();
        if let Some(companion) = self.inner.companion.get() {
            let written = companion.written();
            companion.sync().map_err(LogError::io(&self.inner.dir))?;
            self.inner
                .positions
                .send_modify(|p| p.companion_synced = p.companion_synced.max(written));
        }
        let end = self.log_end_offset();
        // One directory sync makes both durable.
        checkpoint::replace_i64(&self.inner.dir, RECOVERY_POINT, end)?;
        checkpoint::mark_clean(&self.inner.dir)?;
        self.inner
            .positions
            .send_modify(|p| p.durable = p.durable.max(end));
        Ok(())
    }

    /// Closes the log and removes its directory.
    pub fn delete(self) -> Result<(), LogError> {
        self.inner.closed.store(true, Ordering::Release);
        let _writer = self.inner.writer.lock();
        std::fs::remove_dir_all(&self.inner.dir).map_err(LogError::io(&self.inner.dir))
    }
}
