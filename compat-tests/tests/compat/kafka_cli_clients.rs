//! Clients outside Rust: kcat (librdkafka's command-line tool) and kafka-python, which
//! implements the protocol itself and negotiates other versions than librdkafka.
//! `scripts/test` installs both; without them these tests fail under CI and skip elsewhere.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use neo_compat_tests::{TestBroker, tools};

/// The program at `path` if it exists; a failure under CI, a skip otherwise.
fn tool(path: PathBuf, what: &str) -> Option<PathBuf> {
    if path.exists() || Command::new(&path).arg("--version").output().is_ok() {
        return Some(path);
    }
    tools::missing(what);
    None
}

fn kcat() -> Option<PathBuf> {
    tool(PathBuf::from("kcat"), "kcat")
}

fn python() -> Option<PathBuf> {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/compat-venv/bin/python");
    let path = std::env::var_os("NEO_COMPAT_PYTHON").map_or(venv, PathBuf::from);
    tool(path, "the kafka-python virtualenv")
}

fn run(command: &mut Command, input: Option<&str>) -> String {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    if let Some(input) = input {
        stdin.write_all(input.as_bytes()).unwrap();
    }
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcat_produces_consumes_and_lists_metadata() {
    let Some(kcat) = kcat() else { return };
    let broker = TestBroker::start().await;
    let bootstrap = broker.bootstrap();
    let input: String = (0..50).map(|i| format!("key{i}:value{i}\n")).collect();
    run(
        Command::new(&kcat).args([
            "-b",
            &bootstrap,
            "-t",
            "kcat-topic",
            "-P",
            "-K:",
            "-z",
            "snappy",
        ]),
        Some(&input),
    );
    let consumed = run(
        Command::new(&kcat).args([
            "-b",
            &bootstrap,
            "-t",
            "kcat-topic",
            "-C",
            "-o",
            "beginning",
            "-e",
            "-f",
            "%o %k=%s\n",
        ]),
        None,
    );
    let expected: String = (0..50).map(|i| format!("{i} key{i}=value{i}\n")).collect();
    assert_eq!(consumed, expected);
    let metadata = run(
        Command::new(&kcat).args(["-b", &bootstrap, "-L", "-J"]),
        None,
    );
    assert!(metadata.contains("\"topic\":\"kcat-topic\""), "{metadata}");
    assert!(
        metadata.contains(&format!("\"name\":\"{bootstrap}\"")),
        "{metadata}"
    );
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_python_admin_produce_group_consume_and_commit() {
    let Some(python) = python() else { return };
    let broker = TestBroker::start().await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/kafka_python_roundtrip.py");
    let out = run(
        Command::new(python).arg(script).arg(broker.bootstrap()),
        None,
    );
    assert!(out.contains("kafka-python ok"), "{out}");
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_python_creates_describes_enforces_and_deletes_acls() {
    let Some(python) = python() else { return };
    let broker = TestBroker::start().await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/kafka_python_acls.py");
    let out = run(
        Command::new(python).arg(script).arg(broker.bootstrap()),
        None,
    );
    assert!(out.contains("kafka-python acls ok"), "{out}");
    broker.stop().await;
}
