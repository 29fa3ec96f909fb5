//! This broker's place in the Raft groups and the cluster, computed when scraped: how many
//! partitions it hosts and leads, how many of those it leads lack a caught-up follower, the
//! elections it started, whether it leads the controller, and how many brokers it hears from.

use std::sync::Arc;

use parking_lot::Mutex;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntCounter, IntGauge};

/// What the cluster gauges show, read from memory when scraped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClusterFigures {
    /// Partitions whose replica here leads.
    pub leader_partitions: i64,
    /// Partitions with a replica here.
    pub partitions: i64,
    /// Partitions led here with a replica not in sync (behind, or its broker silent).
    pub under_replicated_partitions: i64,
    /// Elections this broker started for the partition groups it follows, since it started.
    pub elections_started: u64,
    /// Whether this broker leads the controller group.
    pub controller_leader: bool,
    /// Brokers heard from lately, this one included.
    pub live_brokers: i64,
}

/// Computes the [`ClusterFigures`] at scrape time.
pub type ClusterFiguresFn = Arc<dyn Fn() -> ClusterFigures + Send + Sync>;

/// The cluster gauges and the election counter, refreshed at every scrape.
pub(super) struct ClusterCollector {
    figures: ClusterFiguresFn,
    leader_partitions: IntGauge,
    partitions: IntGauge,
    under_replicated: IntGauge,
    elections: IntCounter,
    controller_leader: IntGauge,
    live_brokers: IntGauge,
    /// Held while a scrape brings the counter up to the figure (two at once would add twice).
    scraping: Mutex<()>,
}

impl ClusterCollector {
    pub(super) fn new(figures: ClusterFiguresFn) -> Result<Self, prometheus::Error> {
        Ok(Self {
            figures,
            leader_partitions: IntGauge::new(
                "neo_raft_leader_partitions",
                "Partitions whose replica on this broker leads",
            )?,
            partitions: IntGauge::new(
                "neo_raft_partitions",
                "Partition replicas this broker hosts",
            )?,
            under_replicated: IntGauge::new(
                "neo_raft_under_replicated_partitions",
                "Partitions this broker leads with a replica not in sync",
            )?,
            elections: IntCounter::new(
                "neo_raft_elections_total",
                "Elections this broker started for partition groups whose leader went silent",
            )?,
            controller_leader: IntGauge::new(
                "neo_controller_leader",
                "1 if this broker leads the controller group",
            )?,
            live_brokers: IntGauge::new(
                "neo_cluster_live_brokers",
                "Brokers this broker heard from lately, itself included",
            )?,
            scraping: Mutex::new(()),
        })
    }
}

impl Collector for ClusterCollector {
    fn desc(&self) -> Vec<&Desc> {
        [
            self.leader_partitions.desc(),
            self.partitions.desc(),
            self.under_replicated.desc(),
            self.elections.desc(),
            self.controller_leader.desc(),
            self.live_brokers.desc(),
        ]
        .concat()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let figures = (self.figures)();
        let _scraping = self.scraping.lock();
        self.leader_partitions.set(figures.leader_partitions);
        self.partitions.set(figures.partitions);
        self.under_replicated
            .set(figures.under_replicated_partitions);
        let counted = self.elections.get();
        if figures.elections_started > counted {
            self.elections.inc_by(figures.elections_started - counted);
        }
        self.controller_leader
            .set(i64::from(figures.controller_leader));
        self.live_brokers.set(figures.live_brokers);
        [
            self.leader_partitions.collect(),
            self.partitions.collect(),
            self.under_replicated.collect(),
            self.elections.collect(),
            self.controller_leader.collect(),
            self.live_brokers.collect(),
        ]
        .concat()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    fn value(families: &[MetricFamily], name: &str) -> f64 {
        let family = families.iter().find(|f| f.name() == name).unwrap();
        let metric = &family.get_metric()[0];
        if family.get_field_type() == prometheus::proto::MetricType::COUNTER {
            metric.get_counter().get_value()
        } else {
            metric.get_gauge().get_value()
        }
    }

    #[test]
    fn each_scrape_shows_the_figures_and_the_counter_follows_the_elections() {
        let elections = Arc::new(AtomicU64::new(2));
        let seen = Arc::clone(&elections);
        let collector = ClusterCollector::new(Arc::new(move || ClusterFigures {
            leader_partitions: 3,
            partitions: 9,
            under_replicated_partitions: 1,
            elections_started: seen.load(Ordering::Relaxed),
            controller_leader: true,
            live_brokers: 3,
        }))
        .unwrap();
        let first = collector.collect();
        assert_eq!(value(&first, "neo_raft_leader_partitions"), 3.0);
        assert_eq!(value(&first, "neo_raft_partitions"), 9.0);
        assert_eq!(value(&first, "neo_raft_under_replicated_partitions"), 1.0);
        assert_eq!(value(&first, "neo_controller_leader"), 1.0);
        assert_eq!(value(&first, "neo_cluster_live_brokers"), 3.0);
        assert_eq!(value(&first, "neo_raft_elections_total"), 2.0);
        elections.store(5, Ordering::Relaxed);
        assert_eq!(value(&collector.collect(), "neo_raft_elections_total"), 5.0);
        assert_eq!(
            value(&collector.collect(), "neo_raft_elections_total"),
            5.0,
            "a scrape with no new election adds nothing"
        );
    }
}
