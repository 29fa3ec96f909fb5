//! The SQS queues in the broker's metadata store: one document per queue (attributes, tags,
//! times). A data directory of the first format (`meta/sqs-queues.json`) is taken over once.

use neo_broker::Broker;
use neo_broker::metadata::{DocumentChange, DocumentKind, MetadataCommand};

use crate::error::SqsError;
use crate::registry::{QueueMeta, Registry};

/// The first format's file, under `<data>/meta`.
const LEGACY_FILE: &str = "sqs-queues.json";

/// Every queue stored in `broker`'s metadata, taking over a first-format file if the
/// metadata has none.
pub async fn load(broker: &Broker) -> Registry {
    let registry = stored(broker);
    if registry.queues.is_empty()
        && let Some(legacy) = legacy(broker)
    {
        for meta in legacy.queues.values() {
            if let Err(e) = put(broker, meta).await {
                tracing::error!(queue = meta.name, error = %e, "sqs: cannot take over a stored queue");
                return legacy;
            }
        }
        broker.metadata().retire_legacy(LEGACY_FILE);
        return legacy;
    }
    registry
}

/// Every queue stored in `broker`'s metadata now.
pub fn stored(broker: &Broker) -> Registry {
    let documents = broker
        .metadata()
        .read(|state| state.documents(DocumentKind::SqsQueue));
    let mut registry = Registry::default();
    for (name, value) in documents {
        match serde_json::from_value::<QueueMeta>(value) {
            Ok(meta) => {
                registry.queues.insert(name, meta);
            }
            Err(e) => {
                tracing::error!(queue = name, error = %e, "sqs: a stored queue is unreadable, left out")
            }
        }
    }
    registry
}

/// Stores queue `meta` (new or changed).
pub async fn put(broker: &Broker, meta: &QueueMeta) -> Result<(), SqsError> {
    let value = serde_json::to_value(meta).map_err(|e| {
        tracing::error!(error = %e, "sqs: cannot encode a queue");
        SqsError::Internal
    })?;
    change(broker, &meta.name, Some(value)).await
}

/// Removes queue `name` from the store.
pub async fn remove(broker: &Broker, name: &str) -> Result<(), SqsError> {
    change(broker, name, None).await
}

async fn change(
    broker: &Broker,
    name: &str,
    value: Option<serde_json::Value>,
) -> Result<(), SqsError> {
    let change = DocumentChange {
        kind: DocumentKind::SqsQueue,
        name: name.to_string(),
        value,
    };
    broker
        .metadata()
        .apply(MetadataCommand::ChangeDocuments(vec![change]))
        .await
        .map_err(SqsError::from)
}

/// The first format's file, if it is there and readable.
fn legacy(broker: &Broker) -> Option<Registry> {
    match broker.metadata().legacy_file(LEGACY_FILE) {
        Ok(Some(text)) => serde_json::from_str(&text)
            .inspect_err(|e| tracing::error!(error = %e, "sqs: stored queues unreadable, ignored"))
            .ok(),
        Ok(None) => None,
        Err(e) => {
            tracing::error!(error = %e, "sqs: cannot read the stored queues");
            None
        }
    }
}
