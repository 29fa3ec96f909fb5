//! Holders whose holds were released for good (their channel or connection closed): a
//! receive still on its way for one of them (sent by another broker before the release)
//! gets nothing, so no record is left held by a holder nobody will ever settle or release.
//! The most recent ones are kept, which covers any receive in flight.

use std::collections::{HashSet, VecDeque};

/// How many retired holders are remembered.
const REMEMBERED: usize = 4096;

#[derive(Debug, Default)]
pub struct RetiredHolders {
    order: VecDeque<u64>,
    set: HashSet<u64>,
}

impl RetiredHolders {
    pub fn retire(&mut self, holder: u64) {
        if self.set.insert(holder) {
            self.order.push_back(holder);
        }
        while self.order.len() > REMEMBERED {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
    }

    pub fn contains(&self, holder: u64) -> bool {
        self.set.contains(&holder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_recent_are_remembered() {
        let mut retired = RetiredHolders::default();
        for holder in 0..REMEMBERED as u64 + 10 {
            retired.retire(holder);
        }
        assert!(!retired.contains(9));
        assert!(retired.contains(10) && retired.contains(REMEMBERED as u64 + 9));
    }
}
