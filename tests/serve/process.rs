//! Starting `neo serve` processes and finding the addresses they listen on.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The flags of the listeners `neo serve` opens.
const LISTENERS: [&str; 6] = [
    "--admin-listen",
    "--kafka-listen",
    "--amqp-listen",
    "--native-listen",
    "--sqs-listen",
    "--cluster-listen",
];

/// `neo` without the caller's `RUST_LOG`, in a neutral working directory.
pub fn neo() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_neo"));
    cmd.env_remove("RUST_LOG").current_dir(std::env::temp_dir());
    cmd
}

/// Puts every listener `args` does not name on a free loopback port.
pub fn free_ports_but(cmd: &mut Command, args: &[&str]) {
    for flag in LISTENERS {
        if !args.contains(&flag) {
            cmd.args([flag, "127.0.0.1:0"]);
        }
    }
}

/// `neo serve` over `data_dir` with every listener on a free loopback port; returns it and
/// the address `front_end` ("admin", "sqs", ...) logged.
pub fn start(data_dir: &Path, front_end: &str) -> (Child, SocketAddr) {
    let mut cmd = neo();
    cmd.arg("serve").arg("--data-dir").arg(data_dir);
    free_ports_but(&mut cmd, &[]);
    let mut child = cmd.stderr(Stdio::piped()).spawn().unwrap();
    let addr = logged_addr(&mut child, front_end).expect("neo logs where it listens");
    (child, addr)
}

/// A `neo serve` process, killed when dropped: a failed test leaves none behind.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `neo serve` over `data_dir` with every listener on a free loopback port; returns it and
/// the addresses `front_ends` logged, in that order.
pub fn start_all(data_dir: &Path, front_ends: &[&str]) -> (Running, Vec<SocketAddr>) {
    let mut cmd = neo();
    cmd.arg("serve").arg("--data-dir").arg(data_dir);
    free_ports_but(&mut cmd, &[]);
    let mut child = Running(cmd.stderr(Stdio::piped()).spawn().unwrap());
    let addrs = logged_addrs(&mut child.0, front_ends).expect("neo logs where it listens");
    (child, addrs)
}

/// The address `front_end` of the started `child` logged, if it did within 30 s.
pub fn logged_addr(child: &mut Child, front_end: &str) -> Option<SocketAddr> {
    logged_addrs(child, &[front_end]).and_then(|addrs| addrs.first().copied())
}

/// The addresses `front_ends` of the started `child` logged, in that order, if each did
/// within 30 s.
pub fn logged_addrs(child: &mut Child, front_ends: &[&str]) -> Option<Vec<SocketAddr>> {
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some((front_end, addr)) = line.split_once(" listening on ")
                && let Some(front_end) = front_end.split_whitespace().last()
                && let Ok(addr) = addr.trim().parse::<SocketAddr>()
            {
                let _ = tx.send((front_end.to_string(), addr));
            }
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut found: Vec<Option<SocketAddr>> = vec![None; front_ends.len()];
    while found.iter().any(Option::is_none) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let (front_end, addr) = rx.recv_timeout(left).ok()?;
        if let Some(i) = front_ends.iter().position(|f| *f == front_end) {
            found[i] = Some(addr);
        }
    }
    found.into_iter().collect()
}
