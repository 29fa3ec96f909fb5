//! Where a consumer's subscription lives now: the connection and the subscription id change
//! when the client reconnects and subscribes again.

use std::sync::{Arc, Weak};

use neo_native::wire::Message;
use parking_lot::Mutex;
use tokio::sync::mpsc;

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

/// Subscribes again on the client's (re-established) connection.
pub(crate) async fn resubscribe(
    client: &Client,
    subscribe: Message,
) -> Result<(Arc<Connection>, u32, i64, mpsc::UnboundedReceiver<Message>), ClientError> {
    let connection = client.connection().await?;
    let id = connection.next_id();
    let (offset, pushes) = connection.subscribe(id, subscribe).await?;
    Ok((connection, id, offset, pushes))
}
