//! `neo serve` as a real process, one test binary: admin endpoints, shutdown and configuration
//! errors (`admin`), and SQS messages across a SIGKILL (`sqs_restart`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod process;
mod sqs_restart;
