//! Where a consumer's subscription lives now: the connection and the subscription id change
//! when the client reconnects and subscribes again.

use std::sync::{Arc, Weak};
use std::time::Duration;

use neo_native::wire::Message;
use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::client::Client;
use crate::connection::Connection;
use crate::error::ClientError;

/// The current connection and subscription id of a consumer.
pub(crate) struct Slot(Mutex<(Weak<Connection>, u32)>);

impl Slot {
    pub(crate) fn new(connection: &Arc<Connection>, subscription: u32) -> Slot {
        Slot(Mutex::new((Arc::downgrade(connection), subscription)))
    }

    pub(crate) fn set(&self, connection: &Arc<Connection>, subscription: u32) {
        *self.0.lock() = (Arc::downgrade(connection), subscription);
    }

    /// The connection (if still open) and the subscription id.
    pub(crate) fn current(&self) -> (Option<Arc<Connection>>, u32) {
        let slot = self.0.lock();
        (slot.0.upgrade(), slot.1)
    }

    /// Ends the subscription: the broker stops pushing and the consumer's task ends.
    pub(crate) fn unsubscribe(&self) {
        if let (Some(connection), id) = self.current() {
            connection.unsubscribe(id);
        }
    }
}

/// How long a partition subscription looks for the partition's leader (a failover).
const LEADER_WAIT: Duration = Duration::from_secs(30);
/// How long it waits between looks.
const LEADER_RETRY: Duration = Duration::from_millis(100);

/// A subscription's connection, id, start offset and pushes.
pub(crate) type Subscribed = (Arc<Connection>, u32, i64, mpsc::UnboundedReceiver<Message>);

/// Subscribes again on the client's (re-established) connection; a partition subscription on
/// the connection to the partition's leader, looking for it again while the leadership
/// moves or its broker cannot be reached.
pub(crate) async fn resubscribe(
    client: &Client,
    subscribe: Message,
) -> Result<Subscribed, ClientError> {
    let Message::Subscribe {
        topic, partition, ..
    } = &subscribe
    else {
        let connection = client.connection().await?;
        let id = connection.next_id();
        let (offset, pushes) = connection.subscribe(id, subscribe).await?;
        return Ok((connection, id, offset, pushes));
    };
    let until = Instant::now() + LEADER_WAIT;
    loop {
        let subscribed = match client.leader_connection(topic, *partition).await {
            Ok(connection) => {
                let id = connection.next_id();
                connection
                    .subscribe(id, subscribe.clone())
                    .await
                    .map(|(offset, pushes)| (connection, id, offset, pushes))
            }
            Err(e) => Err(e),
        };
        match subscribed {
            Err(e) if e.leader_moved() && Instant::now() < until => {
                tracing::debug!(topic, partition, error = %e, "looking for the partition's leader");
                tokio::time::sleep(LEADER_RETRY).await;
                client.refresh_metadata().await;
            }
            other => return other,
        }
    }
}
