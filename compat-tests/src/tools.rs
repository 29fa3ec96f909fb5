//! Programs outside Rust that some tests drive (kcat, rabbitmq-server, Python clients, moto):
//! `scripts/test` installs them all.

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
