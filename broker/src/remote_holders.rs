//! The holders other brokers' front-ends have on the queues this broker leads (see
//! `queue_calls.rs`), by broker: released when their broker is gone or restarted.

use std::collections::{HashMap, HashSet};

/// The holders other brokers' front-ends have on the queues this broker leads: released when
/// their broker is gone or restarted, since nobody is left to settle what they hold.
#[derive(Debug, Default)]
pub(crate) struct RemoteHolders {
    by_broker: HashMap<u64, BrokerHolders>,
}

#[derive(Debug, Default)]
struct BrokerHolders {
    /// The incarnation of the broker process whose holders these are.
    incarnation: u64,
    /// (queue topic, holder)
    holders: HashSet<(String, u64)>,
}

impl RemoteHolders {
    /// Notes a call from broker `from`'s process `incarnation`; returns the
    /// holders of an earlier process of that broker, to release.
    pub(crate) fn note_caller(&mut self, from: u64, incarnation: u64) -> Vec<(String, u64)> {
        let known = self.by_broker.entry(from).or_default();
        if known.incarnation == incarnation {
            return Vec::new();
        }
        known.incarnation = incarnation;
        known.holders.drain().collect()
    }

    pub(crate) fn hold(&mut self, from: u64, topic: &str, holder: u64) {
        if let Some(known) = self.by_broker.get_mut(&from) {
            known.holders.insert((topic.to_string(), holder));
        }
    }

    pub(crate) fn forget(&mut self, from: u64, topic: &str, holder: u64) {
        if let Some(known) = self.by_broker.get_mut(&from) {
            known.holders.remove(&(topic.to_string(), holder));
        }
    }

    /// The holders of brokers for which `gone` is true, forgotten.
    pub(crate) fn take_gone(&mut self, gone: impl Fn(u64) -> bool) -> Vec<(String, u64)> {
        let ids: Vec<u64> = self
            .by_broker
            .keys()
            .copied()
            .filter(|id| gone(*id))
            .collect();
        ids.into_iter()
            .filter_map(|id| self.by_broker.remove(&id))
            .flat_map(|known| known.holders)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restarted_or_gone_broker_gives_up_its_holders() {
        let mut holders = RemoteHolders::default();
        assert!(holders.note_caller(2, 100).is_empty());
        holders.hold(2, "q", 7);
        holders.hold(2, "q", 8);
        holders.forget(2, "q", 8);
        assert!(holders.note_caller(2, 100).is_empty());
        assert_eq!(holders.note_caller(2, 200), vec![("q".to_string(), 7)]);
        holders.hold(2, "q", 9);
        holders.hold(3, "q", 1);
        assert!(holders.note_caller(3, 50).is_empty());
        holders.hold(3, "q", 1);
        assert_eq!(holders.take_gone(|id| id == 2), vec![("q".to_string(), 9)]);
        assert_eq!(holders.take_gone(|_| true), vec![("q".to_string(), 1)]);
    }
}
