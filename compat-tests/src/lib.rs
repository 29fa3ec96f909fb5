//! Helpers for the compatibility tests: a real Neo broker on an OS-chosen port.
//!
//! The tests in `tests/` drive it with real, unmodified clients (librdkafka through the
//! `rdkafka` crate, kcat, Python clients) over real sockets.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use neo_broker::{Broker, BrokerConfig, TopicConfig};
use neo_kafka::{KafkaConfig, KafkaServer};
use tokio::sync::watch;

/// A broker serving the Kafka protocol on 127.0.0.1, inside the test's tokio runtime.
pub struct TestBroker {
    pub broker: Arc<Broker>,
    pub kafka_addr: SocketAddr,
    stop: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
    _dir: Option<tempfile::TempDir>,
}

impl TestBroker {
    /// A broker over a new temporary data directory.
    pub async fn start() -> TestBroker {
        let dir = tempfile::tempdir().unwrap();
        let mut broker = Self::start_in(dir.path(), TopicConfig::default()).await;
        broker._dir = Some(dir);
        broker
    }

    /// A broker over `data_dir` with `topic_defaults`.
    pub async fn start_in(data_dir: &Path, topic_defaults: TopicConfig) -> TestBroker {
        let broker = Broker::open(BrokerConfig {
            data_dir: data_dir.to_path_buf(),
            topic_defaults,
            ..BrokerConfig::default()
        })
        .await
        .unwrap();
        let server = KafkaServer::bind(KafkaConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..KafkaConfig::default()
        })
        .await
        .unwrap();
        let kafka_addr = server.local_addr().unwrap();
        let (stop, stopped) = watch::channel(false);
        let server = tokio::spawn(server.run(Arc::clone(&broker), stopped));
        TestBroker {
            broker,
            kafka_addr,
            stop,
            server,
            _dir: None,
        }
    }

    /// `bootstrap.servers` for clients.
    pub fn bootstrap(&self) -> String {
        self.kafka_addr.to_string()
    }

    /// Stops accepting and closes the logs cleanly.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.server.await;
        self.broker.shutdown().await.unwrap();
    }
}
