//! Programs outside Rust that some tests drive (kcat, rabbitmq-server, Python clients, moto):
//! `scripts/test` installs them all.

use std::path::PathBuf;
use std::process::Command;

/// Reports that `what` is not installed: a failure under CI (`CI` set, as `scripts/test` sets
/// it), so a missing install step cannot pass unnoticed; elsewhere a note, and the caller
/// skips its test.
pub fn missing(what: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "{what} is missing: scripts/test installs it"
    );
    eprintln!("skipping: {what} is not installed (scripts/test installs it)");
}

/// The program at `path` if it exists; a failure under CI, a skip otherwise.
pub fn tool(path: PathBuf, what: &str) -> Option<PathBuf> {
    if path.exists() || Command::new(&path).arg("--version").output().is_ok() {
        return Some(path);
    }
    missing(what);
    None
}

/// The Python of the test virtualenv (kafka-python, pika, boto3), or `NEO_COMPAT_PYTHON`.
pub fn python() -> Option<PathBuf> {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/compat-venv/bin/python");
    let path = std::env::var_os("NEO_COMPAT_PYTHON").map_or(venv, PathBuf::from);
    tool(path, "the kafka-python virtualenv")
}
