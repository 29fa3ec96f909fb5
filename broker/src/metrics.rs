//! Prometheus metrics of the broker, in one registry the admin endpoint gathers.

use std::sync::Arc;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{
    Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
};

/// Per-topic figures computed when scraped (segment count, bytes on disk).
pub type LogSizes = Arc<dyn Fn() -> Vec<(String, i64, i64)> + Send + Sync>;

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
        registry.register(Box::new(recovery_seconds.clone()))?;
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
        })
    }

    /// Registers the per-topic segment and size gauges, computed by `sizes` at scrape time.
    pub fn register_log_sizes(&self, sizes: LogSizes) -> Result<(), prometheus::Error> {
        self.registry
            .register(Box::new(LogSizeCollector::new(sizes)?))
    }

    /// The counters of `topic`, resolved once for its partitions to update.
    pub(crate) fn topic_counters(&self, topic: &str) -> TopicCounters {
        TopicCounters {
            bytes_appended: self.bytes_appended.with_label_values(&[topic]),
            records_appended: self.records_appended.with_label_values(&[topic]),
            bytes_read: self.bytes_read.with_label_values(&[topic]),
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
}

struct LogSizeCollector {
    sizes: LogSizes,
    segments: IntGaugeVec,
    bytes: IntGaugeVec,
}

impl LogSizeCollector {
    fn new(sizes: LogSizes) -> Result<Self, prometheus::Error> {
        Ok(Self {
            sizes,
            segments: IntGaugeVec::new(
                Opts::new("neo_log_segments", "Segments per topic"),
                &["topic"],
            )?,
            bytes: IntGaugeVec::new(
                Opts::new("neo_log_size_bytes", "Bytes on disk per topic"),
                &["topic"],
            )?,
        })
    }
}

impl Collector for LogSizeCollector {
    fn desc(&self) -> Vec<&Desc> {
        let mut d = self.segments.desc();
        d.extend(self.bytes.desc());
        d
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.segments.reset();
        self.bytes.reset();
        for (topic, segments, bytes) in (self.sizes)() {
            self.segments
                .with_label_values(&[topic.as_str()])
                .set(segments);
            self.bytes.with_label_values(&[topic.as_str()]).set(bytes);
        }
        let mut families = self.segments.collect();
        families.extend(self.bytes.collect());
        families
    }
}
