//! Figures of one run: throughput and latency percentiles (from an HDR histogram).

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub count: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

/// A histogram for latencies from 1 µs to 60 s, 3 significant digits.
pub fn histogram() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, 60_000_000, 3)?)
}

impl Latency {
    pub fn of(h: &Histogram<u64>) -> Latency {
        Latency {
            count: h.len(),
            p50_us: h.value_at_quantile(0.50),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
        }
    }
}

/// Records per second and megabytes per second over a phase.
#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    pub records: u64,
    pub seconds: f64,
    pub records_per_sec: f64,
    pub mb_per_sec: f64,
}

impl Throughput {
    pub fn of(records: u64, record_bytes: usize, seconds: f64) -> Throughput {
        let seconds = seconds.max(1e-9);
        let records_per_sec = records as f64 / seconds;
        Throughput {
            records,
            seconds,
            records_per_sec,
            mb_per_sec: records_per_sec * record_bytes as f64 / 1_000_000.0,
        }
    }
}

/// Everything measured over one protocol.
#[derive(Debug, Clone, Serialize)]
pub struct ProtocolResult {
    pub protocol: String,
    pub produce: Throughput,
    /// Send to acknowledgement, during the produce phase (a saturated producer).
    pub produce_ack: Latency,
    pub consume: Throughput,
    /// Send to delivery at the fixed rate.
    pub end_to_end: Latency,
    /// Brokered RPC round trips at the fixed rate (native only).
    pub rpc: Option<Latency>,
    /// Records acknowledged per 100 ms during the produce phase.
    pub produce_timeline: Vec<u64>,
}

/// Counts events into 100 ms buckets from a start instant.
#[derive(Debug, Default)]
pub struct Timeline {
    buckets: Vec<u64>,
}

impl Timeline {
    pub fn add(&mut self, since_start: std::time::Duration) {
        let bucket = (since_start.as_millis() / 100) as usize;
        if self.buckets.len() <= bucket {
            self.buckets.resize(bucket + 1, 0);
        }
        if let Some(b) = self.buckets.get_mut(bucket) {
            *b += 1;
        }
    }

    pub fn into_buckets(self) -> Vec<u64> {
        self.buckets
    }

    pub fn buckets(&self) -> &[u64] {
        &self.buckets
    }
}
