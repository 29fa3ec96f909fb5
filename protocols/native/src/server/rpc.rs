//! Brokered RPC: services registered by connections, calls routed round-robin to a live
//! instance, replies matched by invocation id, calls failed over when an instance goes away.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};

use super::error_map::error;
use crate::wire::{ErrorCode, Message, ServiceInfo};

/// Longest timeout a call may ask for.
const MAX_CALL_TIMEOUT: Duration = Duration::from_secs(300);
/// Instances one call is tried on before it fails (each failure being a disconnect).
const MAX_ATTEMPTS: usize = 8;

/// The services of one server.
#[derive(Default)]
pub(crate) struct Registry {
    state: Mutex<State>,
    next_invocation: AtomicU32,
}

#[derive(Default)]
struct State {
    services: HashMap<String, Service>,
    pending: HashMap<u32, Pending>,
}

#[derive(Default)]
struct Service {
    instances: Vec<Instance>,
    /// Round-robin position.
    next: usize,
}

struct Instance {
    connection: u64,
    methods: BTreeSet<String>,
    out: mpsc::Sender<Bytes>,
}

/// Where a call's answer goes: the caller's connection and the call's correlation id.
#[derive(Clone)]
pub(crate) struct Caller {
    pub out: mpsc::Sender<Bytes>,
    pub correlation: u32,
}

/// A call waiting for an instance's reply.
struct Pending {
    connection: u64,
    caller: Caller,
    reply: oneshot::Sender<Outcome>,
}

enum Outcome {
    /// The answer was written to the caller's connection directly.
    Answered,
    /// The answer, for the call's task to write (the caller's connection was busy).
    Answer(Message),
    InstanceGone,
}

impl Registry {
    /// Registers connection `connection` as an instance of `service` for `methods` (added to
    /// any it registered before).
    pub(crate) fn register(
        &self,
        connection: u64,
        service: &str,
        methods: Vec<String>,
        out: mpsc::Sender<Bytes>,
    ) {
        let mut state = self.state.lock();
        let service = state.services.entry(service.to_string()).or_default();
        match service
            .instances
            .iter_mut()
            .find(|i| i.connection == connection)
        {
            Some(instance) => instance.methods.extend(methods),
            None => service.instances.push(Instance {
                connection,
                methods: methods.into_iter().collect(),
                out,
            }),
        }
    }

