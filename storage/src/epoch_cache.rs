//! The leader-epoch cache: the first offset written under each leader epoch, in order (Kafka's
//! `leader-epoch-checkpoint`), and how Kafka's OffsetForLeaderEpoch reads it.
//!
//! This file holds the list and its file format only; keeping it in step with the log
//! (appends, truncation, retention, replaced segments, recovery) is in `leader_epochs.rs`.

use std::path::Path;

use crate::checkpoint;
use crate::error::LogError;

/// Name of the file in the partition directory holding the cache.
pub(crate) const LEADER_EPOCH_CHECKPOINT: &str = "leader-epoch-checkpoint";

/// Version written on the first line of the file.
const FORMAT_VERSION: u32 = 0;

/// One leader epoch and the first offset written under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEntry {
    /// The leader epoch (Raft term).
    pub epoch: i32,
    /// The first offset of the log written under `epoch` (or the log start, for the oldest
    /// entry once retention passed its real start).
    pub start_offset: i64,
}

/// The answer to "where does epoch E end": the largest epoch known at or below E, and the
/// offset after its last record (the next epoch's start, or the log end for the latest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEndOffset {
    /// The epoch found (E itself when E is below every known epoch, as Kafka answers).
    pub epoch: i32,
    /// The offset after the last record of `epoch`.
    pub end_offset: i64,
}

/// The entries, strictly increasing in both epoch and start offset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct EpochCache {
    entries: Vec<EpochEntry>,
}

impl EpochCache {
    /// The entries, oldest first.
    pub(crate) fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    /// The latest entry, if any.
    pub(crate) fn latest(&self) -> Option<EpochEntry> {
        self.entries.last().copied()
    }

    /// Whether a batch of `epoch` starting at `offset` adds an entry: only an epoch newer than
    /// every known one does. An older one (never written by a leader, and only stored by a
    /// follower if its leader sent it) and a negative one (a batch written with no epoch) are
    /// stored in the log as they are but change nothing here.
    pub(crate) fn would_assign(&self, epoch: i32, offset: i64) -> bool {
        epoch >= 0
            && self
                .latest()
                .is_none_or(|l| epoch > l.epoch && offset >= l.start_offset)
    }

    /// Records that a batch of `epoch` starts at `offset` (see [`Self::would_assign`]).
    /// Returns whether it changed.
    pub(crate) fn assign(&mut self, epoch: i32, offset: i64) -> bool {
        if !self.would_assign(epoch, offset) {
            return false;
        }
        // Two epochs never start at one offset: the later one wins that offset.
        if self.latest().is_some_and(|l| l.start_offset == offset) {
            self.entries.pop();
        }
        self.entries.push(EpochEntry {
            epoch,
            start_offset: offset,
        });
        true
    }

    /// Adds `epoch`, the one a leader is in now, as starting at `log_end` when it is newer
    /// than every known one, keeping an entry that starts there too (for answers only: it is
    /// never written down).
    pub(crate) fn push_current(&mut self, epoch: i32, log_end: i64) {
        if self.would_assign(epoch, log_end) {
            self.entries.push(EpochEntry {
                epoch,
                start_offset: log_end,
            });
        }
    }

    /// Removes the entries starting at or past `end` (the log was cut there). Returns whether
    /// it changed.
    pub(crate) fn truncate_from_end(&mut self, end: i64) -> bool {
        let keep = self.entries.partition_point(|e| e.start_offset < end);
        let changed = keep < self.entries.len();
        self.entries.truncate(keep);
        changed
    }

    /// Drops the entries wholly below `start` (the new log start): the one covering `start`
    /// is kept and starts there, as Kafka's cache does. Returns whether it changed.
    pub(crate) fn truncate_from_start(&mut self, start: i64) -> bool {
        let below = self.entries.partition_point(|e| e.start_offset <= start);
        let Some(covering) = below.checked_sub(1) else {
            return false;
        };
        let unchanged = covering == 0
            && self
                .entries
                .first()
                .is_some_and(|e| e.start_offset == start);
        if unchanged {
            return false;
        }
        self.entries.drain(..covering);
        if let Some(first) = self.entries.first_mut() {
            first.start_offset = start;
        }
        true
    }

