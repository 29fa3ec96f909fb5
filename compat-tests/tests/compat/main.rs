//! The compatibility tests, one module per client and concern, built as one test binary:
//! each linked rdkafka, lapin and aws-sdk-sqs on its own, and thirty such binaries did not
//! fit a CI machine's disk. nextest still runs every test in a process of its own.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod acl_every_protocol;
mod amqp_bad_frames;
mod amqp_connection;
mod amqp_crash;
mod amqp_differential;
mod amqp_disk_alarm;
mod amqp_kafka_interop;
mod amqp_lapin;
mod amqp_lapin_topology;
mod amqp_pika;
mod cluster_acls;
mod cluster_admin;
mod cluster_groups;
mod cluster_kafka;
mod cluster_membership;
mod cluster_native;
mod cluster_queues;
mod cluster_reassign;
mod cluster_topics;
mod format_fixture_writer;
mod format_fixtures;
mod kafka_bad_frames;
mod kafka_cli_clients;
mod kafka_crash;
mod kafka_groups;
mod kafka_leader_epoch;
mod kafka_raw;
mod kafka_rdkafka;
mod metrics_every_protocol;
mod native_bad_frames;
mod native_flow_control;
mod native_groups;
mod native_kafka_offsets;
mod native_reconnect;
mod native_rpc;
mod native_rpc_processes;
mod native_sdk;
mod sqs_boto3;
mod sqs_crash;
mod sqs_differential;
mod sqs_fifo;
mod sqs_kafka_interop;
mod sqs_redrive;
mod sqs_sdk;
