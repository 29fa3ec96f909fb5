//! Helpers for the compatibility tests: a real Neo broker on OS-chosen ports (Kafka, AMQP,
//! SQS and the native protocol).
//!
//! The tests in `tests/` drive it with real, unmodified clients (librdkafka through the
//! `rdkafka` crate, kcat, Python clients) over real sockets. The broker runs on a tokio
//! runtime of its own, so a client call that blocks the test's thread never stalls it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod amqp;
pub mod child;
pub mod cluster;
pub mod history;
pub mod rabbitmq;
pub mod sqs;
pub mod tools;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use neo_amqp::{AmqpConfig, AmqpServer};
use neo_broker::{Broker, BrokerConfig, TopicConfig};
use neo_kafka::{KafkaConfig, KafkaServer};
use neo_native::{NativeConfig, NativeServer};
use neo_sqs::{SqsConfig, SqsServer};
use tokio::sync::{oneshot, watch};

/// A loopback port free at the time of the call (for processes that must be told one).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A broker serving every front-end on 127.0.0.1.
pub struct TestBroker {
    pub broker: Arc<Broker>,
    pub kafka_addr: SocketAddr,
    pub amqp_addr: SocketAddr,
    pub sqs_addr: SocketAddr,
    pub native_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: Option<tempfile::TempDir>,
}

impl TestBroker {
    /// A broker over a new temporary data directory.
    pub async fn start() -> TestBroker {
        Self::start_blocking()
    }

    /// [`TestBroker::start`] for tests without a runtime of their own (the broker's is its
    /// own in any case).
    pub fn start_blocking() -> TestBroker {
        let dir = tempfile::tempdir().unwrap();
        let mut broker = Self::start_blocking_in(dir.path());
        broker._dir = Some(dir);
        broker
    }

    /// A broker over `data_dir`, for tests without a runtime of their own.
    pub fn start_blocking_in(data_dir: &Path) -> TestBroker {
        Self::start_configured(config(data_dir, TopicConfig::default()))
    }

    /// A broker with all of `config` (data directory, topic defaults, intervals, groups).
    pub fn start_configured(config: BrokerConfig) -> TestBroker {
        Self::launch(config, KafkaConfig::default(), local_native())
    }

    /// A broker over `data_dir` with `topic_defaults`.
    pub async fn start_in(data_dir: &Path, topic_defaults: TopicConfig) -> TestBroker {
        Self::start_with(data_dir, topic_defaults, KafkaConfig::default()).await
    }

    /// A broker over `data_dir` with `topic_defaults` and the Kafka settings of `kafka`
    /// (its `listen` address is replaced by 127.0.0.1 on an OS-chosen port).
    pub async fn start_with(
        data_dir: &Path,
        topic_defaults: TopicConfig,
        kafka: KafkaConfig,
    ) -> TestBroker {
        Self::launch(config(data_dir, topic_defaults), kafka, local_native())
    }

    /// A broker over `data_dir` whose native listener has the settings of `native` (its
    /// `listen` address kept, so a restarted broker can take the port of the one before).
    pub async fn start_with_native(data_dir: &Path, native: NativeConfig) -> TestBroker {
        Self::launch(
            config(data_dir, TopicConfig::default()),
            KafkaConfig::default(),
            native,
        )
    }

    fn launch(config: BrokerConfig, kafka: KafkaConfig, native: NativeConfig) -> TestBroker {
        // Broker logs in the test's output, filtered by RUST_LOG (warnings by default).
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,openraft=error")),
            )
            .with_test_writer()
            .try_init();
        let (started_tx, started) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let broker = Broker::open(config).await.unwrap();
                let server = KafkaServer::bind(KafkaConfig {
                    listen: "127.0.0.1:0".parse().unwrap(),
                    ..kafka
                })
                .await
                .unwrap();
                let addr = server.local_addr().unwrap();
                let amqp = AmqpServer::bind(AmqpConfig {
                    listen: "127.0.0.1:0".parse().unwrap(),
                    ..AmqpConfig::default()
                })
                .await
                .unwrap();
                let amqp_addr = amqp.local_addr().unwrap();
                let sqs = SqsServer::bind(SqsConfig {
                    listen: "127.0.0.1:0".parse().unwrap(),
                    ..SqsConfig::default()
                })
                .await
                .unwrap();
                let sqs_addr = sqs.local_addr().unwrap();
                let native = NativeServer::bind(native).await.unwrap();
                let native_addr = native.local_addr().unwrap();
                let (stop_tx, stop_rx) = oneshot::channel();
                let (serving_tx, serving_rx) = watch::channel(false);
                started_tx
                    .send(Addresses {
                        broker: Arc::clone(&broker),
                        kafka: addr,
                        amqp: amqp_addr,
                        sqs: sqs_addr,
                        native: native_addr,
                        stop: stop_tx,
                    })
                    .unwrap();
                let serving = tokio::spawn(server.run(Arc::clone(&broker), serving_rx.clone()));
                let amqp_serving = tokio::spawn(amqp.run(Arc::clone(&broker), serving_rx.clone()));
                let sqs_serving = tokio::spawn(sqs.run(Arc::clone(&broker), serving_rx.clone()));
                let native_serving = tokio::spawn(native.run(Arc::clone(&broker), serving_rx));
                let _ = stop_rx.await;
                let _ = serving_tx.send(true);
                let _ = serving.await;
                let _ = amqp_serving.await;
                let _ = sqs_serving.await;
                let _ = native_serving.await;
                broker.shutdown().await.unwrap();
            });
        });
        let started: Addresses = started.recv().unwrap();
        TestBroker {
            broker: started.broker,
            kafka_addr: started.kafka,
            amqp_addr: started.amqp,
            sqs_addr: started.sqs,
            native_addr: started.native,
            stop: Some(started.stop),
            thread: Some(thread),
            _dir: None,
        }
    }

    /// The AMQP URI for clients (`guest`/`guest`, vhost `/`).
    pub fn amqp_uri(&self) -> String {
        format!("amqp://guest:guest@{}/%2f", self.amqp_addr)
    }

    /// The SQS endpoint URL for clients.
    pub fn sqs_endpoint(&self) -> String {
        format!("http://{}", self.sqs_addr)
    }

    /// `bootstrap.servers` for clients.
    pub fn bootstrap(&self) -> String {
        self.kafka_addr.to_string()
    }

    /// Stops accepting and closes the logs cleanly.
    pub async fn stop(mut self) {
        self.stop_now();
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

/// What the broker's thread hands back once every front-end listens.
struct Addresses {
    broker: Arc<Broker>,
    kafka: SocketAddr,
    amqp: SocketAddr,
    sqs: SocketAddr,
    native: SocketAddr,
    stop: oneshot::Sender<()>,
}

/// The default broker configuration over `data_dir` with `topic_defaults`.
fn config(data_dir: &Path, topic_defaults: TopicConfig) -> BrokerConfig {
    BrokerConfig {
        data_dir: data_dir.to_path_buf(),
        topic_defaults,
        ..BrokerConfig::default()
    }
}

/// The native listener on 127.0.0.1, OS-chosen port.
fn local_native() -> NativeConfig {
    NativeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..NativeConfig::default()
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        self.stop_now();
    }
}
