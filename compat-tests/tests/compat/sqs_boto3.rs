//! boto3 against the SQS gateway, in both wire protocols: a current boto3 (AWS JSON 1.0) and
//! boto3 1.26 (the Query protocol, before SQS moved to JSON). `scripts/test` installs both;
//! without them these tests fail under CI and skip elsewhere.

use std::path::PathBuf;
use std::process::Command;

use neo_compat_tests::{TestBroker, tools};

fn run_script(venv: &str, protocol: &str) {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target")
        .join(venv)
        .join("bin/python");
    let has_boto3 = Command::new(&python)
        .args(["-c", "import boto3"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_boto3 {
        tools::missing(&format!("boto3 in target/{venv}"));
        return;
    }
    let broker = TestBroker::start_blocking();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/boto3_sqs.py");
    let output = Command::new(python)
        .arg(script)
        .arg(broker.sqs_endpoint())
        .arg(protocol)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("boto3 ok"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn boto3_json_protocol() {
    run_script("compat-venv", "json");
}

#[test]
fn boto3_query_protocol() {
    run_script("compat-venv-query", "query");
}
