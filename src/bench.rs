//! `neo bench`: runs the `neo-bench` load generator, a binary of its own so that the Kafka
//! client it drives (librdkafka) stays out of the broker's build.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;

use anyhow::Context;

/// The name of the load generator's binary.
const BENCH_BINARY: &str = "neo-bench";

/// Runs `neo-bench` with `args`, from beside this executable if it is there, else from PATH.
pub fn run(args: &[OsString]) -> anyhow::Result<()> {
    let beside: Option<PathBuf> = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(BENCH_BINARY)))
        .filter(|path| path.is_file());
    let program = beside.unwrap_or_else(|| PathBuf::from(BENCH_BINARY));
    let status = Command::new(&program)
        .args(args)
        .status()
        .with_context(|| {
            format!(
                "running {} (build it with `cargo build --release -p neo-bench`)",
                program.display()
            )
        })?;
    anyhow::ensure!(status.success(), "{BENCH_BINARY} failed ({status})");
    Ok(())
}
