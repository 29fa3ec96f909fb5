//! Prometheus metrics of the broker (placeholder until the broker core lands).

/// The broker's metrics, registered in one registry the admin endpoint gathers.
pub struct BrokerMetrics {
    registry: prometheus::Registry,
}

impl BrokerMetrics {
    /// Creates the metrics in a fresh registry.
    pub fn new() -> Self {
        Self { registry: prometheus::Registry::new() }
    }

    /// The registry to gather for `/metrics`.
    pub fn registry(&self) -> &prometheus::Registry {
        &self.registry
    }
}

impl Default for BrokerMetrics {
    fn default() -> Self {
        Self::new()
    }
}
