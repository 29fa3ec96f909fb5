//! Idempotent producers on one partition: the last batches of each producer id, so a retried
//! batch is answered with its original offsets instead of being appended twice, and a gap in
//! sequence numbers is refused (Kafka's OUT_OF_ORDER_SEQUENCE_NUMBER).

use std::collections::{HashMap, VecDeque};

use neo_record::batch_header::BatchHeader;

use crate::error::BrokerError;

/// Batches remembered per producer, as Kafka does (`max.in.flight.requests.per.connection` ≤ 5).
const REMEMBERED_BATCHES: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BatchSeen {
    first_sequence: i32,
    last_sequence: i32,
    base_offset: i64,
    last_offset: i64,
}

#[derive(Debug, Default)]
struct Producer {
    epoch: i16,
    batches: VecDeque<BatchSeen>,
}

/// What to do with a batch from an idempotent producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// New and in order: append it.
    Append,
    /// Already appended: answer with these offsets.
    Duplicate { base_offset: i64, last_offset: i64 },
}

/// Producer state of one partition.
#[derive(Debug, Default)]
pub struct ProducerStates {
    producers: HashMap<i64, Producer>,
}

fn next_sequence(sequence: i32) -> i32 {
    if sequence == i32::MAX {
        0
    } else {
        sequence + 1
    }
}

fn last_sequence(header: &BatchHeader) -> i32 {
    let last = i64::from(header.base_sequence) + i64::from(header.last_offset_delta);
    (last % (i64::from(i32::MAX) + 1)) as i32
}

impl ProducerStates {
    /// Checks a batch of producer `header.producer_id` against what was appended before.
    pub fn check(&self, header: &BatchHeader) -> Result<SequenceCheck, BrokerError> {
        let Some(producer) = self.producers.get(&header.producer_id) else {
            // Unknown producer (new, or its state aged out of the window rebuilt on open):
            // accept, as Kafka does once a producer's state has expired.
            return Ok(SequenceCheck::Append);
        };
        if header.producer_epoch < producer.epoch {
            return Err(BrokerError::InvalidProducerEpoch {
                producer_id: header.producer_id,
                epoch: header.producer_epoch,
                current: producer.epoch,
            });
        }
        if header.producer_epoch > producer.epoch {
            return if header.base_sequence == 0 {
                Ok(SequenceCheck::Append)
            } else {
                Err(self.out_of_order(header, 0))
            };
        }
        let last = last_sequence(header);
        if let Some(seen) = producer
            .batches
            .iter()
            .find(|b| b.first_sequence == header.base_sequence && b.last_sequence == last)
        {
            return Ok(SequenceCheck::Duplicate {
                base_offset: seen.base_offset,
                last_offset: seen.last_offset,
            });
        }
        let expected = producer
            .batches
            .back()
            .map_or(0, |b| next_sequence(b.last_sequence));
        if header.base_sequence != expected {
            return Err(self.out_of_order(header, expected));
        }
        Ok(SequenceCheck::Append)
    }

    fn out_of_order(&self, header: &BatchHeader, expected: i32) -> BrokerError {
        BrokerError::OutOfOrderSequence {
            producer_id: header.producer_id,
            sequence: header.base_sequence,
            expected,
        }
    }

    /// Remembers a batch appended at `base_offset..=last_offset`.
    pub fn record(&mut self, header: &BatchHeader, base_offset: i64, last_offset: i64) {
        let producer = self.producers.entry(header.producer_id).or_default();
        if header.producer_epoch != producer.epoch {
            producer.epoch = header.producer_epoch;
            producer.batches.clear();
        }
        if producer.batches.len() == REMEMBERED_BATCHES {
            producer.batches.pop_front();
        }
        producer.batches.push_back(BatchSeen {
            first_sequence: header.base_sequence,
            last_sequence: last_sequence(header),
            base_offset,
            last_offset,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(producer_id: i64, epoch: i16, base_sequence: i32, records: i32) -> BatchHeader {
        BatchHeader {
            base_offset: 0,
            batch_length: 0,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: records - 1,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id,
            producer_epoch: epoch,
            base_sequence,
            records_count: records,
        }
    }

    #[test]
    fn in_order_duplicates_gaps_and_epochs() {
        let mut states = ProducerStates::default();
        let first = header(7, 0, 0, 3);
        assert_eq!(states.check(&first).unwrap(), SequenceCheck::Append);
        states.record(&first, 10, 12);
        assert_eq!(
            states.check(&first).unwrap(),
            SequenceCheck::Duplicate {
                base_offset: 10,
                last_offset: 12
            }
        );
        let next = header(7, 0, 3, 2);
        assert_eq!(states.check(&next).unwrap(), SequenceCheck::Append);
        states.record(&next, 13, 14);
        assert!(matches!(
            states.check(&header(7, 0, 9, 1)),
            Err(BrokerError::OutOfOrderSequence { expected: 5, .. })
        ));
        assert!(matches!(
            states.check(&header(7, 1, 4, 1)),
            Err(BrokerError::OutOfOrderSequence { .. })
        ));
        let bumped = header(7, 1, 0, 1);
        assert_eq!(states.check(&bumped).unwrap(), SequenceCheck::Append);
        states.record(&bumped, 15, 15);
        assert!(matches!(
            states.check(&header(7, 0, 5, 1)),
            Err(BrokerError::InvalidProducerEpoch { .. })
        ));
        assert_eq!(
            states.check(&header(8, 0, 42, 1)).unwrap(),
            SequenceCheck::Append,
            "unknown producers are accepted"
        );
    }
}
