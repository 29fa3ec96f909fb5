//! The bounded set of sealed segments whose files are open, shared by every log of a broker.
//!
//! An active segment keeps its files open (one descriptor and two mappings); a sealed one opens
//! them when it is read and joins this cache, which closes the least recently used beyond its
//! limit. So a broker's descriptors are about its partitions plus the limit, however many
//! segments each partition has. A reader that holds a segment's files keeps them open until
//! it is done, even if the cache closes them meanwhile.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

/// A sealed segment as the cache sees it (implemented by `Segment`, so that this file does
/// not depend on it).
pub(crate) trait Cached: Send + Sync {
    /// Its last use stamp (see [`SegmentCache::tick`]).
    fn last_used(&self) -> u64;
    /// Whether it is sealed with its files open.
    fn evictable(&self) -> bool;
    /// Closes its files if it is sealed and nobody is changing it; what to drop (outside any
    /// lock) to unmap and close them.
    fn close_if_sealed(&self) -> Option<Box<dyn Send>>;
}

/// How many sealed segments keep their files open when no limit is configured.
pub const DEFAULT_OPEN_SEGMENTS: usize = 1024;

/// The sealed segments with open files, least recently used closed first.
pub struct SegmentCache {
    limit: usize,
    open: Mutex<Vec<Weak<dyn Cached>>>,
    clock: AtomicU64,
}

impl std::fmt::Debug for SegmentCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentCache")
            .field("limit", &self.limit)
            .field("open", &self.open.lock().len())
            .finish()
    }
}

impl SegmentCache {
    /// A cache keeping at most `limit` (at least 1) sealed segments open.
    pub fn new(limit: usize) -> Arc<SegmentCache> {
        Arc::new(SegmentCache {
            limit: limit.max(1),
            open: Mutex::new(Vec::new()),
            clock: AtomicU64::new(0),
        })
    }

    /// How many sealed segments have their files open through this cache now.
    pub fn open_segments(&self) -> usize {
        let mut open = self.open.lock();
        open.retain(|s| s.upgrade().is_some_and(|s| s.evictable()));
        open.len()
    }

    /// A new, larger use stamp for least-recently-used order.
    pub(crate) fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::Relaxed)
    }

    /// Records that a sealed segment opened its files, and closes the least recently used
    /// ones beyond the limit.
    pub(crate) fn opened(&self, segment: Weak<dyn Cached>) {
        let mut closed = Vec::new();
        {
            let mut open = self.open.lock();
            open.push(segment);
            if open.len() <= self.limit {
                return;
            }
            let mut live: Vec<(u64, Arc<dyn Cached>)> = open
                .drain(..)
                .filter_map(|s| s.upgrade())
                .filter(|s| s.evictable())
                .map(|s| (s.last_used(), s))
                .collect();
            live.sort_unstable_by_key(|(used, _)| *used);
            let mut excess = live.len().saturating_sub(self.limit);
            for (_, segment) in live {
                if excess > 0
                    && let Some(files) = segment.close_if_sealed()
                {
                    closed.push(files);
                    excess -= 1;
                    continue;
                }
                open.push(Arc::downgrade(&segment));
            }
        }
        // Unmapping and closing happen here, outside the lock.
        drop(closed);
    }
}
