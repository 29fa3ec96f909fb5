//! Who consumes from which queue, across connections: exclusive consumers, the one active
//! consumer of a single-active-consumer queue, consumer counts (queue.declare-ok, delete
//! if-unused, auto-delete and `x-expires`), and the basic.cancel a consumer gets when its
//! queue is deleted.

use std::collections::HashMap;

use parking_lot::Mutex;
use tokio::sync::watch;

/// The consumers of every queue.
#[derive(Debug, Default)]
pub struct ConsumerRegistry {
    queues: Mutex<HashMap<String, QueueConsumers>>,
}

#[derive(Debug)]
struct QueueConsumers {
    /// In the order they started: the first is a single-active-consumer queue's active one.
    entries: Vec<Entry>,
    /// Bumped whenever a consumer comes or goes.
    changed: watch::Sender<u64>,
}

#[derive(Debug)]
struct Entry {
    id: u64,
    exclusive: bool,
    cancel: watch::Sender<bool>,
}

/// A consumer's place in the registry.
#[derive(Debug)]
pub struct Registration {
    /// Becomes true when the queue is deleted: the consumer is cancelled.
    pub cancelled: watch::Receiver<bool>,
    /// Changes whenever the queue's consumers change.
    pub changed: watch::Receiver<u64>,
}

/// Why a consumer cannot start.
#[derive(Debug, PartialEq, Eq)]
pub struct InExclusiveUse;

impl ConsumerRegistry {
    /// Adds consumer `id` of `queue`; refused when an exclusive consumer is there, or when
    /// `exclusive` and any consumer is.
    pub fn add(
        &self,
        queue: &str,
        id: u64,
        exclusive: bool,
    ) -> Result<Registration, InExclusiveUse> {
        let mut queues = self.queues.lock();
        let consumers = queues
            .entry(queue.to_string())
            .or_insert_with(|| QueueConsumers {
                entries: Vec::new(),
                changed: watch::Sender::new(0),
            });
        if consumers.entries.iter().any(|e| e.exclusive)
            || (exclusive && !consumers.entries.is_empty())
        {
            return Err(InExclusiveUse);
        }
        let (cancel, cancelled) = watch::channel(false);
        consumers.entries.push(Entry {
            id,
            exclusive,
            cancel,
        });
        consumers.changed.send_modify(|n| *n += 1);
        Ok(Registration {
            cancelled,
            changed: consumers.changed.subscribe(),
        })
    }

    /// Removes consumer `id` of `queue`; returns how many are left.
    pub fn remove(&self, queue: &str, id: u64) -> usize {
        let mut queues = self.queues.lock();
        let Some(consumers) = queues.get_mut(queue) else {
            return 0;
        };
        consumers.entries.retain(|e| e.id != id);
        consumers.changed.send_modify(|n| *n += 1);
        let left = consumers.entries.len();
        if left == 0 {
            queues.remove(queue);
        }
        left
    }

    /// How many consumers `queue` has.
    pub fn count(&self, queue: &str) -> usize {
        self.queues.lock().get(queue).map_or(0, |c| c.entries.len())
    }

    /// Whether `id` is the longest-standing consumer of `queue` (the active one of a
    /// single-active-consumer queue).
    pub fn is_first(&self, queue: &str, id: u64) -> bool {
        self.queues
            .lock()
            .get(queue)
            .and_then(|c| c.entries.first())
            .is_some_and(|e| e.id == id)
    }

    /// Cancels and forgets every consumer of `queue` (it is being deleted).
    pub fn cancel_all(&self, queue: &str) {
        if let Some(consumers) = self.queues.lock().remove(queue) {
            for entry in consumers.entries {
                entry.cancel.send_replace(true);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_consumers_and_the_active_one() {
        let r = ConsumerRegistry::default();
        let _first = r.add("q", 1, false).unwrap();
        let second = r.add("q", 2, false).unwrap();
        assert_eq!(r.add("q", 3, true).unwrap_err(), InExclusiveUse);
        assert!(r.is_first("q", 1) && !r.is_first("q", 2));
        assert_eq!(r.remove("q", 1), 1);
        assert!(r.is_first("q", 2));
        r.cancel_all("q");
        assert!(*second.cancelled.borrow());
        assert_eq!(r.count("q"), 0);
        let _only = r.add("q", 4, true).unwrap();
        assert_eq!(r.add("q", 5, false).unwrap_err(), InExclusiveUse);
    }
}