    /// Removes a closed connection's instances; its unanswered calls fail over.
    pub(crate) fn disconnect(&self, connection: u64) {
        let mut state = self.state.lock();
        state.services.retain(|_, service| {
            service.instances.retain(|i| i.connection != connection);
            !service.instances.is_empty()
        });
        let gone: Vec<u32> = state
            .pending
            .iter()
            .filter(|(_, p)| p.connection == connection)
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            if let Some(pending) = state.pending.remove(&id) {
                let _ = pending.reply.send(Outcome::InstanceGone);
            }
        }
    }

    /// An instance's reply to invocation `id`; ignored unless that connection was asked.
    pub(crate) fn complete(&self, connection: u64, id: u32, ok: bool, payload: Bytes) {
        let mut state = self.state.lock();
        if state.pending.get(&id).map(|p| p.connection) != Some(connection) {
            return;
        }
        if let Some(pending) = state.pending.remove(&id) {
            drop(state);
            let answer = if ok {
                Message::Reply { payload }
            } else {
                error(
                    ErrorCode::HandlerError,
                    String::from_utf8_lossy(&payload).into_owned(),
                )
            };
            // Straight to the caller when its connection has room: one task hop fewer.
            let frame = answer.to_frame(pending.caller.correlation);
            let outcome = match pending.caller.out.try_send(frame) {
                Ok(()) => Outcome::Answered,
                Err(_) => Outcome::Answer(answer),
            };
            let _ = pending.reply.send(outcome);
        }
    }

    /// Calls `service/method` on one live instance, failing over to another when the
    /// instance disconnects before replying. Returns the answer for the caller (the reply or a
    /// typed error), or `None` when it was already written to the caller's connection.
    pub(crate) async fn call(
        &self,
        service: &str,
        method: &str,
        payload: Bytes,
        timeout: Duration,
        caller: &Caller,
    ) -> Option<Message> {
        let deadline = tokio::time::Instant::now() + timeout.min(MAX_CALL_TIMEOUT);
        for _ in 0..MAX_ATTEMPTS {
            let Some((id, out, reply)) = self.route(service, method, caller) else {
                return Some(error(
                    ErrorCode::NoInstance,
                    format!("no live instance serves {service}/{method}"),
                ));
            };
            let invoke = Message::Invoke {
                service: service.to_string(),
                method: method.to_string(),
                payload: payload.clone(),
            };
            let sent = tokio::time::timeout_at(deadline, out.send(invoke.to_frame(id))).await;
            match sent {
                Err(_) => return Some(self.timed_out(id, service, method)),
                Ok(Err(_)) => {
                    // The instance's connection is closing; its disconnect removes it.
                    self.forget(id);
                    tokio::task::yield_now().await;
                    continue;
                }
                Ok(Ok(())) => {}
            }
            match tokio::time::timeout_at(deadline, reply).await {
                Err(_) => return Some(self.timed_out(id, service, method)),
                Ok(Ok(Outcome::Answered)) => return None,
                Ok(Ok(Outcome::Answer(answer))) => return Some(answer),
                Ok(Ok(Outcome::InstanceGone)) | Ok(Err(_)) => continue,
            }
        }
        Some(error(
            ErrorCode::NoInstance,
            format!("every instance of {service}/{method} tried went away"),
        ))
    }

    /// Picks the next instance serving `method` and records the pending call.
    fn route(
        &self,
        service: &str,
        method: &str,
        caller: &Caller,
    ) -> Option<(u32, mpsc::Sender<Bytes>, oneshot::Receiver<Outcome>)> {
        let id = self.next_invocation.fetch_add(1, Ordering::Relaxed);
        let mut state = self.state.lock();
        let entry = state.services.get_mut(service)?;
        let count = entry.instances.len();
        let chosen = (0..count)
            .map(|step| (entry.next + step) % count)
            .find(|&i| {
                entry
                    .instances
                    .get(i)
                    .is_some_and(|x| x.methods.contains(method))
            })?;
        entry.next = chosen + 1;
        let instance = entry.instances.get(chosen)?;
        let (connection, out) = (instance.connection, instance.out.clone());
        let (reply, waiting) = oneshot::channel();
        let caller = caller.clone();
        state.pending.insert(
            id,
            Pending {
                connection,
                caller,
                reply,
            },
        );
        Some((id, out, waiting))
    }

    fn forget(&self, id: u32) {
        self.state.lock().pending.remove(&id);
    }

    fn timed_out(&self, id: u32, service: &str, method: &str) -> Message {
        self.forget(id);
        error(
            ErrorCode::Timeout,
            format!("{service}/{method} did not reply in time"),
        )
    }

    /// Every service with its instance count and methods, sorted by name.
    pub(crate) fn list(&self) -> Message {
        let state = self.state.lock();
        let mut services: Vec<ServiceInfo> = state
            .services
            .iter()
            .map(|(name, s)| ServiceInfo {
                name: name.clone(),
                instances: u32::try_from(s.instances.len()).unwrap_or(u32::MAX),
                methods: s
                    .instances
                    .iter()
                    .flat_map(|i| i.methods.iter().cloned())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect(),
            })
            .collect();
        services.sort_by(|a, b| a.name.cmp(&b.name));
        Message::Services { services }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(registry: &Registry, connection: u64) -> mpsc::Receiver<Bytes> {
        let (out, frames) = mpsc::channel(16);
        registry.register(connection, "greeter", vec!["hello".into()], out);
        frames
    }

    fn invocation_id(frame: &Bytes) -> u32 {
        u32::from_be_bytes([frame[8], frame[9], frame[10], frame[11]])
    }

    fn caller() -> (Caller, mpsc::Receiver<Bytes>) {
        let (out, frames) = mpsc::channel(4);
        let caller = Caller {
            out,
            correlation: 77,
        };
        (caller, frames)
    }

    #[tokio::test]
    async fn calls_rotate_over_instances_and_fail_over_when_one_disconnects() {
        let registry = std::sync::Arc::new(Registry::default());
        let mut first = instance(&registry, 1);
        let mut second = instance(&registry, 2);
        let r = std::sync::Arc::clone(&registry);
        let (to_caller, mut answers) = caller();
        let call = tokio::spawn(async move {
            let timeout = Duration::from_secs(5);
            r.call("greeter", "hello", Bytes::new(), timeout, &to_caller)
                .await
        });
        let frame = first.recv().await.unwrap();
        assert!(second.try_recv().is_err());
        registry.disconnect(1);
        let frame2 = second.recv().await.unwrap();
        assert_ne!(invocation_id(&frame), invocation_id(&frame2));
        registry.complete(2, invocation_id(&frame2), true, Bytes::from_static(b"hi"));
        assert_eq!(
            call.await.unwrap(),
            None,
            "answered on the caller's connection"
        );
        let expected = Message::Reply {
            payload: Bytes::from_static(b"hi"),
        };
        assert_eq!(answers.recv().await.unwrap(), expected.to_frame(77));
    }

    #[tokio::test]
    async fn a_call_with_no_instance_or_no_reply_gets_a_typed_error() {
        let registry = Registry::default();
        let (to_caller, _answers) = caller();
        let timeout = Duration::from_secs(1);
        let reply = registry
            .call("absent", "m", Bytes::new(), timeout, &to_caller)
            .await;
        assert!(matches!(
            reply,
            Some(Message::Error {
                code: ErrorCode::NoInstance,
                ..
            })
        ));
        let _frames = instance(&registry, 1);
        let timeout = Duration::from_millis(20);
        let reply = registry
            .call("greeter", "hello", Bytes::new(), timeout, &to_caller)
            .await;
        assert!(matches!(
            reply,
            Some(Message::Error {
                code: ErrorCode::Timeout,
                ..
            })
        ));
        assert!(registry.state.lock().pending.is_empty());
    }
}
