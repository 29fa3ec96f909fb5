//! Opening a log: which segments to trust, which to scan, and where torn tails are cut.
//!
//! After a clean shutdown (the marker file is present) no batch is read: each sealed segment's
//! end is the next one's base and the active segment's tail is walked from its last index
//! entry. After a crash, every segment past the recovery point (the last one known fsynced) is
//! scanned and CRC-checked; the log is truncated at the first torn or corrupt batch, and any
//! segment after that one is dropped. Indexes that disagree with their log are rebuilt.

use std::path::Path;
use std::sync::Arc;

use crate::checkpoint::{self, LOG_START, RECOVERY_POINT};
use crate::config::LogConfig;
use crate::error::LogError;
use crate::segment::Segment;
use crate::segment_cache::SegmentCache;
use crate::segment_load::ScanOutcome;

/// What a recovery on open did, for logs and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Whether the previous run closed the log cleanly (no scan needed).
    pub clean: bool,
    /// Segments whose batches were scanned and CRC-checked.
    pub segments_scanned: usize,
    /// Bytes cut off torn or corrupt tails.
    pub bytes_truncated: u64,
    /// Segments deleted because they followed a corrupt one.
    pub segments_dropped: usize,
    /// Time the open took.
    pub duration: std::time::Duration,
}

fn list_segment_bases(dir: &Path) -> Result<Vec<i64>, LogError> {
    let mut bases = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(LogError::io(dir))? {
        let entry = entry.map_err(LogError::io(dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(stem) = name.strip_suffix(".log") {
            if let Ok(base) = stem.parse::<i64>() {
                bases.push(base);
            }
        } else if name.ends_with(".tmp") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    bases.sort_unstable();
    Ok(bases)
}

/// The segments of a recovered log and its start offset.
pub(crate) struct Recovered {
    pub segments: Vec<Arc<Segment>>,
    pub log_start: i64,
    pub report: RecoveryReport,
}

/// Opens and, if the last run did not close cleanly, recovers the segments in `dir`.
pub(crate) fn recover(
    dir: &Path,
    config: &LogConfig,
    now: i64,
    cache: &Arc<SegmentCache>,
) -> Result<Recovered, LogError> {
    if !dir.exists() {
        std::fs::create_dir_all(dir).map_err(LogError::io(dir))?;
        if let Some(parent) = dir.parent() {
            checkpoint::sync_dir(parent)?;
        }
    }
    let clean = checkpoint::take_clean_mark(dir)?;
    let mut report = RecoveryReport {
        clean,
        ..RecoveryReport::default()
    };
    let saved_start = checkpoint::read_i64(dir, LOG_START);
    let mut bases = list_segment_bases(dir)?;
    if bases.is_empty() {
        bases.push(saved_start.unwrap_or(0).max(0));
    }
    let recovery_point = if clean {
        i64::MAX
    } else {
        checkpoint::read_i64(dir, RECOVERY_POINT).unwrap_or(0)
    };
    let mut segments: Vec<Arc<Segment>> = Vec::with_capacity(bases.len());
    for (i, &base) in bases.iter().enumerate() {
        let last = i + 1 == bases.len();
        let capacity = last.then_some(config.max_index_bytes);
        let segment = Segment::open(dir, base, capacity, now, cache)?;
        let next_base = bases.get(i + 1).copied();
        let past_recovery_point = !clean && next_base.is_none_or(|n| n > recovery_point);
        if past_recovery_point {
            report.segments_scanned += 1;
        }
        let outcome = if last && past_recovery_point {
            segment.scan(config.index_interval_bytes)?
        } else if last {
            segment.load_tail(config.index_interval_bytes)?
        } else if past_recovery_point || !segment.indexes_consistent()? {
            if !past_recovery_point {
                tracing::info!(path = %segment.log_path().display(), "rebuilding inconsistent indexes");
            }
            // A crash can leave a rolled segment's indexes untrimmed: rebuild them with room,
            // then trim them as a roll would have.
            segment.unseal(config.max_index_bytes)?;
            let outcome = segment.scan(config.index_interval_bytes)?;
            if outcome == ScanOutcome::Clean {
                segment.seal()?;
            }
            outcome
        } else {
            segment.load_sealed(next_base.unwrap_or(base))?;
            ScanOutcome::Clean
        };
        let file_len = std::fs::metadata(segment.log_path()).map_or(0, |m| m.len());
        if !last && outcome == ScanOutcome::Clean {
            // Checked: from here on its files open when it is read.
            segment.close_files();
        }
        segments.push(segment);
        if let ScanOutcome::Truncated { position } = outcome {
            report.bytes_truncated += file_len.saturating_sub(position);
            tracing::warn!(dir = %dir.display(), base, position, "truncated torn or corrupt log tail");
            for &later in bases.get(i + 1..).unwrap_or_default() {
                let dropped = Segment::open(dir, later, None, now, cache)?;
                report.bytes_truncated += dropped.size();
                dropped.delete_files()?;
                report.segments_dropped += 1;
            }
            break;
        }
    }
    let first_base = segments.first().map_or(0, |s| s.base_offset());
    let log_end = segments.last().map_or(0, |s| s.next_offset());
    let log_start = saved_start
        .unwrap_or(first_base)
        .max(first_base)
        .min(log_end);
    if !clean {
        // Whatever survived recovery is on disk from here on. After a clean shutdown it
        // already was, and taking the marker synced the directory.
        if let Some(active) = segments.last() {
            active.sync()?;
        }
        checkpoint::sync_dir(dir)?;
    }
    Ok(Recovered {
        segments,
        log_start,
        report,
    })
}
