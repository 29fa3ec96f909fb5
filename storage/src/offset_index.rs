//! The `.index` file: sparse offset → byte position within a segment.

use crate::sparse_index::IndexEntry;

/// One `.index` entry: a batch's base offset (relative to the segment) and its byte position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OffsetEntry {
    pub relative_offset: u32,
    pub position: u32,
}

impl IndexEntry for OffsetEntry {
    const SIZE: usize = 8;

    #[allow(clippy::indexing_slicing)] // SparseIndex passes exactly SIZE bytes
    fn decode(b: &[u8]) -> Self {
        Self {
            relative_offset: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            position: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    #[allow(clippy::indexing_slicing)] // SparseIndex passes exactly SIZE bytes
    fn encode(&self, out: &mut [u8]) {
        out[0..4].copy_from_slice(&self.relative_offset.to_be_bytes());
        out[4..8].copy_from_slice(&self.position.to_be_bytes());
    }
}

/// The offset index of one segment.
pub(crate) type OffsetIndex = crate::sparse_index::SparseIndex<OffsetEntry>;
