//! `neo`: the broker binary. Parses the command line and configuration and starts things.

mod admin;
mod bench;
mod cli;
mod cluster_cli;
mod config;
mod logging;
mod serve;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line naming the problem: no panic, no backtrace.
            eprintln!("neo: {}", one_line(&error));
            if error.downcast_ref::<cluster_cli::NotReady>().is_some() {
                ExitCode::from(1)
            } else {
                ExitCode::from(2)
            }
        }
    }
}

fn run(cli: cli::Cli) -> anyhow::Result<()> {
    match cli.command {
        cli::Command::Serve(args) => {
            let config = config::NeoConfig::load(&args)?;
            logging::init(config.log_format);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(std::thread::available_parallelism().map_or(2, |n| n.get()))
                .thread_name("neo-worker")
                .enable_all()
                .build()?;
            runtime.block_on(serve::serve(config))
        }
        cli::Command::Bench(args) => bench::run(&args.args),
        cli::Command::Cluster(args) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(cluster_cli::run(&args))
        }
    }
}

/// The error chain on one line, skipping causes whose text a context already repeats
/// (`std::io::Error` messages are often both the context's suffix and the source).
fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string().replace('\n', " ");
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}
