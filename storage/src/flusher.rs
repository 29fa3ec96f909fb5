//! Group commit: a small pool of threads that fsync logs on request.
//!
//! A log asks for a sync after an append. If a sync of that log is already running, the request
//! is remembered and one more sync follows it, covering every append that arrived meanwhile —
//! so N concurrent appenders waiting for durability share one fsync rather than queuing N.
//!
//! The same threads do the slow part of a segment roll off the writer's lock (sealing the old
//! segment, the directory fsync, making the next segment's files ahead of time), and the
//! flusher carries what every log of a broker shares: the cache of open sealed segments.

use std::collections::VecDeque;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::segment_cache::{DEFAULT_OPEN_SEGMENTS, SegmentCache};

/// A log the flusher can sync.
pub(crate) trait SyncTarget: Send + Sync {
    /// fsyncs everything appended so far and publishes the new durable offset.
    fn sync_now(&self);
    /// The request state shared with the flusher.
    fn sync_state(&self) -> &Mutex<SyncState>;
}

/// Per-log request state: at most one queued or running sync, plus "run again".
#[derive(Default)]
pub(crate) struct SyncState {
    queued: bool,
    running: bool,
    again: bool,
}

/// Called with the duration of every sync (for an fsync latency histogram).
pub type SyncObserver = Box<dyn Fn(Duration) + Send + Sync>;

struct Queue {
    pending: VecDeque<Arc<dyn SyncTarget>>,
    stopping: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
    observer: Option<SyncObserver>,
}

/// The pool of fsync threads shared by every log of a broker.
pub struct Flusher {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    segments: Arc<SegmentCache>,
}

impl Flusher {
    /// Starts `threads` fsync threads.
    pub fn new(threads: usize) -> Arc<Flusher> {
        Self::with_observer(threads, None)
    }

    /// Starts `threads` fsync threads reporting each sync's duration to `observer`.
    pub fn with_observer(threads: usize, observer: Option<SyncObserver>) -> Arc<Flusher> {
        Self::start(threads, DEFAULT_OPEN_SEGMENTS, observer)
    }

    /// Starts `threads` fsync threads reporting each sync's duration to `observer`; at most
    /// `open_segments` sealed segments of the logs using it keep their files open.
    pub fn start(
        threads: usize,
        open_segments: usize,
        observer: Option<SyncObserver>,
    ) -> Arc<Flusher> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                pending: VecDeque::new(),
                stopping: false,
            }),
            ready: Condvar::new(),
            observer,
        });
        let handles = (0..threads.max(1))
            .filter_map(|i| {
                let shared = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("neo-fsync-{i}"))
                    .spawn(move || run(&shared))
                    .map_err(|e| tracing::error!(error = %e, "cannot start fsync thread"))
                    .ok()
            })
            .collect();
        Arc::new(Flusher {
            shared,
            threads: Mutex::new(handles),
            segments: SegmentCache::new(open_segments),
        })
    }

    /// The open sealed segments of the logs using this flusher.
    pub fn segment_cache(&self) -> &Arc<SegmentCache> {
        &self.segments
    }

    /// Asks for `target` to be synced soon; coalesces with a sync already queued or running.
    pub(crate) fn request(&self, target: Arc<dyn SyncTarget>) {
        {
            let mut state = target.sync_state().lock();
            if state.running {
                state.again = true;
                return;
            }
            if state.queued {
                return;
            }
            state.queued = true;
        }
        self.enqueue(target);
    }

    fn enqueue(&self, target: Arc<dyn SyncTarget>) {
        let mut queue = self.shared.queue.lock();
        queue.pending.push_back(target);
        drop(queue);
        self.shared.ready.notify_one();
    }

    /// Finishes queued syncs and stops the threads.
    pub fn stop(&self) {
        self.shared.queue.lock().stopping = true;
        self.shared.ready.notify_all();
        let me = std::thread::current().id();
        for handle in self.threads.lock().drain(..) {
            // The last log can be dropped on an fsync thread itself: that one just exits.
            if handle.thread().id() != me {
                let _ = handle.join();
            }
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(shared: &Shared) {
    loop {
        let target = {
            let mut queue = shared.queue.lock();
            loop {
                if let Some(t) = queue.pending.pop_front() {
                    break t;
                }
                if queue.stopping {
                    return;
                }
                shared.ready.wait(&mut queue);
            }
        };
        {
            let mut state = target.sync_state().lock();
            state.queued = false;
            state.running = true;
        }
        loop {
            let started = Instant::now();
            target.sync_now();
            if let Some(observe) = &shared.observer {
                observe(started.elapsed());
            }
            let mut state = target.sync_state().lock();
            if state.again {
                state.again = false;
                continue;
            }
            state.running = false;
            break;
        }
    }
}
