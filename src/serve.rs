//! `neo serve`: open the broker, start the listeners, stop cleanly on SIGINT/SIGTERM.

use std::sync::Arc;

use anyhow::Context;
use neo_amqp::AmqpServer;
use neo_broker::Broker;
use neo_kafka::KafkaServer;
use neo_native::NativeServer;
use neo_sqs::SqsServer;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

use crate::admin::AdminState;
use crate::config::NeoConfig;

/// Runs the broker until SIGINT or SIGTERM, then stops accepting, drains, flushes every log and
/// marks a clean shutdown.
pub async fn serve(config: NeoConfig) -> anyhow::Result<()> {
    let admin_addr = config.admin.listen;
    let admin = TcpListener::bind(admin_addr)
        .await
        .with_context(|| format!("admin listener {admin_addr}"))?;
    let admin_addr_bound = admin.local_addr().context("admin listener address")?;
    let kafka_config = neo_kafka::KafkaConfig {
        node_id: i32::try_from(config.node_id()).context("cluster.node_id must fit in 31 bits")?,
        ..config.kafka.kafka_config()?
    };
    let kafka = KafkaServer::bind(kafka_config)
        .await
        .with_context(|| format!("kafka listener {}", config.kafka.listen))?;
    let amqp = AmqpServer::bind(config.amqp.amqp_config())
        .await
        .with_context(|| format!("amqp listener {}", config.amqp.listen))?;
    let sqs = SqsServer::bind(config.sqs.sqs_config())
        .await
        .with_context(|| format!("sqs listener {}", config.sqs.listen))?;
    let native = NativeServer::bind(config.native.native_config())
        .await
        .with_context(|| format!("native listener {}", config.native.listen))?;
    let mut sigterm = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut sigint = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    // The admin listener answers `/live` (and `/ready` with 503) while the broker opens.
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let admin_state = AdminState::default();
    let router = crate::admin::router(admin_state.clone());
    let admin_task = tokio::spawn(async move {
        axum::serve(admin, router)
            .with_graceful_shutdown(async move {
                let _ = stop_rx.wait_for(|stop| *stop).await;
            })
            .await
    });
    tracing::info!("admin listening on {admin_addr_bound}");
    let broker = Broker::open(config.broker_config()).await?;
    admin_state.opened(Arc::clone(&broker));
    tracing::info!(data_dir = %config.data_dir.display(), "neo started");
    let kafka_addr = kafka.local_addr().context("kafka listener address")?;
    tracing::info!("kafka listening on {kafka_addr}");
    let amqp_addr = amqp.local_addr().context("amqp listener address")?;
    tracing::info!("amqp listening on {amqp_addr}");
    let sqs_addr = sqs.local_addr().context("sqs listener address")?;
    tracing::info!("sqs listening on {sqs_addr}");
    let native_addr = native.local_addr().context("native listener address")?;
    tracing::info!("native listening on {native_addr}");

    let kafka_task = tokio::spawn(kafka.run(Arc::clone(&broker), stop_tx.subscribe()));
    let amqp_task = tokio::spawn(amqp.run(Arc::clone(&broker), stop_tx.subscribe()));
    let sqs_task = tokio::spawn(sqs.run(Arc::clone(&broker), stop_tx.subscribe()));
    let native_task = tokio::spawn(native.run(Arc::clone(&broker), stop_tx.subscribe()));
    tokio::select! {
        _ = sigterm.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = sigint.recv() => tracing::info!("SIGINT: shutting down"),
        reason = broker.storage_failed() => {
            // Nothing more is written: the other replicas take over, and a restart recovers
            // from what is on disk.
            anyhow::bail!("storage failed under replication ({reason}): stopping");
        }
    }
    // Clients still connected are told of the new leaders before the listeners close.
    broker.hand_over_leadership().await;
    let _ = stop_tx.send(true);
    let _ = kafka_task.await;
    let _ = amqp_task.await;
    let _ = sqs_task.await;
    let _ = native_task.await;
    if let Ok(Err(e)) = admin_task.await {
        tracing::warn!(error = %e, "admin listener ended with an error");
    }
    broker.shutdown().await?;
    Ok(())
}
