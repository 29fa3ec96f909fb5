//! pika, RabbitMQ's Python client, against the AMQP gateway: the patterns of RabbitMQ's
//! tutorials (work queue, pub/sub, routing, RPC, dead-lettering with TTL, confirms).
//! `scripts/test` installs pika; without it this test fails under CI and skips elsewhere.

use std::path::PathBuf;
use std::process::Command;

use neo_compat_tests::{TestBroker, tools};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pika_runs_the_common_rabbitmq_patterns() {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/compat-venv/bin/python");
    let python = std::env::var_os("NEO_COMPAT_PYTHON").map_or(venv, PathBuf::from);
    let has_pika = Command::new(&python)
        .args(["-c", "import pika"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_pika {
        tools::missing("pika");
        return;
    }
    let broker = TestBroker::start().await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/pika_patterns.py");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .arg(broker.amqp_addr.ip().to_string())
            .arg(broker.amqp_addr.port().to_string())
            .output()
            .map(|o| (o, broker))
    })
    .await
    .unwrap()
    .unwrap();
    let (output, broker) = output;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("pika ok"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    broker.stop().await;
}
