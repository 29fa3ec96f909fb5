//! The service side of brokered RPC: handlers by service and method, run when the broker
//! forwards a call.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use neo_native::wire::Message;
use parking_lot::RwLock;
use tokio::sync::mpsc;

/// What a handler returns: the reply payload, or an error message for the caller.
pub type HandlerResult = Result<Bytes, String>;

type BoxedHandler =
    Arc<dyn Fn(Bytes) -> Pin<Box<dyn Future<Output = HandlerResult> + Send>> + Send + Sync>;

/// The handlers this client serves, kept across reconnects.
#[derive(Default)]
pub(crate) struct Handlers {
    by_service: RwLock<HashMap<String, HashMap<String, BoxedHandler>>>,
}

impl Handlers {
    pub(crate) fn insert<F, Fut>(&self, service: &str, method: &str, handler: F)
    where
        F: Fn(Bytes) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        let boxed: BoxedHandler = Arc::new(move |payload| Box::pin(handler(payload)));
        self.by_service
            .write()
            .entry(service.to_string())
            .or_default()
            .insert(method.to_string(), boxed);
    }

    /// Every service with its methods, to register on a new connection.
    pub(crate) fn registrations(&self) -> Vec<(String, Vec<String>)> {
        self.by_service
            .read()
            .iter()
            .map(|(service, methods)| (service.clone(), methods.keys().cloned().collect()))
            .collect()
    }

    /// Runs the handler of an Invoke in its own task and sends its InvokeReply.
    pub(crate) fn invoke(&self, id: u32, message: Message, out: mpsc::UnboundedSender<Bytes>) {
        let Message::Invoke {
            service,
            method,
            payload,
        } = message
        else {
            return;
        };
        let handler = self
            .by_service
            .read()
            .get(&service)
            .and_then(|methods| methods.get(&method))
            .cloned();
        let reply = move |result: HandlerResult| {
            let reply = match result {
                Ok(payload) => Message::InvokeReply { ok: true, payload },
                Err(message) => Message::InvokeReply {
                    ok: false,
                    payload: Bytes::from(message),
                },
            };
            let _ = out.send(reply.to_frame(id));
        };
        let Some(handler) = handler else {
            return reply(Err(format!("{service}/{method} is not served here")));
        };
        let mut running = handler(payload);
        // A handler that finishes at once is answered here, without a task of its own.
        match futures_util::FutureExt::now_or_never(&mut running) {
            Some(result) => reply(result),
            None => {
                tokio::spawn(async move { reply(running.await) });
            }
        }
    }
}
