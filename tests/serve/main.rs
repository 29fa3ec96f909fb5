//! `neo serve` as a real process, one test binary: admin endpoints, shutdown and configuration
//! errors (`admin`), the admin endpoints of a three-broker cluster (`cluster`), and SQS
//! messages across a SIGKILL (`sqs_restart`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod cluster;
mod process;
mod sqs_restart;
