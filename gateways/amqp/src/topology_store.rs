//! The durable topology in the broker's metadata store: each durable exchange, queue and
//! binding is a document there, so a change is written as the documents it put or removed.
//! A data directory of the first format (`meta/amqp-topology.json`) is taken over once.

use std::collections::BTreeMap;

use neo_broker::Broker;
use neo_broker::metadata::{DocumentChange, DocumentKind, MetadataCommand};
use serde_json::Value;

use crate::topology::{Binding, Durable, Topology};

/// The first format's file, under `<data>/meta`.
const LEGACY_FILE: &str = "amqp-topology.json";

/// Documents by kind and name.
type Documents = BTreeMap<(DocumentKind, String), Value>;

/// What the store holds of the topology, as last written or followed.
#[derive(Debug, Default)]
pub struct TopologyStore {
    written: tokio::sync::Mutex<Documents>,
}

impl TopologyStore {
    /// Reads the durable topology from `broker`'s metadata, taking over a first-format file
    /// if the metadata has none.
    pub async fn load(broker: &Broker) -> (TopologyStore, Durable) {
        let documents = stored(broker);
        let store = TopologyStore {
            written: tokio::sync::Mutex::new(documents.clone()),
        };
        if documents.is_empty()
            && let Some(durable) = legacy(broker)
        {
            store.write(broker, || durable.clone()).await;
            broker.metadata().retire_legacy(LEGACY_FILE);
            return (store, durable);
        }
        (store, from_documents(documents))
    }

    /// Writes the durable topology `current` gives as the documents that differ from what
    /// was written last. `current` is read while no other write runs, so a slower writer
    /// never stores an older topology over a newer one.
    pub async fn write(&self, broker: &Broker, current: impl FnOnce() -> Durable) {
        let mut written = self.written.lock().await;
        let wanted = match to_documents(&current()) {
            Ok(wanted) => wanted,
            Err(e) => {
                tracing::error!(error = %e, "amqp: cannot encode the topology");
                return;
            }
        };
        let mut changes: Vec<DocumentChange> = written
            .keys()
            .filter(|key| !wanted.contains_key(*key))
            .map(|(kind, name)| DocumentChange {
                kind: *kind,
                name: name.clone(),
                value: None,
            })
            .collect();
        changes.extend(
            wanted
                .iter()
                .filter(|(key, value)| written.get(*key) != Some(*value))
                .map(|((kind, name), value)| DocumentChange {
                    kind: *kind,
                    name: name.clone(),
                    value: Some(value.clone()),
                }),
        );
        if changes.is_empty() {
            return;
        }
        match broker
            .metadata()
            .apply(MetadataCommand::ChangeDocuments(changes))
            .await
        {
            Ok(()) => *written = wanted,
            Err(e) => tracing::error!(error = %e, "amqp: cannot store the topology"),
        }
    }
}

impl TopologyStore {
    /// Brings `topology` in line with the documents other brokers of the cluster changed
    /// since this one last wrote or followed them: their declarations and deletions.
    pub async fn follow(&self, broker: &Broker, topology: &Topology) {
        let mut written = self.written.lock().await;
        let now = stored(broker);
        if now == *written {
            return;
        }
        for ((kind, name), value) in written.iter() {
            if now.contains_key(&(*kind, name.clone())) {
                continue;
            }
            match kind {
                DocumentKind::AmqpExchange => {
                    topology.delete_exchange(name, false);
                }
                DocumentKind::AmqpQueue => topology.delete_queue(name),
                DocumentKind::AmqpBinding => {
                    if let Ok(binding) = serde_json::from_value::<Binding>(value.clone()) {
                        topology.remove_binding(&binding);
                    }
                }
                DocumentKind::SqsQueue => {}
            }
        }
        let changed: Documents = now
            .iter()
            .filter(|(key, value)| written.get(*key) != Some(*value))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        let declared = from_documents(changed);
        for (name, exchange) in declared.exchanges {
            topology.declare_exchange(&name, exchange);
        }
        for (name, queue) in declared.queues {
            topology.declare_queue(&name, queue);
        }
        for binding in declared.bindings {
            topology.add_binding(binding);
        }
        *written = now;
    }
}

/// The topology's documents in the store.
fn stored(broker: &Broker) -> Documents {
    broker.metadata().read(|state| {
        [
            DocumentKind::AmqpExchange,
            DocumentKind::AmqpQueue,
            DocumentKind::AmqpBinding,
        ]
        .into_iter()
        .flat_map(|kind| {
            state
                .documents(kind)
                .into_iter()
                .map(move |(name, value)| ((kind, name), value))
        })
        .collect()
    })
}

/// The first format's file, if it is there and readable.
fn legacy(broker: &Broker) -> Option<Durable> {
    match broker.metadata().legacy_file(LEGACY_FILE) {
        Ok(Some(text)) => match serde_json::from_str(&text) {
            Ok(durable) => Some(durable),
            Err(e) => {
                tracing::error!(error = %e, "amqp: stored topology unreadable, ignored");
                None
            }
        },
        Ok(None) => None,
        Err(e) => {
            tracing::error!(error = %e, "amqp: cannot read the stored topology");
            None
        }
    }
}

fn to_documents(durable: &Durable) -> Result<Documents, serde_json::Error> {
    let mut documents = Documents::new();
    for (name, exchange) in &durable.exchanges {
        let key = (DocumentKind::AmqpExchange, name.clone());
        documents.insert(key, serde_json::to_value(exchange)?);
    }
    for (name, queue) in &durable.queues {
        let key = (DocumentKind::AmqpQueue, name.clone());
        documents.insert(key, serde_json::to_value(queue)?);
    }
    for binding in &durable.bindings {
        // A binding is its own name: two equal bindings are one.
        let key = (DocumentKind::AmqpBinding, serde_json::to_string(binding)?);
        documents.insert(key, serde_json::to_value(binding)?);
    }
    Ok(documents)
}

/// The topology the documents describe; a document that does not decode is left out (and
/// logged), the rest still load.
fn from_documents(documents: Documents) -> Durable {
    let mut durable = Durable::default();
    for ((kind, name), value) in documents {
        let decoded = match kind {
            DocumentKind::AmqpExchange => serde_json::from_value(value)
                .map(|exchange| durable.exchanges.insert(name.clone(), exchange))
                .map(drop),
            DocumentKind::AmqpQueue => serde_json::from_value(value)
                .map(|queue| durable.queues.insert(name.clone(), queue))
                .map(drop),
            DocumentKind::AmqpBinding => serde_json::from_value::<Binding>(value)
                .map(|binding| durable.bindings.push(binding)),
            DocumentKind::SqsQueue => Ok(()),
        };
        if let Err(e) = decoded {
            tracing::error!(document = name, error = %e, "amqp: a stored declaration is unreadable, left out");
        }
    }
    durable
}
