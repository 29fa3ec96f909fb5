//! The `.timeindex` file: sparse timestamp → offset within a segment.

use crate::sparse_index::IndexEntry;

/// One `.timeindex` entry: the largest timestamp seen so far and the (relative) base offset of
/// the batch that carried it. Entries rise in both fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeEntry {
    pub timestamp: i64,
    pub relative_offset: u32,
}

impl IndexEntry for TimeEntry {
    const SIZE: usize = 12;

    #[allow(clippy::indexing_slicing)] // SparseIndex passes exactly SIZE bytes
    fn decode(b: &[u8]) -> Self {
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&b[0..8]);
        Self {
            timestamp: i64::from_be_bytes(ts),
            relative_offset: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
        }
    }

    #[allow(clippy::indexing_slicing)] // SparseIndex passes exactly SIZE bytes
    fn encode(&self, out: &mut [u8]) {
        out[0..8].copy_from_slice(&self.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&self.relative_offset.to_be_bytes());
    }
}

/// The time index of one segment.
pub(crate) type TimeIndex = crate::sparse_index::SparseIndex<TimeEntry>;
