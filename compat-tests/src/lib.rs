//! Helpers for end-to-end tests that run a real `neo` process.
