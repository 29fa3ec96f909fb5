//! The sidecar as the partition log's companion: the log's flusher syncs it in the same round
//! as the log, so a durable append waits for one group commit covering both files (an fsync
//! of the sidecar per append, each on a blocking thread of its own, had grown the broker to
//! hundreds of threads under load).

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

use neo_storage::Companion;
use parking_lot::{Mutex, MutexGuard};

use super::sidecar::Sidecar;

/// A sidecar whose writes the partition log's syncs make durable.
#[derive(Debug)]
pub struct SyncedSidecar {
    sidecar: Mutex<Sidecar>,
    /// Grows after every change to the file (the count the flusher's syncs cover).
    written: AtomicU64,
}

impl SyncedSidecar {
    /// Wraps an opened sidecar.
    pub fn new(sidecar: Sidecar) -> SyncedSidecar {
        SyncedSidecar {
            sidecar: Mutex::new(sidecar),
            written: AtomicU64::new(0),
        }
    }

    /// The sidecar, for reading or changing it; changes that must become durable are followed
    /// by [`Self::changed`].
    pub fn lock(&self) -> MutexGuard<'_, Sidecar> {
        self.sidecar.lock()
    }

    /// Counts a change written to the file; returns the count a sync must cover for it.
    pub fn changed(&self) -> u64 {
        self.written.fetch_add(1, Ordering::AcqRel) + 1
    }
}

impl Companion for SyncedSidecar {
    fn written(&self) -> u64 {
        self.written.load(Ordering::Acquire)
    }

    fn sync(&self) -> io::Result<()> {
        // The lock is held only to take the file: appends go on while it syncs.
        let file = self.sidecar.lock().handle();
        file.sync_data()
    }
}
