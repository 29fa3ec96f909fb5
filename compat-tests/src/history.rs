//! A history checker for a replicated log: what producers had acknowledged and what consumers
//! observed during a run, against what the log holds after it.
//!
//! It checks that every acknowledged record is in the log exactly once, at the offset its
//! acknowledgement named; that no offset holds two records; that each producer's records of a
//! partition are in the order it sent them; and that every record a consumer observed is still
//! there at the offset it was observed at (no consumer saw a write that was later lost).

use std::collections::{BTreeMap, HashMap};

/// A record as a test names it: `producer` wrote its `seq`-th record to `partition`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Written {
    pub producer: String,
    pub seq: u64,
}

impl Written {
    /// The record's value: `producer/seq`.
    pub fn value(&self) -> String {
        format!("{}/{}", self.producer, self.seq)
    }

    /// The record a value names, if it is one of [`Written::value`]'s.
    pub fn parse(value: &[u8]) -> Option<Written> {
        let text = std::str::from_utf8(value).ok()?;
        let (producer, seq) = text.rsplit_once('/')?;
        Some(Written {
            producer: producer.to_string(),
            seq: seq.parse().ok()?,
        })
    }
}

/// What happened during a run.
#[derive(Debug, Default)]
pub struct History {
    /// Acknowledged writes: the record, its partition and offset.
    acked: Vec<(Written, i32, i64)>,
    /// Records consumers read while the run went on: partition, offset, value.
    observed: Vec<(i32, i64, Vec<u8>)>,
}

impl History {
    /// A producer's write was acknowledged at `partition`/`offset`.
    pub fn acked(&mut self, written: Written, partition: i32, offset: i64) {
        self.acked.push((written, partition, offset));
    }

    /// A consumer read `value` at `partition`/`offset`.
    pub fn observed(&mut self, partition: i32, offset: i64, value: Vec<u8>) {
        self.observed.push((partition, offset, value));
    }

    /// How many writes were acknowledged.
    pub fn acked_count(&self) -> usize {
        self.acked.len()
    }

    /// Checks the history against the final contents of the log: `(partition, offset, value)`
    /// of every record, in any order. Every violation found, described.
    pub fn check(&self, log: &[(i32, i64, Vec<u8>)]) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        let mut at: HashMap<(i32, i64), &[u8]> = HashMap::new();
        let mut copies: HashMap<Written, Vec<(i32, i64)>> = HashMap::new();
        for (partition, offset, value) in log {
            if at.insert((*partition, *offset), value).is_some() {
                problems.push(format!("offset {partition}/{offset} holds two records"));
            }
            if let Some(written) = Written::parse(value) {
                copies
                    .entry(written)
                    .or_default()
                    .push((*partition, *offset));
            }
        }
        for (written, partition, offset) in &self.acked {
            match copies.get(written).map(Vec::as_slice) {
                None | Some([]) => problems.push(format!(
                    "acknowledged {} at {partition}/{offset} is lost",
                    written.value()
                )),
                Some([(p, o)]) if (p, o) != (partition, offset) => problems.push(format!(
                    "acknowledged {} at {partition}/{offset} is at {p}/{o}",
                    written.value()
                )),
                Some([_]) => {}
                Some(many) => problems.push(format!(
                    "acknowledged {} is in the log {} times: {many:?}",
                    written.value(),
                    many.len()
                )),
            }
        }
        // Per producer and partition, sequence numbers rise with the offset.
        let mut order: BTreeMap<(String, i32), Vec<(i64, u64)>> = BTreeMap::new();
        for (partition, offset, value) in log {
            if let Some(written) = Written::parse(value) {
                order
                    .entry((written.producer, *partition))
                    .or_default()
                    .push((*offset, written.seq));
            }
        }
        for ((producer, partition), mut records) in order {
            records.sort_unstable();
            for pair in records.windows(2) {
                if pair[1].1 <= pair[0].1 {
                    problems.push(format!(
                        "{producer} on partition {partition}: seq {} at offset {} follows seq {} at offset {}",
                        pair[1].1, pair[1].0, pair[0].1, pair[0].0
                    ));
                }
            }
        }
        for (partition, offset, value) in &self.observed {
            match at.get(&(*partition, *offset)) {
                Some(found) if *found == value.as_slice() => {}
                Some(_) => problems.push(format!(
                    "a consumer read {:?} at {partition}/{offset}, which now holds another record",
                    String::from_utf8_lossy(value)
                )),
                None => problems.push(format!(
                    "a consumer read {:?} at {partition}/{offset}, which is gone",
                    String::from_utf8_lossy(value)
                )),
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(producer: &str, seq: u64) -> Written {
        Written {
            producer: producer.into(),
            seq,
        }
    }

    fn rec(partition: i32, offset: i64, written: &Written) -> (i32, i64, Vec<u8>) {
        (partition, offset, written.value().into_bytes())
    }

    #[test]
    fn a_faithful_log_passes() {
        let mut history = History::default();
        history.acked(w("a", 0), 0, 0);
        history.acked(w("a", 1), 0, 1);
        history.observed(0, 0, w("a", 0).value().into_bytes());
        // An unacknowledged write may or may not be there.
        let log = [
            rec(0, 0, &w("a", 0)),
            rec(0, 1, &w("a", 1)),
            rec(0, 2, &w("a", 2)),
        ];
        assert_eq!(history.check(&log), Ok(()));
    }

    #[test]
    fn lost_duplicated_moved_reordered_and_unread_records_are_found() {
        let mut history = History::default();
        history.acked(w("a", 0), 0, 0);
        history.acked(w("a", 1), 0, 1);
        history.acked(w("a", 2), 0, 2);
        history.acked(w("a", 3), 1, 0);
        history.observed(1, 5, b"gone".to_vec());
        let log = [
            rec(0, 0, &w("a", 2)),
            rec(0, 1, &w("a", 1)),
            rec(0, 3, &w("a", 2)),
            rec(1, 1, &w("a", 3)),
        ];
        let problems = history.check(&log).unwrap_err();
        let text = problems.join("\n");
        assert!(text.contains("a/0 at 0/0 is lost"), "{text}");
        assert!(text.contains("a/2 is in the log 2 times"), "{text}");
        assert!(text.contains("a/3 at 1/0 is at 1/1"), "{text}");
        assert!(text.contains("seq 1 at offset 1 follows seq 2"), "{text}");
        assert!(text.contains("which is gone"), "{text}");
    }
}
