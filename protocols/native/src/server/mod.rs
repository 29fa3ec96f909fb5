//! The native listener: accepts connections and serves each in its own task.

mod admin;
mod config;
mod connection;
mod consumer_protocol;
mod context;
mod credit;
mod error_map;
mod group_subscription;
mod membership;
mod metadata;
mod offsets;
mod outbox;
mod produce;
mod producer_id;
mod queue_holds;
mod queue_subscription;
mod read_loop;
mod rpc;
mod rpc_forward;
mod subscription;
mod subscription_handle;

use std::net::SocketAddr;
use std::sync::Arc;

use neo_broker::Broker;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use config::NativeConfig;
use context::Context;

/// A bound native-protocol listener.
pub struct NativeServer {
    listener: TcpListener,
    config: NativeConfig,
}

impl NativeServer {
    /// Binds `config.listen` (before the broker opens, so a port in use fails fast).
    pub async fn bind(config: NativeConfig) -> std::io::Result<NativeServer> {
        let listener = TcpListener::bind(config.listen).await?;
        Ok(NativeServer { listener, config })
    }

    /// The address actually bound (port 0 resolved).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Where the other brokers send native clients to reach this one: the listening address
    /// (a wildcard one as the host the cluster reaches).
    fn endpoint(&self, broker: &Broker) -> String {
        let Ok(mut addr) = self.listener.local_addr() else {
            return String::new();
        };
        if addr.ip().is_unspecified() {
            addr.set_ip(broker.cluster().advertised().ip());
        }
        addr.to_string()
    }

    /// Serves `broker` until `stop` turns true; open connections are closed then too.
    pub async fn run(self, broker: Arc<Broker>, mut stop: watch::Receiver<bool>) {
        if let Err(e) = broker
            .register_endpoint(Some(("native", self.endpoint(&broker))))
            .await
        {
            tracing::warn!(error = %e, "cannot tell the cluster where native clients reach this broker");
        }
        let context = Arc::new(Context {
            broker,
            config: self.config,
            rpc: rpc::Registry::default(),
            holders: std::sync::atomic::AtomicU64::new(1),
            rpc_rotation: std::sync::atomic::AtomicUsize::new(0),
        });
        let forwarded = rpc_forward::ForwardedCalls {
            context: Arc::downgrade(&context),
        };
        context
            .broker
            .answer_gateway_calls(rpc_forward::SERVICE, Arc::new(forwarded));
        let mut next_id: u64 = 0;
        loop {
            tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        next_id += 1;
                        let _ = stream.set_nodelay(true);
                        let context = Arc::clone(&context);
                        let stop = stop.clone();
                        tokio::spawn(read_loop::serve(stream, peer, next_id, context, stop));
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "native accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                },
                _ = async { stop.wait_for(|stop| *stop).await.is_ok() } => return,
            }
        }
    }
}
