//! Kafka's wire encodings of broker values: the `acks` field and ListOffsets' special
//! timestamps. The broker knows no Kafka codes; they are translated here.

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
    }
}
