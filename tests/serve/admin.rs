//! Health, readiness, metrics, clean shutdown, and bad configuration.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::process::{free_ports_but, logged_addr, neo, start_all};
use crate::sqs_restart::call;

/// One GET on a new connection; the status and the body.
pub fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    try_get(addr, path).unwrap()
}

/// [`get`], or the I/O error (a listener not open yet refuses the connection).
fn try_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: neo\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    Ok((status, body))
}

/// Waits until `/ready` answers 200, for at most 60 s.
pub fn wait_ready(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while try_get(addr, "/ready").map_or(true, |(status, _)| status != 200) {
        assert!(Instant::now() < deadline, "never ready");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `neo cluster ready` against the admin listener at `addr` (the image's healthcheck).
pub fn ask_ready(addr: SocketAddr) -> std::process::Output {
    neo()
        .args(["cluster", "--admin", &addr.to_string(), "ready"])
        .output()
        .unwrap()
}

/// The value of the unlabelled series `name` in a `/metrics` answer.
pub fn gauge(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("/metrics lacks {name}"))
        .trim()
        .parse()
        .unwrap()
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "neo did not exit in {within:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn serves_live_ready_and_metrics_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addrs) = start_all(dir.path(), &["admin", "sqs"]);
    let (addr, sqs) = (addrs[0], addrs[1]);
    assert_eq!(get(addr, "/live"), (200, "ok\n".to_string()));
    assert_eq!(
        get(addr, "/health").0,
        200,
        "/health stays as /live's alias"
    );
    wait_ready(addr);
    assert_eq!(get(addr, "/ready"), (200, "ready\n".to_string()));
    let asked = ask_ready(addr);
    assert!(asked.status.success(), "{asked:?}");
    assert_eq!(String::from_utf8_lossy(&asked.stdout), "ready\n");
    // A queue loaded on this broker, so that its depth is shown.
    let (status, created) = call(sqs, "CreateQueue", json!({"QueueName": "depth"}));
    assert_eq!(status, 200, "{created}");
    let url = created["QueueUrl"].as_str().unwrap().to_string();
    let (status, sent) = call(
        sqs,
        "SendMessage",
        json!({"QueueUrl": url, "MessageBody": "waiting"}),
    );
    assert_eq!(status, 200, "{sent}");
    let (status, metrics) = get(addr, "/metrics");
    assert_eq!(status, 200);
    for name in [
        "process_resident_memory_bytes",
        "neo_log_fsync_seconds",
        "neo_log_recovery_seconds",
        "neo_raft_leader_partitions",
        "neo_raft_partitions",
        "neo_raft_under_replicated_partitions 0",
        "neo_raft_elections_total",
        "neo_raft_commit_latency_seconds",
        "neo_controller_leader 1",
        "neo_cluster_live_brokers 1",
        "neo_queue_messages{state=\"available\",topic=\"sqs.depth\"} 1",
        "neo_queue_messages{state=\"in_flight\",topic=\"sqs.depth\"} 0",
    ] {
        assert!(metrics.contains(name), "/metrics lacks {name}:\n{metrics}");
    }
    // Every partition of a single broker is hosted and led here.
    assert_eq!(
        gauge(&metrics, "neo_raft_leader_partitions"),
        gauge(&metrics, "neo_raft_partitions")
    );
    assert!(gauge(&metrics, "neo_raft_partitions") >= 1.0);
    assert_eq!(get(addr, "/nope").0, 404);
    sigterm(&child.0);
    assert!(wait_exit(&mut child.0, Duration::from_secs(30)).success());
    assert!(dir.path().join("meta").is_dir());
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Runs `neo serve` expecting it to fail at start-up; returns its stderr.
fn start_fails(args: &[&str], config: Option<&str>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = neo();
    cmd.arg("serve").args(args);
    free_ports_but(&mut cmd, args);
    cmd.stderr(Stdio::piped()).stdout(Stdio::null());
    if let Some(text) = config {
        let path = dir.path().join("neo.toml");
        std::fs::write(&path, text).unwrap();
        cmd.arg("--config")
            .arg(&path)
            .arg("--data-dir")
            .arg(dir.path().join("data"));
    }
    let mut child = cmd.spawn().unwrap();
    let status = wait_exit(&mut child, Duration::from_secs(30));
    assert!(!status.success());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let lines: Vec<_> = stderr.lines().filter(|l| l.starts_with("neo: ")).collect();
    assert_eq!(lines.len(), 1, "one error line, got: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    lines[0].to_string()
}

#[test]
fn an_unknown_config_key_is_a_one_line_error() {
    let line = start_fails(
        &["--admin-listen", "127.0.0.1:0"],
        Some("data_dirr = \"x\"\n"),
    );
    assert!(line.contains("data_dirr"), "{line}");
}

#[test]
fn a_wrong_type_is_a_one_line_error() {
    let line = start_fails(
        &["--admin-listen", "127.0.0.1:0"],
        Some("[broker]\nnum_partitions = \"many\"\n"),
    );
    assert!(line.contains("num_partitions"), "{line}");
}

#[test]
fn a_port_in_use_is_a_one_line_error() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let line = start_fails(&["--admin-listen", &addr, "--data-dir", data], None);
    assert!(
        line.contains(&addr) && line.to_lowercase().contains("in use"),
        "{line}"
    );
}

#[test]
fn an_unwritable_data_dir_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let data = file.join("data");
    let line = start_fails(
        &[
            "--admin-listen",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().unwrap(),
        ],
        None,
    );
    assert!(line.contains("data"), "{line}");
}

#[test]
fn a_kafka_port_in_use_is_a_one_line_error() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let line = start_fails(
        &[
            "--admin-listen",
            "127.0.0.1:0",
            "--kafka-listen",
            &addr,
            "--data-dir",
            data,
        ],
        None,
    );
    assert!(line.contains("kafka") && line.contains(&addr), "{line}");
}

#[test]
fn environment_variables_configure_nested_sections() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = neo();
    cmd.arg("serve").arg("--data-dir").arg(dir.path());
    free_ports_but(&mut cmd, &["--admin-listen"]);
    let mut child = cmd
        .env("NEO_ADMIN__LISTEN", format!("127.0.0.1:{port}"))
        .env("NEO_BROKER__NUM_PARTITIONS", "3")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let found = logged_addr(&mut child, "admin");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        found,
        Some(SocketAddr::from(([127, 0, 0, 1], port))),
        "NEO_ADMIN__LISTEN applied"
    );
}
