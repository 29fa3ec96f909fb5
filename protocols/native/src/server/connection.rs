//! The state of one client connection, owned by its read loop: who the client is, where its
//! frames go, its in-flight slots and its subscriptions.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use neo_broker::acls::Caller;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use super::context::Context;
use super::subscription_handle::SubscriptionHandle;
use crate::wire::Message;

/// State of one connection, owned by its read loop.
pub(crate) struct Connection {
    pub id: u64,
    /// Who the client is for ACLs: anonymous (the Hello's token is a shared secret, not a
    /// user), known by its IP address.
    pub caller: Caller,
    pub context: Arc<Context>,
    pub out: mpsc::Sender<Bytes>,
    in_flight: Arc<Semaphore>,
    pub subscriptions: HashMap<u32, SubscriptionHandle>,
}

impl Connection {
    /// A connection from `peer` whose frames go to `out`.
    pub(crate) fn new(
        id: u64,
        peer: SocketAddr,
        context: Arc<Context>,
        out: mpsc::Sender<Bytes>,
    ) -> Connection {
        Connection {
            id,
            caller: Caller::anonymous(peer.ip().to_string()),
            in_flight: Arc::new(Semaphore::new(context.config.max_in_flight.max(1))),
            context,
            out,
            subscriptions: HashMap::new(),
        }
    }

    /// Takes one of the connection's in-flight slots, waiting (and so not reading) when all
    /// are taken.
    pub(crate) async fn permit(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.in_flight).acquire_owned().await.ok()
    }

    /// Runs `work` in its own task and sends what it returns as the response.
    pub(crate) fn spawn_reply<F, Fut>(
        &self,
        correlation: u32,
        permit: Option<OwnedSemaphorePermit>,
        work: F,
    ) where
        F: FnOnce(Arc<Context>) -> Fut + Send + 'static,
        Fut: Future<Output = Message> + Send,
    {
        let context = Arc::clone(&self.context);
        let out = self.out.clone();
        tokio::spawn(async move {
            let reply = work(context).await;
            let _ = out.send(reply.to_frame(correlation)).await;
            drop(permit);
        });
    }

    /// Queues a frame for writing (waits while the outbox is full).
    pub(crate) async fn send(&self, correlation: u32, message: Message) {
        let _ = self.out.send(message.to_frame(correlation)).await;
    }

    /// Stops a subscription; false if there was none with that id.
    pub(crate) fn end_subscription(&mut self, id: u32) -> bool {
        let Some(handle) = self.subscriptions.remove(&id) else {
            return false;
        };
        handle.end(&self.context.broker);
        true
    }

    /// Ends everything the connection started: subscriptions and RPC registrations.
    pub(crate) fn close(&mut self) {
        let ids: Vec<u32> = self.subscriptions.keys().copied().collect();
        for id in ids {
            self.end_subscription(id);
        }
        self.context.rpc.disconnect(self.id);
    }
}
