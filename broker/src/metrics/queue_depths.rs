//! Messages in each queue this broker leads, available and in flight, computed when scraped.

use std::sync::Arc;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntGaugeVec, Opts};

/// One queue's message counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueDepth {
    /// The queue's topic.
    pub topic: String,
    /// Messages waiting for a consumer (delayed ones included).
    pub available: u64,
    /// Messages delivered and not yet settled.
    pub in_flight: u64,
}

/// Computes the [`QueueDepth`] of every queue loaded here at scrape time.
pub type QueueDepths = Arc<dyn Fn() -> Vec<QueueDepth> + Send + Sync>;

/// The per-queue gauge, refreshed from [`QueueDepths`] at every scrape.
pub(super) struct QueueDepthCollector {
    depths: QueueDepths,
    messages: IntGaugeVec,
}

impl QueueDepthCollector {
    pub(super) fn new(depths: QueueDepths) -> Result<Self, prometheus::Error> {
        Ok(Self {
            depths,
            messages: IntGaugeVec::new(
                Opts::new(
                    "neo_queue_messages",
                    "Messages of each queue led by this broker, by state",
                ),
                &["topic", "state"],
            )?,
        })
    }
}

impl Collector for QueueDepthCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.messages.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let depths = (self.depths)();
        self.messages.reset();
        for depth in depths {
            let gauge = |state: &str, value: u64| {
                self.messages
                    .with_label_values(&[depth.topic.as_str(), state])
                    .set(i64::try_from(value).unwrap_or(i64::MAX));
            };
            gauge("available", depth.available);
            gauge("in_flight", depth.in_flight);
        }
        self.messages.collect()
    }
}
