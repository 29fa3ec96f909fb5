//! The command line.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::logging::LogFormat;

/// Neo: Kafka, AMQP 0-9-1 and SQS clients on one log.
#[derive(Debug, Parser)]
#[command(name = "neo", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// What `neo` does.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a broker: a cluster of one, or one broker of a cluster (`--voters`).
    Serve(Box<ServeArgs>),
    /// Compare the native protocol with the Kafka protocol against a broker (runs `neo-bench`;
    /// `neo bench --help` lists its options).
    Bench(BenchArgs),
    /// Look at a running cluster and move partition leaders (over a broker's admin listener).
    Cluster(ClusterArgs),
}

/// `neo cluster`: which broker to ask, and what.
#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// Admin listener of any broker of the cluster.
    #[arg(long, default_value = "127.0.0.1:9644", global = true)]
    pub admin: String,
    #[command(subcommand)]
    pub command: ClusterCommand,
}

/// What `neo cluster` does.
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// The brokers, the controller, and each partition's replicas, leader, epoch and in-sync
    /// replicas.
    Status {
        /// Print the answer as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Whether the broker is ready to serve (its `/ready`): prints `ready` and exits 0, or
    /// prints why not and exits 1. The container image's healthcheck.
    Ready,
    /// Make a replica lead a partition (by default its preferred replica, the first of its
    /// set); waits until it does.
    TransferLeader {
        /// The partition's topic.
        #[arg(long)]
        topic: String,
        /// The partition's index.
        #[arg(long)]
        partition: i32,
        /// The broker to lead it; it must hold a replica.
        #[arg(long)]
        to: Option<u64>,
    },
    /// Move a partition to another set of replicas (add, remove or replace brokers; the
    /// first is the preferred leader). New replicas catch up before the set changes; brokers
    /// left out delete their copy once it has.
    Reassign {
        /// The partition's topic.
        #[arg(long)]
        topic: String,
        /// The partition's index.
        #[arg(long)]
        partition: i32,
        /// The new replica set: broker ids, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        replicas: Vec<u64>,
        /// Return once the move is recorded, without waiting for it to finish.
        #[arg(long)]
        no_wait: bool,
    },
    /// Make a started broker a member of the cluster (it was started with the others as
    /// `--voters`): it catches up with the metadata, becomes a voter, and takes new replicas.
    AddBroker {
        /// The new broker's id (its `--node-id`).
        #[arg(long)]
        id: u64,
        /// Where the other brokers reach it: its cluster RPC address.
        #[arg(long)]
        address: std::net::SocketAddr,
    },
    /// Take a broker out of the cluster: its replicas move to the other brokers (same
    /// replication factor), then it stops being a voter and is forgotten.
    RemoveBroker {
        /// The broker's id.
        #[arg(long)]
        id: u64,
        /// Return once its replicas started moving, without waiting for the removal.
        #[arg(long)]
        no_wait: bool,
    },
}

/// Arguments handed to `neo-bench` as they are (`--help` included).
#[derive(Debug, Args, Default)]
#[command(disable_help_flag = true)]
pub struct BenchArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<std::ffi::OsString>,
}

/// Flags of `neo serve`; each overrides `neo.toml` and `NEO_*` variables.
#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// Configuration file (default: ./neo.toml if it exists).
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
    /// Where partitions and metadata are stored.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Address of the admin HTTP listener (health, readiness, metrics).
    #[arg(long)]
    pub admin_listen: Option<SocketAddr>,
    /// Address of the Kafka listener.
    #[arg(long)]
    pub kafka_listen: Option<SocketAddr>,
    /// Address of the AMQP 0-9-1 listener.
    #[arg(long)]
    pub amqp_listen: Option<SocketAddr>,
    /// Address of the SQS listener.
    #[arg(long)]
    pub sqs_listen: Option<SocketAddr>,
    /// Address of the native-protocol listener.
    #[arg(long)]
    pub native_listen: Option<SocketAddr>,
    /// Log format.
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
    /// This broker's id, unique in its cluster.
    #[arg(long)]
    pub node_id: Option<u64>,
    /// Address of the cluster RPC listener (other brokers connect here).
    #[arg(long)]
    pub cluster_listen: Option<SocketAddr>,
    /// Every broker of the cluster, this one included: `1@host:9645,2@host:9645,...`. A
    /// broker not named joins the cluster the others form (`neo cluster add-broker`).
    #[arg(long, alias = "seeds")]
    pub voters: Option<String>,
}
