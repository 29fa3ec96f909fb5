//! Prometheus metrics of the broker, in one registry the admin endpoint gathers: counters
//! the hot paths update, and collectors that compute their figures when scraped.

mod cluster;
mod log_sizes;
mod queue_depths;

use prometheus::{Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts, Registry};

pub use cluster::{ClusterFigures, ClusterFiguresFn};
pub use log_sizes::LogSizes;
pub use queue_depths::{QueueDepth, QueueDepths};

use cluster::ClusterCollector;
use log_sizes::LogSizeCollector;
use queue_depths::QueueDepthCollector;

/// The broker's metrics.
pub struct BrokerMetrics {
    registry: Registry,
    /// Bytes appended, per topic.
    pub bytes_appended: IntCounterVec,
    /// Records appended, per topic.
    pub records_appended: IntCounterVec,
    /// Bytes returned to readers, per topic.
    pub bytes_read: IntCounterVec,
    /// Duration of each fsync (group commit).
    pub fsync_seconds: Histogram,
    /// Time the last start-up took to open and recover every log.
    pub recovery_seconds: Gauge,
    /// Time from a replicated append on its leader to its commit, for the appends a client
    /// waits on (Kafka `acks=all`, publisher confirms, SQS sends).
    pub commit_seconds: Histogram,
}

impl std::fmt::Debug for BrokerMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BrokerMetrics")
    }
}

impl BrokerMetrics {
    /// Creates the metrics in a fresh registry, with the process collector (RSS, CPU, fds).
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let bytes_appended = IntCounterVec::new(
            Opts::new("neo_log_appended_bytes_total", "Bytes appended"),
            &["topic"],
        )?;
        let records_appended = IntCounterVec::new(
            Opts::new("neo_log_appended_records_total", "Records appended"),
            &["topic"],
        )?;
        let bytes_read = IntCounterVec::new(
            Opts::new("neo_log_read_bytes_total", "Bytes read by consumers"),
            &["topic"],
        )?;
        let fsync_seconds = Histogram::with_opts(
            HistogramOpts::new("neo_log_fsync_seconds", "Duration of each log fsync").buckets(
                vec![
                    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                    1.0,
                ],
            ),
        )?;
        let recovery_seconds = Gauge::new(
            "neo_log_recovery_seconds",
            "Time the last start-up took to open and recover all logs",
        )?;
        registry.register(Box::new(bytes_appended.clone()))?;
        registry.register(Box::new(records_appended.clone()))?;
        registry.register(Box::new(bytes_read.clone()))?;
        registry.register(Box::new(fsync_seconds.clone()))?;
        let commit_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "neo_raft_commit_latency_seconds",
                "Time from a replicated append on its leader to its commit",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
        )?;
        registry.register(Box::new(recovery_seconds.clone()))?;
        registry.register(Box::new(commit_seconds.clone()))?;
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(Self {
            registry,
            bytes_appended,
            records_appended,
            bytes_read,
            fsync_seconds,
            recovery_seconds,
            commit_seconds,
        })
    }

    /// Registers the per-topic segment and size gauges, computed by `sizes` at scrape time.
    pub fn register_log_sizes(&self, sizes: LogSizes) -> Result<(), prometheus::Error> {
        self.registry
            .register(Box::new(LogSizeCollector::new(sizes)?))
    }

    /// Registers this broker's Raft and cluster gauges, computed by `figures` at scrape time.
    pub fn register_cluster_figures(
        &self,
        figures: ClusterFiguresFn,
    ) -> Result<(), prometheus::Error> {
        self.registry
            .register(Box::new(ClusterCollector::new(figures)?))
    }

    /// Registers the per-queue message counts, computed by `depths` at scrape time.
    pub fn register_queue_depths(&self, depths: QueueDepths) -> Result<(), prometheus::Error> {
        self.registry
            .register(Box::new(QueueDepthCollector::new(depths)?))
    }

    /// The counters of `topic`, resolved once for its partitions to update.
    pub(crate) fn topic_counters(&self, topic: &str) -> TopicCounters {
        TopicCounters {
            bytes_appended: self.bytes_appended.with_label_values(&[topic]),
            records_appended: self.records_appended.with_label_values(&[topic]),
            bytes_read: self.bytes_read.with_label_values(&[topic]),
            commit_seconds: self.commit_seconds.clone(),
        }
    }

    /// Drops the counters of a deleted topic.
    pub(crate) fn remove_topic(&self, topic: &str) {
        for counters in [
            &self.bytes_appended,
            &self.records_appended,
            &self.bytes_read,
        ] {
            let _ = counters.remove_label_values(&[topic]);
        }
    }

    /// The registry to gather for `/metrics`.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}

/// The counters one topic's partitions update on every append and read.
#[derive(Debug, Clone)]
pub(crate) struct TopicCounters {
    pub bytes_appended: IntCounter,
    pub records_appended: IntCounter,
    pub bytes_read: IntCounter,
    pub commit_seconds: Histogram,
}
