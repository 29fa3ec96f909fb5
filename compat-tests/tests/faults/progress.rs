//! What the schedule watches of a workload: when it last succeeded, and whether it should go
//! on.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use neo_record::now_ms;

/// A workload's successes, shared with the schedule.
#[derive(Debug)]
pub struct Progress {
    pub name: &'static str,
    last_ok: AtomicI64,
    oks: AtomicU64,
    /// When each success was (ms since the epoch), in order.
    times: Mutex<Vec<i64>>,
    running: Arc<AtomicBool>,
}

impl Progress {
    pub fn new(name: &'static str, running: Arc<AtomicBool>) -> Arc<Progress> {
        Arc::new(Progress {
            name,
            last_ok: AtomicI64::new(0),
            oks: AtomicU64::new(0),
            times: Mutex::new(Vec::new()),
            running,
        })
    }

    /// An operation succeeded (acknowledged, confirmed, answered).
    pub fn ok(&self) {
        let now = now_ms();
        self.times.lock().unwrap().push(now);
        self.last_ok.store(now, Ordering::Release);
        self.oks.fetch_add(1, Ordering::Relaxed);
    }

    /// The first success after `since`, if any yet.
    pub fn first_ok_after(&self, since: i64) -> Option<i64> {
        let times = self.times.lock().unwrap();
        times.get(times.partition_point(|t| *t <= since)).copied()
    }

    /// When it last succeeded (ms since the epoch; 0 before any success).
    pub fn last_ok(&self) -> i64 {
        self.last_ok.load(Ordering::Acquire)
    }

    pub fn oks(&self) -> u64 {
        self.oks.load(Ordering::Relaxed)
    }

    /// Whether the workload should go on with new operations.
    pub fn running(&self) -> bool {
        self.running.load(Ordering::Relaxed)
    }
}
