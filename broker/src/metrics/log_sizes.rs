//! Per-topic segment counts and bytes on disk, computed when scraped.

use std::sync::Arc;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntGaugeVec, Opts};

/// Per-topic figures computed when scraped (segment count, bytes on disk).
pub type LogSizes = Arc<dyn Fn() -> Vec<(String, i64, i64)> + Send + Sync>;

/// The per-topic log gauges, refreshed from [`LogSizes`] at every scrape.
pub(super) struct LogSizeCollector {
    sizes: LogSizes,
    segments: IntGaugeVec,
    bytes: IntGaugeVec,
}

impl LogSizeCollector {
    pub(super) fn new(sizes: LogSizes) -> Result<Self, prometheus::Error> {
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
