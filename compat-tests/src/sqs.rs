//! A broker serving the SQS gateway and the Kafka protocol on 127.0.0.1 (OS-chosen ports),
//! for the SQS tests; it runs on a tokio runtime of its own, like [`crate::TestBroker`].

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use neo_broker::{Broker, BrokerConfig};
use neo_kafka::{KafkaConfig, KafkaServer};
use neo_sqs::{SqsConfig, SqsServer};
use tokio::sync::{oneshot, watch};

/// A broker with its SQS gateway.
pub struct SqsBroker {
    pub broker: Arc<Broker>,
    pub addr: SocketAddr,
    pub kafka_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: Option<tempfile::TempDir>,
}

impl SqsBroker {
    /// A broker over a new temporary data directory.
    pub fn start() -> SqsBroker {
        let dir = tempfile::tempdir().unwrap();
        let mut broker = Self::start_in(dir.path());
        broker._dir = Some(dir);
        broker
    }

    /// A broker over `data_dir`.
    pub fn start_in(data_dir: &Path) -> SqsBroker {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
            )
            .with_test_writer()
            .try_init();
        let data_dir = data_dir.to_path_buf();
        let (started_tx, started) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("neo-sqs-broker")
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let broker = Broker::open(BrokerConfig {
                    data_dir,
                    ..BrokerConfig::default()
                })
                .await
                .unwrap();
                let server = SqsServer::bind(SqsConfig {
                    listen: "127.0.0.1:0".parse().unwrap(),
                    ..SqsConfig::default()
                })
                .await
                .unwrap();
                let addr = server.local_addr().unwrap();
                let kafka = KafkaServer::bind(KafkaConfig {
                    listen: "127.0.0.1:0".parse().unwrap(),
                    ..KafkaConfig::default()
                })
                .await
                .unwrap();
                let kafka_addr = kafka.local_addr().unwrap();
                let (stop_tx, stop_rx) = oneshot::channel();
                let (serving_tx, serving_rx) = watch::channel(false);
                started_tx
                    .send((Arc::clone(&broker), addr, kafka_addr, stop_tx))
                    .unwrap();
                let serving = tokio::spawn(server.run(Arc::clone(&broker), serving_rx.clone()));
                let kafka_serving = tokio::spawn(kafka.run(Arc::clone(&broker), serving_rx));
                let _ = stop_rx.await;
                let _ = serving_tx.send(true);
                let _ = serving.await;
                let _ = kafka_serving.await;
                broker.shutdown().await.unwrap();
            });
        });
        let (broker, addr, kafka_addr, stop) = started.recv().unwrap();
        SqsBroker {
            broker,
            addr,
            kafka_addr,
            stop: Some(stop),
            thread: Some(thread),
            _dir: None,
        }
    }

    /// The endpoint URL clients are given.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn stop_now(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

impl Drop for SqsBroker {
    fn drop(&mut self) {
        self.stop_now();
    }
}
