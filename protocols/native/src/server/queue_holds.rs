//! What a queue subscription holds: each delivered record until it is settled or its lock
//! ends. Its room (prefetch minus held) is the subscription's credit, so a lock that ends
//! gives its room back just as an ack does.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;

/// Longest wait between looks at the holds when nothing settles (locks end on their own).
const RECHECK: Duration = Duration::from_millis(200);

/// Held records of one queue subscription, by offset, with their lock deadlines (ms).
#[derive(Debug)]
pub(crate) struct Holds {
    prefetch: usize,
    held: Mutex<HashMap<i64, i64>>,
    settled: Notify,
}

impl Holds {
    pub(crate) fn new(prefetch: usize) -> Holds {
        Holds {
            prefetch,
            held: Mutex::new(HashMap::new()),
            settled: Notify::new(),
        }
    }

    /// Records that may be delivered now (locks ended at `now` are forgotten first).
    pub(crate) fn room(&self, now: i64) -> usize {
        let mut held = self.held.lock();
        held.retain(|_, deadline| *deadline > now);
        self.prefetch.saturating_sub(held.len())
    }

    /// Waits until there is room, and returns it.
    pub(crate) async fn wait_room(&self, now: impl Fn() -> i64) -> usize {
        loop {
            let settled = self.settled.notified();
            tokio::pin!(settled);
            settled.as_mut().enable();
            let room = self.room(now());
            if room > 0 {
                return room;
            }
            let _ = tokio::time::timeout(RECHECK, settled).await;
        }
    }

    /// Records delivered with a lock until `deadline`.
    pub(crate) fn hold(&self, offsets: impl Iterator<Item = i64>, deadline: i64) {
        let mut held = self.held.lock();
        for offset in offsets {
            held.insert(offset, deadline);
        }
    }

    /// Moves the deadline of records still held.
    pub(crate) fn extend(&self, offsets: &[i64], deadline: i64) {
        let mut held = self.held.lock();
        for offset in offsets {
            if let Some(d) = held.get_mut(offset) {
                *d = deadline;
            }
        }
    }

    /// Records settled (acked or nacked): their room is free again.
    pub(crate) fn release(&self, offsets: &[i64]) {
        {
            let mut held = self.held.lock();
            for offset in offsets {
                held.remove(offset);
            }
        }
        self.settled.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::Holds;

    #[test]
    fn room_comes_back_when_records_settle_or_their_locks_end() {
        let holds = Holds::new(3);
        holds.hold([1, 2, 3].into_iter(), 100);
        assert_eq!(holds.room(50), 0);
        holds.release(&[2]);
        assert_eq!(holds.room(50), 1);
        holds.extend(&[1], 500);
        assert_eq!(holds.room(100), 2);
        assert_eq!(holds.room(500), 3);
    }
}
