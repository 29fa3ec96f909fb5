//! FIFO sequence numbers: a message's is its record's offset.

/// The FIFO sequence number of the record at `offset` (20 digits, from 1).
pub fn sequence_number(offset: i64) -> String {
    format!("{:020}", offset.max(0) + 1)
}
