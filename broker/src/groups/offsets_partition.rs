//! Which partition of the offsets topic holds a group: Kafka's choice, so a group lands where
//! it would in Kafka.

/// The offsets topic's name (Kafka's).
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// The offsets partition of `group` among `partitions`: Kafka's
/// `abs(group.hashCode()) % partitions`, so a group lands where it would in Kafka.
pub fn offsets_partition_for(group: &str, partitions: i32) -> i32 {
    let hash = group
        .encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
    (hash & 0x7fff_ffff) % partitions.max(1)
}