    /// Cuts the cache to a log holding offsets `start..end`: no entry starts at or past
    /// the end (no record of it is left), none lies wholly below the start. Returns whether it
    /// changed.
    pub(crate) fn fit_to(&mut self, start: i64, end: i64) -> bool {
        let from_start = self.truncate_from_start(start);
        let from_end = self.truncate_from_end(end);
        from_start || from_end
    }

    /// Kafka's answer for `requested` on a log ending at `log_end`: `None` when it has none
    /// (Kafka's UNDEFINED_EPOCH / UNDEFINED_EPOCH_OFFSET), for a negative epoch, an empty
    /// cache or an epoch newer than every known one.
    pub(crate) fn end_offset_for(&self, requested: i32, log_end: i64) -> Option<EpochEndOffset> {
        if requested < 0 {
            return None;
        }
        let latest = self.latest()?;
        if requested == latest.epoch {
            return Some(EpochEndOffset {
                epoch: requested,
                end_offset: log_end,
            });
        }
        let higher = self.entries.partition_point(|e| e.epoch <= requested);
        let next = self.entries.get(higher)?;
        let floor = higher
            .checked_sub(1)
            .and_then(|i| self.entries.get(i))
            .map_or(requested, |e| e.epoch);
        Some(EpochEndOffset {
            epoch: floor,
            end_offset: next.start_offset,
        })
    }

    /// The cache as its file holds it: the format version, the entry count, then one
    /// `epoch start_offset` line per entry (Kafka's checkpoint layout).
    fn encode(&self) -> String {
        let mut text = format!("{FORMAT_VERSION}\n{}\n", self.entries.len());
        for e in &self.entries {
            text.push_str(&format!("{} {}\n", e.epoch, e.start_offset));
        }
        text
    }

    /// Parses [`Self::encode`]'s text; `None` if it is not exactly that (a torn or foreign
    /// file: every line, the last too, ends with a newline), or its entries are out of order.
    fn decode(text: &str) -> Option<EpochCache> {
        let mut lines = text.strip_suffix('\n')?.split('\n');
        if lines.next()?.trim().parse::<u32>().ok()? != FORMAT_VERSION {
            return None;
        }
        let count: usize = lines.next()?.trim().parse().ok()?;
        let mut cache = EpochCache::default();
        for line in lines.by_ref().take(count) {
            let (epoch, offset) = line.trim().split_once(' ')?;
            let entry = EpochEntry {
                epoch: epoch.parse().ok()?,
                start_offset: offset.parse().ok()?,
            };
            let ordered = cache
                .latest()
                .is_none_or(|l| entry.epoch > l.epoch && entry.start_offset > l.start_offset);
            if !ordered || entry.epoch < 0 || entry.start_offset < 0 {
                return None;
            }
            cache.entries.push(entry);
        }
        let whole = cache.entries.len() == count && lines.next().is_none();
        whole.then_some(cache)
    }

    /// Reads the cache from `dir`; `None` if the file is missing or not a valid cache.
    pub(crate) fn read(dir: &Path) -> Option<EpochCache> {
        let text = std::fs::read_to_string(dir.join(LEADER_EPOCH_CHECKPOINT)).ok()?;
        let cache = Self::decode(&text);
        if cache.is_none() {
            tracing::warn!(dir = %dir.display(), "leader-epoch checkpoint unreadable; rebuilding it");
        }
        cache
    }

