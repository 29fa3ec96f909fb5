//! Producer ids for idempotent producers, unique across restarts: ids are handed out from
//! blocks reserved in the metadata store before any id of the block is used.

use crate::error::BrokerError;
use crate::metadata::{MetadataCommand, MetadataStore, PRODUCER_IDS, RESERVED_ELSEWHERE};

const BLOCK: i64 = 1000;

/// The next free id and the end of the block reserved for this broker.
#[derive(Debug)]
pub(crate) struct ProducerIds {
    range: tokio::sync::Mutex<(i64, i64)>,
}

/// How many times a reservation is tried while other brokers reserve the same ids first.
const ATTEMPTS: usize = 20;
/// How long a refused reservation waits for the one that beat it to be applied here.
const CATCH_UP_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

impl ProducerIds {
    /// No block yet: the first id reserves one.
    pub fn open() -> ProducerIds {
        ProducerIds {
            range: tokio::sync::Mutex::new((0, 0)),
        }
    }

    /// A new producer id.
    pub async fn next(&self, store: &MetadataStore) -> Result<i64, BrokerError> {
        let mut range = self.range.lock().await;
        if range.0 >= range.1 {
            *range = reserve(store).await?;
        }
        let id = range.0;
        range.0 += 1;
        Ok(id)
    }
}

/// Reserves a block of ids for this broker alone: from the end of the reserved ids, if no
/// other broker moved it first (then its reservation is applied here too, and the next try
/// starts from the new end).
async fn reserve(store: &MetadataStore) -> Result<(i64, i64), BrokerError> {
    let mut attempts = 0;
    loop {
        let from = store.read(|s| s.producer_ids_reserved);
        let reserved = store
            .apply(MetadataCommand::ReserveProducerIds {
                count: BLOCK,
                from: Some(from),
            })
            .await;
        match reserved {
            Ok(()) => return Ok((from, from + BLOCK)),
            Err(BrokerError::InvalidConfig { key, reason, .. })
                if key == PRODUCER_IDS && reason == RESERVED_ELSEWHERE && attempts < ATTEMPTS =>
            {
                attempts += 1;
                // The other reservation may not be applied here yet: try again once it is.
                let mut changes = store.watch_changes();
                let moved = async {
                    while store.read(|s| s.producer_ids_reserved) == from {
                        if changes.changed().await.is_err() {
                            return;
                        }
                    }
                };
                let _ = tokio::time::timeout(CATCH_UP_WAIT, moved).await;
            }
            Err(e) => return Err(e),
        }
    }
}
