//! Shared set-up for Neo benchmarks.
