//! Fetch: read whole batches from several partitions, waiting (long poll) for new data.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::select_all;

use crate::broker::Broker;
use crate::error::BrokerError;
use crate::partition::Partition;

/// One partition to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPartition {
    pub topic: String,
    pub partition: i32,
    /// First offset wanted.
    pub offset: i64,
    /// Most bytes from this partition (at least one whole batch is returned regardless).
    pub max_bytes: usize,
    /// The leader epoch the reader knows, checked against the leader's (`None`: unchecked).
    pub leader_epoch: Option<u64>,
}

/// A fetch across partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    pub partitions: Vec<FetchPartition>,
    /// Longest time to wait for `min_bytes` to accumulate.
    pub max_wait: Duration,
    /// Answer as soon as this many bytes are available.
    pub min_bytes: usize,
    /// Most bytes in the whole response (the first batch found is returned regardless).
    pub max_bytes: usize,
}

/// What one partition returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedData {
    /// Whole record batches as stored.
    pub records: Bytes,
    /// End of what readers may see.
    pub high_watermark: i64,
    /// First offset still in the log.
    pub log_start_offset: i64,
}

/// Result for one partition, in request order.
#[derive(Debug)]
pub struct FetchedPartition {
    pub topic: String,
    pub partition: i32,
    pub result: Result<FetchedData, BrokerError>,
}

impl Broker {
    /// Reads every requested partition; if fewer than `min_bytes` are there, waits until an
    /// append makes enough visible or `max_wait` passes. A waiting fetch wakes as soon as data
    /// is appended (or, on a durable topic, fsynced), not at the end of its wait.
    pub async fn fetch(&self, request: &FetchRequest) -> Vec<FetchedPartition> {
        let deadline = tokio::time::Instant::now() + request.max_wait;
        let mut partitions = Vec::with_capacity(request.partitions.len());
        let mut refused = Vec::new();
        for p in &request.partitions {
            match self.leader_partition(&p.topic, p.partition, p.leader_epoch) {
                Ok(partition) => partitions.push(Some(partition)),
                Err(e) => {
                    partitions.push(None);
                    refused.push(e);
                }
            }
        }
        if !refused.is_empty() {
            // Answer at once: the client must look for the partition elsewhere.
            return self.read_once(request, &partitions, refused).0;
        }
        let mut watchers: Vec<_> = partitions.iter().flatten().map(|p| p.watch()).collect();
        loop {
            for w in &mut watchers {
                w.mark_unchanged();
            }
            let (results, bytes, failed) = self.read_once(request, &partitions, Vec::new());
            let expired = tokio::time::Instant::now() >= deadline;
            if bytes >= request.min_bytes.max(1) || failed || expired || watchers.is_empty() {
                return results;
            }
            let changed = select_all(watchers.iter_mut().map(|w| Box::pin(w.changed())));
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return self.read_once(request, &partitions, Vec::new()).0;
            }
        }
    }

    /// Reads each partition once; `refused` holds, in order, the errors of those not read.
    fn read_once(
        &self,
        request: &FetchRequest,
        partitions: &[Option<Arc<Partition>>],
        refused: Vec<BrokerError>,
    ) -> (Vec<FetchedPartition>, usize, bool) {
        let mut refused = refused.into_iter();
        let mut budget = request.max_bytes;
        let mut total = 0usize;
        let mut failed = false;
        let results = request
            .partitions
            .iter()
            .zip(partitions)
            .map(|(want, partition)| {
                let result = match partition {
                    None => Err(refused.next().unwrap_or_else(|| {
                        BrokerError::UnknownTopicOrPartition {
                            topic: want.topic.clone(),
                            partition: want.partition,
                        }
                    })),
                    Some(p) => {
                        let limit = want.max_bytes.min(budget);
                        let read = if limit == 0 && total > 0 {
                            Ok(FetchedData {
                                records: Bytes::new(),
                                high_watermark: p.high_watermark(),
                                log_start_offset: p.log_start_offset(),
                            })
                        } else {
                            p.read(want.offset, limit).map(|read| FetchedData {
                                records: read.records,
                                high_watermark: read.high_watermark,
                                log_start_offset: read.log_start_offset,
                            })
                        };
                        read.inspect(|data| {
                            total += data.records.len();
                            budget = budget.saturating_sub(data.records.len());
                        })
                    }
                };
                failed |= result.is_err();
                FetchedPartition {
                    topic: want.topic.clone(),
                    partition: want.partition,
                    result,
                }
            })
            .collect();
        (results, total, failed)
    }
}