    /// Writes the cache to `dir` atomically and durably.
    pub(crate) fn write(&self, dir: &Path) -> Result<(), LogError> {
        checkpoint::write_bytes(dir, LEADER_EPOCH_CHECKPOINT, self.encode().as_bytes())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn cache(entries: &[(i32, i64)]) -> EpochCache {
        let mut c = EpochCache::default();
        for &(epoch, offset) in entries {
            assert!(c.assign(epoch, offset));
        }
        c
    }

    fn pairs(c: &EpochCache) -> Vec<(i32, i64)> {
        c.entries()
            .iter()
            .map(|e| (e.epoch, e.start_offset))
            .collect()
    }

    fn answer(epoch: i32, end_offset: i64) -> Option<EpochEndOffset> {
        Some(EpochEndOffset { epoch, end_offset })
    }

    #[test]
    fn only_a_newer_epoch_adds_an_entry() {
        let mut c = cache(&[(1, 0), (3, 10)]);
        assert!(!c.assign(3, 15), "same epoch");
        assert!(!c.assign(2, 20), "older epoch, as a follower may store");
        assert!(!c.assign(-1, 20), "no epoch");
        assert!(c.assign(5, 20));
        assert_eq!(pairs(&c), [(1, 0), (3, 10), (5, 20)]);
    }

    #[test]
    fn answers_as_kafka_does() {
        // Epochs 1 (offsets 0..10), 3 (10..20), 5 (20..log end 42).
        let c = cache(&[(1, 0), (3, 10), (5, 20)]);
        assert_eq!(
            c.end_offset_for(5, 42),
            answer(5, 42),
            "latest: the log end"
        );
        assert_eq!(
            c.end_offset_for(3, 42),
            answer(3, 20),
            "past: next epoch's start"
        );
        assert_eq!(c.end_offset_for(1, 42), answer(1, 10));
        assert_eq!(
            c.end_offset_for(4, 42),
            answer(3, 20),
            "unknown: the one below"
        );
        assert_eq!(c.end_offset_for(2, 42), answer(1, 10));
        assert_eq!(
            c.end_offset_for(0, 42),
            answer(0, 0),
            "below all: first start"
        );
        assert_eq!(c.end_offset_for(6, 42), None, "newer than all");
        assert_eq!(c.end_offset_for(-1, 42), None, "undefined epoch");
        assert_eq!(EpochCache::default().end_offset_for(0, 0), None);
    }

    #[test]
    fn truncation_from_the_end_removes_epochs_starting_there_or_later() {
        let mut c = cache(&[(1, 0), (3, 10), (5, 20)]);
        assert!(!c.truncate_from_end(25));
        assert!(c.truncate_from_end(20));
        assert_eq!(pairs(&c), [(1, 0), (3, 10)]);
        assert!(c.truncate_from_end(0));
        assert!(c.entries().is_empty());
    }

    #[test]
    fn a_new_log_start_keeps_the_epoch_covering_it() {
        let mut c = cache(&[(1, 0), (3, 10), (5, 20)]);
        assert!(!c.truncate_from_start(0));
        assert!(c.truncate_from_start(15));
        assert_eq!(pairs(&c), [(3, 15), (5, 20)]);
        assert!(!c.truncate_from_start(15));
        assert!(c.truncate_from_start(20));
        assert_eq!(pairs(&c), [(5, 20)]);
        assert!(c.truncate_from_start(30));
        assert_eq!(pairs(&c), [(5, 30)]);
    }

    #[test]
    fn the_file_format_round_trips_and_refuses_torn_or_disordered_text() {
        let c = cache(&[(0, 0), (2, 7), (9, 1_000_000_000_000)]);
        assert_eq!(EpochCache::decode(&c.encode()), Some(c.clone()));
        assert_eq!(
            EpochCache::decode(&EpochCache::default().encode()),
            Some(EpochCache::default())
        );
        let text = c.encode();
        for cut in 0..text.len() {
            let torn = text.get(..cut).unwrap();
            assert_eq!(EpochCache::decode(torn), None, "cut at {cut}: {torn:?}");
        }
        assert_eq!(EpochCache::decode("0\n2\n3 10\n1 20\n"), None);
        assert_eq!(EpochCache::decode("0\n1\n3 10\n4 20\n"), None);
        assert_eq!(EpochCache::decode("1\n0\n"), None);
        assert_eq!(EpochCache::decode("garbage"), None);
    }
}
