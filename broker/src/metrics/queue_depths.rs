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

#[cfg(test)]
mod tests {
    use parking_lot::Mutex;

    use super::*;

    #[test]
    fn a_queue_no_longer_loaded_leaves_the_gauge() {
        let depths = Arc::new(Mutex::new(vec![
            QueueDepth {
                topic: "sqs.a".into(),
                available: 4,
                in_flight: 1,
            },
            QueueDepth {
                topic: "sqs.b".into(),
                available: 0,
                in_flight: 0,
            },
        ]));
        let shown = Arc::clone(&depths);
        let collector = QueueDepthCollector::new(Arc::new(move || shown.lock().clone())).unwrap();
        let series = |families: Vec<MetricFamily>| -> Vec<(String, String, f64)> {
            families[0]
                .get_metric()
                .iter()
                .map(|m| {
                    let label = |name: &str| {
                        m.get_label()
                            .iter()
                            .find(|l| l.name() == name)
                            .unwrap()
                            .value()
                            .to_string()
                    };
                    (label("topic"), label("state"), m.get_gauge().get_value())
                })
                .collect()
        };
        let first = series(collector.collect());
        assert!(first.contains(&("sqs.a".into(), "available".into(), 4.0)));
        assert!(first.contains(&("sqs.a".into(), "in_flight".into(), 1.0)));
        assert_eq!(first.len(), 4);
        depths.lock().remove(0);
        let second = series(collector.collect());
        assert_eq!(second.len(), 2, "{second:?}");
        assert!(second.iter().all(|(topic, _, _)| topic == "sqs.b"));
    }
}
