//! Producer ids for idempotent producers, unique across restarts: ids are handed out from
//! blocks reserved in the metadata store before any id of the block is used.

use crate::error::BrokerError;
use crate::metadata::{MetadataCommand, MetadataStore};

const BLOCK: i64 = 1000;

/// The next free id and the end of the reserved block.
#[derive(Debug)]
pub(crate) struct ProducerIds {
    range: tokio::sync::Mutex<(i64, i64)>,
}

impl ProducerIds {
    /// Starts after every block reserved by earlier runs.
    pub fn open(store: &MetadataStore) -> ProducerIds {
        let start = store.read(|s| s.producer_ids_reserved);
        ProducerIds {
            range: tokio::sync::Mutex::new((start, start)),
        }
    }

    /// A new producer id.
    pub async fn next(&self, store: &MetadataStore) -> Result<i64, BrokerError> {
        let mut range = self.range.lock().await;
        if range.0 >= range.1 {
            store
                .apply(MetadataCommand::ReserveProducerIds { count: BLOCK })
                .await?;
            *range = (
                range.1.max(range.0),
                store.read(|s| s.producer_ids_reserved),
            );
        }
        let id = range.0;
        range.0 += 1;
        Ok(id)
    }
}
