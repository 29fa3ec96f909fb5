//! The Kafka listener: accepts connections and serves each in its own task.

use std::net::SocketAddr;
use std::sync::Arc;

use neo_broker::Broker;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::KafkaConfig;
use crate::connection;
use crate::handler::Handler;

/// A bound Kafka listener.
pub struct KafkaServer {
    listener: TcpListener,
    config: KafkaConfig,
}

impl KafkaServer {
    /// Binds `config.listen` (before the broker opens, so a port in use fails fast).
    pub async fn bind(config: KafkaConfig) -> std::io::Result<KafkaServer> {
        let listener = TcpListener::bind(config.listen).await?;
        Ok(KafkaServer { listener, config })
    }

    /// The address actually bound (port 0 resolved).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves `broker` until `stop` turns true. Open connections end with the process.
    /// Where the other brokers send Kafka clients to reach this one: the advertised listener,
    /// else the listening address (a wildcard one as the host the cluster reaches).
    fn endpoint(&self, broker: &Broker) -> String {
        if let Some((host, port)) = &self.config.advertised {
            return format!("{host}:{port}");
        }
        let Ok(mut addr) = self.listener.local_addr() else {
            return String::new();
        };
        if addr.ip().is_unspecified() {
            addr.set_ip(broker.cluster().advertised().ip());
        }
        addr.to_string()
    }

    pub async fn run(self, broker: Arc<Broker>, mut stop: watch::Receiver<bool>) {
        if let Err(e) = broker
            .register_endpoint(Some(("kafka", self.endpoint(&broker))))
            .await
        {
            tracing::warn!(error = %e, "cannot tell the cluster where Kafka clients reach this broker");
        }
        let handler = Arc::new(Handler {
            broker,
            config: Arc::new(self.config),
        });
        loop {
            tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        tokio::spawn(connection::serve(stream, Arc::clone(&handler)));
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "kafka accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                },
                _ = async { stop.wait_for(|stop| *stop).await.is_ok() } => return,
            }
        }
    }
}
