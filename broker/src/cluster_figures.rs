//! The figures `/metrics` shows of this broker's replicas, the cluster and its queues, read
//! from memory at scrape time (no hot path updates them).

use std::sync::Arc;

use crate::broker::Broker;
use crate::metrics::{ClusterFigures, QueueDepth};

impl Broker {
    /// The partitions this broker hosts and leads, and how it sees the cluster.
    pub(crate) fn cluster_figures(&self) -> ClusterFigures {
        let me = self.config().node_id;
        let mut figures = ClusterFigures::default();
        for topic in self.topics() {
            for partition in topic.partitions() {
                figures.partitions += 1;
                if !partition.replica().is_leader() {
                    continue;
                }
                figures.leader_partitions += 1;
                let placement = self.placement(&topic, partition.index());
                if placement
                    .replicas
                    .iter()
                    .any(|id| !placement.in_sync.contains(id))
                {
                    figures.under_replicated_partitions += 1;
                }
            }
        }
        figures.elections_started = self.cluster().transport().elections_started();
        figures.controller_leader = self.controller() == Some(me);
        figures.live_brokers = self.live_broker_ids().len() as i64;
        figures
    }

    /// The message counts of every queue loaded here (those whose partition this broker
    /// leads).
    pub(crate) fn queue_depths(&self) -> Vec<QueueDepth> {
        let queues: Vec<(String, Arc<crate::queues::Queue>)> = self
            .queues()
            .lock()
            .iter()
            .map(|(topic, queue)| (topic.clone(), Arc::clone(queue)))
            .collect();
        queues
            .into_iter()
            .map(|(topic, queue)| {
                let counts = queue.counts();
                QueueDepth {
                    topic,
                    available: counts.available,
                    in_flight: counts.in_flight,
                }
            })
            .collect()
    }
}
