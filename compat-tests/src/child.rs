//! Child processes for the tests that SIGKILL something: a test of the running test binary,
//! run again on its own in a process the parent can kill.
//!
//! Such a child test is `#[ignore]`d, so an ordinary run lists it as ignored instead of as a
//! test that passed without doing anything; [`spawn_test`] runs it by its exact name. It
//! still returns at once unless its environment variable is set (a run of the ignored tests).

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::TestBroker;

/// Runs the test `test` (its path in the test binary, `module::name`, ignored or not) as a
/// child process with the environment variables `env` set, its stdout piped.
pub fn spawn_test<K, V>(test: &str, env: impl IntoIterator<Item = (K, V)>) -> Child
where
    K: AsRef<OsStr>,
    V: AsRef<OsStr>,
{
    Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--include-ignored", "--nocapture"])
        .envs(env)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The body of a child broker: when `var` is set, a broker over the data directory it names,
/// which prints the address `pick` chooses (see [`listening_addr`]) and serves until it is
/// killed (at most 300 s).
pub fn broker_until_killed(var: &str, pick: impl FnOnce(&TestBroker) -> SocketAddr) {
    let Ok(dir) = std::env::var(var) else {
        return;
    };
    let broker = TestBroker::start_blocking_in(Path::new(&dir));
    announce_listening(pick(&broker));
    std::thread::sleep(Duration::from_secs(300));
}

/// The line a child prints once it accepts connections.
pub fn announce_listening(addr: SocketAddr) {
    println!("listening {addr}");
}

/// Reads `child`'s stdout up to the line [`announce_listening`] prints; returns its address.
/// The rest of its output (its logs) is passed on to this process's stderr, so the child
/// never writes into a closed pipe.
pub fn listening_addr(child: &mut Child) -> SocketAddr {
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        if let Some(addr) = line.unwrap().strip_prefix("listening ") {
            std::thread::spawn(move || {
                for line in lines.map_while(Result::ok) {
                    eprintln!("child: {line}");
                }
            });
            return addr.trim().parse().unwrap();
        }
    }
    panic!("the child exited before listening")
}
