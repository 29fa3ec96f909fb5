//! Kafka's wire encodings of broker values: the `acks` field, ListOffsets' special
//! timestamps and leader epochs. The broker knows no Kafka codes; they are translated here.

use neo_broker::{Acks, OffsetSpec};

/// From Produce's `acks` field; `None` for a value Kafka refuses (INVALID_REQUIRED_ACKS).
pub fn acks(acks: i16) -> Option<Acks> {
    match acks {
        0 => Some(Acks::None),
        1 => Some(Acks::Leader),
        -1 => Some(Acks::All),
        _ => None,
    }
}

/// From ListOffsets' timestamp field (-2 earliest, -1 latest, -3 max timestamp).
pub fn offset_spec(timestamp: i64) -> OffsetSpec {
    match timestamp {
        -2 => OffsetSpec::Earliest,
        -1 => OffsetSpec::Latest,
        -3 => OffsetSpec::MaxTimestamp,
        ts => OffsetSpec::Timestamp(ts),
    }
}

/// From a request's `current_leader_epoch`: -1 (and any negative) means "do not check".
pub fn leader_epoch(epoch: i32) -> Option<u64> {
    u64::try_from(epoch).ok()
}

/// A leader epoch (Raft term) as Kafka's `int32`; terms beyond it (never reached in practice)
/// saturate.
pub fn epoch_to_kafka(epoch: u64) -> i32 {
    i32::try_from(epoch).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_values_and_refused_acks() {
        assert_eq!(acks(-1), Some(Acks::All));
        assert_eq!(acks(2), None);
        assert_eq!(offset_spec(-2), OffsetSpec::Earliest);
        assert_eq!(offset_spec(-3), OffsetSpec::MaxTimestamp);
        assert_eq!(offset_spec(1_000), OffsetSpec::Timestamp(1_000));
        assert_eq!(leader_epoch(-1), None);
        assert_eq!(leader_epoch(3), Some(3));
        assert_eq!(epoch_to_kafka(u64::MAX), i32::MAX);
    }
}
