//! FIFO deduplication: ids seen in the last five minutes and what their message became.

use std::collections::{HashMap, VecDeque};

/// The deduplication interval.
pub const WINDOW_MS: i64 = 5 * 60 * 1000;

/// The key a deduplication id is remembered under: per message group when the queue's
/// DeduplicationScope is `messageGroup`.
pub fn key(id: String, group: Option<&str>, per_group: bool) -> String {
    match group {
        Some(group) if per_group => format!("{group}\u{0}{id}"),
        _ => id,
    }
}

/// What a first send with a deduplication id produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstSend {
    pub message_id: String,
    pub sequence_number: String,
}

/// Deduplication ids of one queue within the window, oldest first for pruning.
#[derive(Debug, Default)]
pub struct Dedup {
    seen: HashMap<String, (i64, FirstSend)>,
    order: VecDeque<(i64, String)>,
}

impl Dedup {
    /// The first send of `key` if it was within the window before `now`.
    pub fn check(&mut self, key: &str, now: i64) -> Option<FirstSend> {
        self.prune(now);
        self.seen
            .get(key)
            .filter(|(at, _)| now - at < WINDOW_MS)
            .map(|(_, first)| first.clone())
    }

    /// Remembers the first send of `key` at `now`.
    pub fn insert(&mut self, key: String, now: i64, first: FirstSend) {
        self.order.push_back((now, key.clone()));
        self.seen.insert(key, (now, first));
    }

    /// True when no id is remembered.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    fn prune(&mut self, now: i64) {
        while let Some((at, _)) = self.order.front() {
            if now - at < WINDOW_MS {
                break;
            }
            if let Some((at, key)) = self.order.pop_front()
                && self
                    .seen
                    .get(&key)
                    .is_some_and(|(seen_at, _)| *seen_at == at)
            {
                self.seen.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first(id: &str) -> FirstSend {
        FirstSend {
            message_id: id.into(),
            sequence_number: "1".into(),
        }
    }

    #[test]
    fn ids_are_remembered_for_five_minutes() {
        let mut d = Dedup::default();
        assert_eq!(d.check("a", 0), None);
        d.insert("a".into(), 0, first("m1"));
        assert_eq!(d.check("a", WINDOW_MS - 1), Some(first("m1")));
        assert_eq!(d.check("a", WINDOW_MS), None);
        assert!(d.is_empty());
    }
}
