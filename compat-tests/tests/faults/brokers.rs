//! The brokers under test: `neo serve` processes, each in its own network namespace with the
//! default ports on its own address, its data on a small tmpfs of its own (so one broker's
//! disk can be filled), its log in a file. A broker can be killed, paused, started again, or
//! started with its clock skewed (libfaketime).

use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use neo_compat_tests::cluster::neo_binary;

use crate::net::{Net, run};

pub const KAFKA_PORT: u16 = 9092;
pub const AMQP_PORT: u16 = 5672;
pub const SQS_PORT: u16 = 9324;
/// The AMQP user and password.
pub const AMQP_USER: &str = "faults";
const ADMIN_PORT: u16 = 9644;
const CLUSTER_PORT: u16 = 9650;
const NATIVE_PORT: u16 = 7070;
/// Each broker's data file system.
const DISK_BYTES: &str = "384m";
const START_WAIT: Duration = Duration::from_secs(60);
/// libfaketime, from Debian's `faketime` package.
pub const FAKETIME_LIB: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

pub struct Brokers {
    pub net: Net,
    dir: tempfile::TempDir,
    nodes: Vec<Node>,
}

struct Node {
    child: Option<Child>,
    data: PathBuf,
}

impl Brokers {
    /// `size` brokers, started and serving.
    pub fn start(size: u8) -> Brokers {
        let net = Net::create(size);
        let dir = tempfile::tempdir().unwrap();
        let nodes = (1..=size)
            .map(|id| {
                let data = dir.path().join(format!("node-{id}"));
                std::fs::create_dir_all(&data).unwrap();
                let size = format!("size={DISK_BYTES}");
                run(&["mount", "-t", "tmpfs", "-o", &size, "tmpfs", path(&data)]);
                Node { child: None, data }
            })
            .collect();
        let mut brokers = Brokers { net, dir, nodes };
        for id in 1..=size {
            brokers.spawn(id, None);
        }
        for id in 1..=size {
            brokers.wait_serving(id);
        }
        brokers
    }

    pub fn size(&self) -> u8 {
        self.nodes.len() as u8
    }

    pub fn addr(&self, id: u8, port: u16) -> SocketAddr {
        SocketAddr::new(self.net.ip(id).into(), port)
    }

    /// Every broker's Kafka listener, `host:port,...`.
    pub fn bootstrap(&self) -> String {
        (1..=self.size())
            .map(|id| self.addr(id, KAFKA_PORT).to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Starts broker `id` (not running); with `skew`, its wall clock that far off
    /// (libfaketime's offset syntax: "+30s", "-20s").
    pub fn spawn(&mut self, id: u8, skew: Option<&str>) {
        let ns = self.net.namespace(id);
        let voters = (1..=self.size())
            .map(|n| format!("{n}@{}", self.addr(n, CLUSTER_PORT)))
            .collect::<Vec<_>>()
            .join(",");
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path(id))
            .unwrap();
        let listen = |port| self.addr(id, port).to_string();
        let node = &self.nodes[usize::from(id - 1)];
        assert!(node.child.is_none(), "broker {id} runs");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &ns])
            .arg(neo_binary())
            .arg("serve")
            .arg("--data-dir")
            .arg(&node.data)
            .args(["--node-id", &id.to_string(), "--voters", &voters])
            .args(["--cluster-listen", &listen(CLUSTER_PORT)])
            .args(["--kafka-listen", &listen(KAFKA_PORT)])
            .args(["--admin-listen", &listen(ADMIN_PORT)])
            .args(["--amqp-listen", &listen(AMQP_PORT)])
            .args(["--sqs-listen", &listen(SQS_PORT)])
            .args(["--native-listen", &listen(NATIVE_PORT)])
            .env("RUST_LOG", "warn,neo::serve=info")
            // `guest` logs in from loopback only; the clients come over the bridge.
            .env("NEO_AMQP__USERNAME", AMQP_USER)
            .env("NEO_AMQP__PASSWORD", AMQP_USER)
            .stdout(Stdio::null())
            .stderr(log);
        if let Some(skew) = skew {
            cmd.env("LD_PRELOAD", FAKETIME_LIB)
                .env("FAKETIME", skew)
                .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
        }
        self.nodes[usize::from(id - 1)].child = Some(cmd.spawn().unwrap());
    }

    /// Waits until broker `id` accepts Kafka connections.
    pub fn wait_serving(&self, id: u8) {
        let until = Instant::now() + START_WAIT;
        let addr = self.addr(id, KAFKA_PORT);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < until,
                "broker {id} does not serve; its log:\n{}",
                self.log_tail(id)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILLs broker `id`.
    pub fn kill(&mut self, id: u8) {
        if let Some(mut child) = self.nodes[usize::from(id - 1)].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends `signal` (STOP, CONT) to broker `id`.
    pub fn signal(&self, id: u8, signal: &str) {
        if let Some(child) = &self.nodes[usize::from(id - 1)].child {
            run(&["kill", &format!("-{signal}"), &child.id().to_string()]);
        }
    }

    /// Whether broker `id`'s process is still there (it may exit by itself, on a full disk).
    pub fn running(&mut self, id: u8) -> bool {
        let node = &mut self.nodes[usize::from(id - 1)];
        match node.child.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => true,
            Some(_) => {
                node.child = None;
                false
            }
            None => false,
        }
    }

    /// Broker `id`'s data file system.
    pub fn data_dir(&self, id: u8) -> &Path {
        &self.nodes[usize::from(id - 1)].data
    }

    fn log_path(&self, id: u8) -> PathBuf {
        self.dir.path().join(format!("node-{id}.log"))
    }

    /// The last lines of broker `id`'s log.
    pub fn log_tail(&self, id: u8) -> String {
        let text = std::fs::read_to_string(self.log_path(id)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Brokers {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = Command::new("kill")
                    .args(["-CONT", &child.id().to_string()])
                    .output();
                let _ = child.kill();
                let _ = child.wait();
            }
            let _ = Command::new("umount").arg("-l").arg(&node.data).output();
        }
    }
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}
