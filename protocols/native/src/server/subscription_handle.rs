//! A live subscription of a connection: its credit, its task, and what ending it releases
//! (a queue subscription's held records, a group subscription's membership).

use std::sync::Arc;

use neo_broker::Broker;
use neo_broker::queue_handle::QueueHandle;
use parking_lot::Mutex;
use tokio::task::JoinHandle;

use super::credit::Credit;
use super::membership::{self, Membership};
use super::queue_holds::Holds;

/// A live subscription of this connection.
pub(crate) struct SubscriptionHandle {
    pub credit: Arc<Credit>,
    pub task: JoinHandle<()>,
    /// Set for queue subscriptions.
    pub queue: Option<QueueSubscription>,
    /// Set for group subscriptions: the membership to leave when it ends.
    pub group: Option<Arc<Mutex<Membership>>>,
}

/// A queue subscription's state the connection keeps.
#[derive(Debug, Clone)]
pub(crate) struct QueueSubscription {
    pub queue: QueueHandle,
    /// The holder id its deliveries are held by in the queue cursor.
    pub holder: u64,
    pub holds: Arc<Holds>,
}

impl SubscriptionHandle {
    /// Stops the subscription: its task ends, a group member leaves its group, a queue
    /// consumer's held records go back to the queue.
    pub fn end(self, broker: &Broker) {
        self.task.abort();
        if let Some(membership) = &self.group {
            membership::leave(broker, membership);
        }
        if let Some(q) = self.queue {
            tokio::spawn(async move {
                if let Err(e) = q.queue.release_holder(q.holder).await {
                    tracing::warn!(error = %e, "releasing a queue consumer's records failed");
                }
            });
        }
    }
}
