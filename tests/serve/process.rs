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

/// The address `front_end` of the started `child` logged, if it did within 30 s.
pub fn logged_addr(child: &mut Child, front_end: &str) -> Option<SocketAddr> {
    let stderr = child.stderr.take().unwrap();
    let wanted = format!("{front_end} listening on ");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(addr) = line.split(&wanted).nth(1) {
                let _ = tx.send(addr.trim().parse::<SocketAddr>().unwrap());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(30)).ok()
}
