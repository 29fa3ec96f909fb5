//! Programs the compatibility tests run beside the broker (`scripts/test` installs them):
//! without one a test fails under CI and skips elsewhere.

use std::path::PathBuf;
use std::process::Command;

/// The program at `path` if it exists; a failure under CI, a skip otherwise.
pub fn tool(path: PathBuf, what: &str) -> Option<PathBuf> {
    if path.exists() || Command::new(&path).arg("--version").output().is_ok() {
        return Some(path);
    }
    assert!(
        std::env::var("CI").is_err(),
        "{what} is missing: scripts/test installs it"
    );
    eprintln!("skipping: {what} is not installed (scripts/test installs it)");
    None
}

/// The Python of the test virtualenv (kafka-python, pika, boto3), or `NEO_COMPAT_PYTHON`.
pub fn python() -> Option<PathBuf> {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/compat-venv/bin/python");
    let path = std::env::var_os("NEO_COMPAT_PYTHON").map_or(venv, PathBuf::from);
    tool(path, "the kafka-python virtualenv")
}
