//! The broker: owns topics and their partition logs (placeholder until the broker core lands).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::{BrokerConfig, BrokerError, BrokerMetrics};

/// One broker: topics, partitions, and the API every front-end calls.
pub struct Broker {
    config: BrokerConfig,
    metrics: BrokerMetrics,
    ready: AtomicBool,
}

impl Broker {
    /// Opens (recovering if needed) every topic under `config.data_dir`.
    pub async fn open(config: BrokerConfig) -> Result<Arc<Broker>, BrokerError> {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|source| BrokerError::DataDir { path: config.data_dir.clone(), source })?;
        Ok(Arc::new(Broker { config, metrics: BrokerMetrics::new(), ready: AtomicBool::new(true) }))
    }

    /// True once every log is recovered and the broker can serve.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// The broker's metrics.
    pub fn metrics(&self) -> &BrokerMetrics {
        &self.metrics
    }

    /// The configuration the broker runs with.
    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    /// Flushes every log and writes clean-shutdown markers.
    pub async fn shutdown(&self) -> Result<(), BrokerError> {
        self.ready.store(false, Ordering::Release);
        Ok(())
    }
}
