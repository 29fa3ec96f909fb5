//! Health, readiness, metrics, clean shutdown, and bad configuration.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::{free_ports_but, logged_addr, neo, start};

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: neo\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    (status, body)
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
fn serves_health_ready_and_metrics_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = start(dir.path(), "admin");
    assert_eq!(get(addr, "/health").0, 200);
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(addr, "/ready").0 != 200 {
        assert!(Instant::now() < deadline, "never ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (status, metrics) = get(addr, "/metrics");
    assert_eq!(status, 200);
    for name in [
        "process_resident_memory_bytes",
        "neo_log_fsync_seconds",
        "neo_log_recovery_seconds",
    ] {
        assert!(metrics.contains(name), "/metrics lacks {name}");
    }
    assert_eq!(get(addr, "/nope").0, 404);
    sigterm(&child);
    assert!(wait_exit(&mut child, Duration::from_secs(30)).success());
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
