//! `neo-bench`: runs the same workload over the native protocol, the Kafka protocol
//! (librdkafka), AMQP 0-9-1 (lapin) and SQS (aws-sdk-sqs) against one broker and prints one comparison table,
//! with the figures as JSON and, with `--report`, an HTML page of charts.
//!
//! `cargo run --release -p neo-bench -- --protocol all --records 1000000 --size 100`
//! (without `--native-addr`/`--kafka-addr` it starts a broker of its own in a temp dir).

mod amqp;
mod kafka;
mod native;
mod report;
mod sqs;
mod stats;
mod workload;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use crate::report::Run;
use crate::workload::Workload;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Protocol {
    Native,
    Kafka,
    Amqp,
    Sqs,
    All,
}

/// Compare Neo's native protocol with the Kafka protocol on this machine.
#[derive(Debug, Parser)]
#[command(name = "neo-bench")]
struct Args {
    /// Which protocols to run.
    #[arg(long, value_enum, default_value = "all")]
    protocol: Protocol,
    /// Records in the produce and consume phases.
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    /// Bytes per record value.
    #[arg(long, default_value_t = 100)]
    size: usize,
    /// Records (and RPC calls) per second in the fixed-rate phases.
    #[arg(long, default_value_t = 10_000)]
    rate: u64,
    /// Seconds of each fixed-rate phase.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Records librdkafka may queue unacknowledged in the produce phase
    /// (`queue.buffering.max.messages`); at full speed the ack latency is the wait in it.
    #[arg(long, default_value_t = 1_000_000)]
    kafka_queue: u64,
    /// Acknowledgement level: `leader` (Kafka acks=1) or `durable` (acks=all, fsynced).
    #[arg(long, default_value = "leader")]
    acks: String,
    /// Native listener of a running broker (default: start one in a temp dir).
    #[arg(long)]
    native_addr: Option<String>,
    /// Kafka listener of the same running broker.
    #[arg(long)]
    kafka_addr: Option<String>,
    /// AMQP URI of the same running broker (default `amqp://guest:guest@<native host>:5672/%2f`).
    #[arg(long)]
    amqp_uri: Option<String>,
    /// SQS endpoint of the same running broker (default `http://<native host>:9324`).
    #[arg(long)]
    sqs_endpoint: Option<String>,
    /// Where to write the figures as JSON.
    #[arg(long, default_value = "neo-bench.json")]
    json: PathBuf,
    /// Where to write an HTML report with charts.
    #[arg(long)]
    report: Option<PathBuf>,
    /// A directory to write each chart to as an SVG file (for documents that embed images).
    #[arg(long)]
    charts: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let durable = match args.acks.as_str() {
        "leader" | "1" => false,
        "durable" | "all" | "-1" => true,
        other => anyhow::bail!("--acks {other}: expected leader or durable"),
    };
    let workload = Workload {
        records: args.records,
        size: args.size.max(8),
        rate: args.rate.max(1),
        seconds: args.seconds.max(1),
        durable,
        kafka_queue: args.kafka_queue.max(1),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let results = runtime.block_on(run(&args, &workload))?;
    let ratios = Run::ratios_of(&results);
    let run = Run {
        records: workload.records,
        size: workload.size,
        rate: workload.rate,
        seconds: workload.seconds,
        durable,
        results,
        ratios,
    };
    println!("{}", report::table(&run));
    std::fs::write(&args.json, serde_json::to_string_pretty(&run)?)?;
    println!("figures written to {}", args.json.display());
    if let Some(path) = &args.report {
        std::fs::write(path, report::html(&run))?;
        println!("report written to {}", path.display());
    }
    if let Some(dir) = &args.charts {
        std::fs::create_dir_all(dir)?;
        for (name, svg) in report::charts(&run) {
            std::fs::write(dir.join(format!("{name}.svg")), svg)?;
        }
        println!("charts written to {}", dir.display());
    }
    Ok(())
}

async fn run(args: &Args, workload: &Workload) -> anyhow::Result<Vec<stats::ProtocolResult>> {
    let embedded = match (&args.native_addr, &args.kafka_addr) {
        (Some(_), Some(_)) => None,
        (None, None) => Some(neo_compat_tests::TestBroker::start().await),
        _ => anyhow::bail!("give both --native-addr and --kafka-addr, or neither"),
    };
    let native_addr = match &embedded {
        Some(b) => b.native_addr.to_string(),
        None => args.native_addr.clone().unwrap_or_default(),
    };
    let kafka_addr = match &embedded {
        Some(b) => b.bootstrap(),
        None => args.kafka_addr.clone().unwrap_or_default(),
    };
    let amqp_uri = match &embedded {
        Some(b) => b.amqp_uri(),
        None => args.amqp_uri.clone().unwrap_or_else(|| {
            let host = native_addr.rsplit_once(':').map_or("127.0.0.1", |(h, _)| h);
            format!("amqp://guest:guest@{host}:5672/%2f")
        }),
    };
    // The embedded broker has no SQS listener of its own: one is started here on the same broker.
    let (sqs_endpoint, sqs_stop) = match &embedded {
        Some(b) => {
            let server = neo_sqs::SqsServer::bind(neo_sqs::SqsConfig {
                listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                ..neo_sqs::SqsConfig::default()
            })
            .await?;
            let endpoint = format!("http://{}", server.local_addr()?);
            let (stop, stopped) = tokio::sync::watch::channel(false);
            tokio::spawn(server.run(std::sync::Arc::clone(&b.broker), stopped));
            (endpoint, Some(stop))
        }
        None => {
            let host = native_addr.rsplit_once(':').map_or("127.0.0.1", |(h, _)| h);
            let endpoint = args
                .sqs_endpoint
                .clone()
                .unwrap_or_else(|| format!("http://{host}:9324"));
            (endpoint, None)
        }
    };
    let tag = format!(
        "{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis()
    );
    let bar = ProgressBar::new(workload.records);
    bar.set_style(ProgressStyle::with_template(
        "{msg:40} [{elapsed_precise}] {wide_bar} {pos}/{len} ({per_sec})",
    )?);
    bar.enable_steady_tick(Duration::from_millis(200));
    let mut results = Vec::new();
    if matches!(args.protocol, Protocol::Kafka | Protocol::All) {
        let admin = neo_client::Client::connect(&native_addr).await?;
        let topics = kafka::Topics {
            produce: format!("bench-kafka-{tag}"),
            end_to_end: format!("bench-kafka-e2e-{tag}"),
        };
        admin.create_topic(&topics.produce, 1).await?;
        admin.create_topic(&topics.end_to_end, 1).await?;
        let (w, b) = (workload.clone(), bar.clone());
        let result =
            tokio::task::spawn_blocking(move || kafka::run(&kafka_addr, &topics, &w, &b)).await??;
        results.push(result);
    }
    if matches!(args.protocol, Protocol::Amqp | Protocol::All) {
        results.push(amqp::run(&amqp_uri, workload, &bar, &tag).await?);
    }
    if matches!(args.protocol, Protocol::Sqs | Protocol::All) {
        results.push(sqs::run(&sqs_endpoint, workload, &bar, &tag).await?);
    }
    if let Some(stop) = sqs_stop {
        let _ = stop.send(true);
    }
    if matches!(args.protocol, Protocol::Native | Protocol::All) {
        results.insert(0, native::run(&native_addr, workload, &bar, &tag).await?);
    }
    bar.finish_and_clear();
    if let Some(broker) = embedded {
        broker.stop().await;
    }
    Ok(results)
}
