//! Idempotent producers' sequence checks where a partition's batches take their offsets: the
//! gate the partition group's leader asks before writing a proposed batch, and which every
//! replica tells about the batches it stores, so all replicas keep the same producer state.

use bytes::Bytes;
use neo_record::batch_header::BatchHeader;
use neo_replication::partition::append_gate::{Admission, AppendGate};
use neo_storage::PartitionLog;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::error::BrokerError;
use crate::producer_state::{ProducerStates, SequenceCheck};

/// Offsets at the end of the log whose batches rebuild producer state on open.
const PRODUCER_STATE_WINDOW: i64 = 20_000;

/// A refused batch, as the gate tells its proposer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum Refusal {
    OutOfOrderSequence {
        producer_id: i64,
        sequence: i32,
        expected: i32,
    },
    InvalidProducerEpoch {
        producer_id: i64,
        epoch: i16,
        current: i16,
    },
    Invalid(String),
}

/// The producer state of one partition.
#[derive(Debug)]
pub(crate) struct ProducerGate {
    states: Mutex<ProducerStates>,
    log: PartitionLog,
}

impl ProducerGate {
    /// The gate of `log`, its state rebuilt from the last batches of the log.
    pub fn open(log: PartitionLog) -> ProducerGate {
        let states = Mutex::new(rebuild(&log));
        ProducerGate { states, log }
    }

    /// The broker error a refusal from [`AppendGate::admit`] stands for.
    pub fn refusal(reason: &[u8]) -> BrokerError {
        match serde_json::from_slice::<Refusal>(reason) {
            Ok(Refusal::OutOfOrderSequence {
                producer_id,
                sequence,
                expected,
            }) => BrokerError::OutOfOrderSequence {
                producer_id,
                sequence,
                expected,
            },
            Ok(Refusal::InvalidProducerEpoch {
                producer_id,
                epoch,
                current,
            }) => BrokerError::InvalidProducerEpoch {
                producer_id,
                epoch,
                current,
            },
            Ok(Refusal::Invalid(message)) => BrokerError::InvalidRecord {
                message,
                record_indexes: Vec::new(),
            },
            Err(e) => BrokerError::InvalidRecord {
                message: format!("refused: {e}"),
                record_indexes: Vec::new(),
            },
        }
    }
}

fn refuse(refusal: Refusal) -> Admission {
    Admission::Refuse(Bytes::from(
        serde_json::to_vec(&refusal).unwrap_or_default(),
    ))
}

impl AppendGate for ProducerGate {
    fn admit(&self, batch: &[u8]) -> Admission {
        let header = match BatchHeader::parse(batch) {
            Ok(header) => header,
            Err(e) => return refuse(Refusal::Invalid(e.to_string())),
        };
        if header.producer_id < 0 {
            return Admission::Accept;
        }
        match self.states.lock().check(&header) {
            Ok(SequenceCheck::Append) => Admission::Accept,
            Ok(SequenceCheck::Duplicate {
                base_offset,
                last_offset,
            }) => Admission::Duplicate {
                base_offset,
                last_offset,
            },
            Err(BrokerError::OutOfOrderSequence {
                producer_id,
                sequence,
                expected,
            }) => refuse(Refusal::OutOfOrderSequence {
                producer_id,
                sequence,
                expected,
            }),
            Err(BrokerError::InvalidProducerEpoch {
                producer_id,
                epoch,
                current,
            }) => refuse(Refusal::InvalidProducerEpoch {
                producer_id,
                epoch,
                current,
            }),
            Err(other) => refuse(Refusal::Invalid(other.to_string())),
        }
    }

    fn appended(&self, batch: &[u8], base_offset: i64, last_offset: i64) {
        if let Ok(header) = BatchHeader::parse(batch)
            && header.producer_id >= 0
        {
            self.states.lock().record(&header, base_offset, last_offset);
        }
    }

    fn truncated(&self, _offset: i64) {
        *self.states.lock() = rebuild(&self.log);
    }
}

/// Producer state from the batch headers of the last [`PRODUCER_STATE_WINDOW`] offsets.
fn rebuild(log: &PartitionLog) -> ProducerStates {
    let mut states = ProducerStates::default();
    let from = log.log_end_offset() - PRODUCER_STATE_WINDOW;
    let replayed = log.for_each_batch(from, |batch| {
        if let Ok(header) = BatchHeader::parse(batch)
            && header.producer_id >= 0
        {
            let last = header.base_offset + i64::from(header.last_offset_delta);
            states.record(&header, header.base_offset, last);
        }
    });
    if let Err(e) = replayed {
        tracing::warn!(dir = %log.dir().display(), error = %e, "producer state rebuilt only in part");
    }
    states
}
