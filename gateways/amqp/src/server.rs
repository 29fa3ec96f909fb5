//! The gateway's listener, and its sweeper of expired queues and messages.

use std::net::SocketAddr;
use std::sync::Arc;

use neo_broker::Broker;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::AmqpConfig;
use crate::connection;
use crate::gateway::Gateway;
use crate::publish::Reason;

/// The listening AMQP gateway.
pub struct AmqpServer {
    listener: TcpListener,
    config: AmqpConfig,
}

impl AmqpServer {
    /// Binds the listen address.
    pub async fn bind(config: AmqpConfig) -> std::io::Result<AmqpServer> {
        let listener = TcpListener::bind(config.listen).await?;
        Ok(AmqpServer { listener, config })
    }

    /// The address actually bound (port 0 resolved).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts connections until `shutdown` turns true.
    pub async fn run(self, broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
        let gateway = Arc::new(Gateway::new(broker, self.config).await);
        let sweeper = tokio::spawn(sweep_expired(Arc::clone(&gateway)));
        let _stop_sweeper = AbortOnDrop(sweeper);
        let _stop_following = AbortOnDrop(gateway.follow_topology());
        loop {
            tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let _ = stream.set_nodelay(true);
                        tokio::spawn(connection::serve(stream, peer, Arc::clone(&gateway)));
                    }
                    Err(e) => tracing::warn!(error = %e, "amqp accept failed"),
                },
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    }
}

/// Twice a second: checks free disk space (the disk alarm), deletes queues unused for their
/// `x-expires`, and moves expired messages of queues with a dead-letter exchange on even when
/// nobody consumes them (the "delay queue" pattern: TTL plus dead-letter exchange).
async fn sweep_expired(gateway: Arc<Gateway>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
    loop {
        tick.tick().await;
        gateway.alarm.check();
        for name in gateway.expired_queues() {
            tracing::debug!(
                queue = name,
                "amqp: deleting a queue unused for its x-expires"
            );
            gateway.delete_queue(&name).await;
        }
        for (name, info) in gateway
            .topology
            .queues_with(|q| q.args.dead_letter_exchange.is_some())
        {
            let queue = gateway.queue(&info);
            // The broker leading it sweeps it.
            if !queue.is_led_here() {
                continue;
            }
            let expired = queue.expire(neo_record::now_ms()).await;
            match expired {
                Ok(records) => {
                    gateway
                        .dead_letter(&name, &info, &records, Reason::Expired)
                        .await
                }
                Err(e) => tracing::warn!(queue = name, error = %e, "amqp: expiry sweep failed"),
            }
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
