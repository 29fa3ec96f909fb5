//! What the partition tests share: record batches of string values, and a gate that refuses
//! and deduplicates by value.

use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use neo_record::codec::{BatchBuilder, Compression};
use neo_replication::partition::append_gate::{Admission, AppendGate};

pub fn batch(values: &[&str]) -> Bytes {
    let mut b = BatchBuilder::new(Compression::None, 1_000);
    for v in values {
        b.push(1_000, None, Some(v.as_bytes()), &[]);
    }
    b.build().unwrap().freeze()
}

/// Refuses batches whose first value is "no"; answers "dup" as a duplicate of offset 0.
#[derive(Default)]
pub struct Gate {
    pub seen: AtomicUsize,
}

impl AppendGate for Gate {
    fn admit(&self, batch: &[u8]) -> Admission {
        let records = neo_record::codec::decode_records(batch).unwrap();
        match records[0].value.as_deref() {
            Some(b"no") => Admission::Refuse(Bytes::from("refused")),
            Some(b"dup") => Admission::Duplicate {
                base_offset: 0,
                last_offset: 1,
            },
            _ => Admission::Accept,
        }
    }
    fn appended(&self, _batch: &[u8], _base: i64, _last: i64) {
        self.seen.fetch_add(1, Ordering::Relaxed);
    }
    fn truncated(&self, _offset: i64) {}
}
