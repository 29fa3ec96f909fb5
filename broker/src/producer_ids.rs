//! Producer ids for idempotent producers, unique across restarts: ids are handed out from
//! blocks whose end is stored in `meta/producer-id-block` before any id of the block is used.

use parking_lot::Mutex;

use crate::error::BrokerError;
use crate::metadata_store::MetadataStore;

const BLOCK: i64 = 1000;
const FILE: &str = "producer-id-block";

/// The next free id and the end of the reserved block.
#[derive(Debug)]
pub(crate) struct ProducerIds {
    range: Mutex<(i64, i64)>,
}

impl ProducerIds {
    /// Starts after every block reserved by earlier runs.
    pub fn open(store: &MetadataStore) -> Result<ProducerIds, BrokerError> {
        let start = store
            .read_small(FILE)?
            .and_then(|text| text.trim().parse::<i64>().ok())
            .unwrap_or(0);
        Ok(ProducerIds {
            range: Mutex::new((start, start)),
        })
    }

    /// A new producer id.
    pub fn next(&self, store: &MetadataStore) -> Result<i64, BrokerError> {
        let mut range = self.range.lock();
        if range.0 >= range.1 {
            let end = range.1 + BLOCK;
            store.write_small(FILE, &end.to_string())?;
            range.1 = end;
        }
        let id = range.0;
        range.0 += 1;
        Ok(id)
    }
}
