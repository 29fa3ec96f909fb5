//! The admin listener of a three-broker cluster of real `neo serve` processes: the partitions
//! the brokers say they lead add up to the cluster's partitions, and a broker that hears from
//! no majority stops being ready while it stays live.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::admin::{ask_ready, gauge, get, wait_ready};
use crate::process::neo;
use crate::sqs_restart::call;

/// The listeners each broker opens, on its own loopback address.
const LISTENERS: [&str; 6] = [
    "--admin-listen",
    "--kafka-listen",
    "--amqp-listen",
    "--native-listen",
    "--sqs-listen",
    "--cluster-listen",
];

/// Brokers 1..=n, broker `n` on 127.0.0.`n`; killed when dropped.
struct Brokers {
    _dir: tempfile::TempDir,
    /// Each broker's listeners, by flag.
    listeners: Vec<Vec<(&'static str, SocketAddr)>>,
    children: Vec<Option<Child>>,
}

impl Brokers {
    fn start(n: u8) -> Brokers {
        let dir = tempfile::tempdir().unwrap();
        let listeners: Vec<Vec<(&'static str, SocketAddr)>> = (1..=n)
            .map(|id| {
                let ip = Ipv4Addr::new(127, 0, 0, id);
                LISTENERS
                    .iter()
                    .map(|flag| {
                        let addr = TcpListener::bind((ip, 0)).unwrap().local_addr().unwrap();
                        (*flag, addr)
                    })
                    .collect()
            })
            .collect();
        let voters = listeners
            .iter()
            .enumerate()
            .map(|(i, l)| format!("{}@{}", i + 1, find(l, "--cluster-listen")))
            .collect::<Vec<_>>()
            .join(",");
        let children = listeners
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let mut cmd = neo();
                cmd.arg("serve")
                    .arg("--data-dir")
                    .arg(dir.path().join(format!("node-{}", i + 1)))
                    .args(["--node-id", &(i + 1).to_string(), "--voters", &voters]);
                for (flag, addr) in l {
                    cmd.args([*flag, &addr.to_string()]);
                }
                Some(
                    cmd.env("RUST_LOG", "warn")
                        .stdout(Stdio::null())
                        .spawn()
                        .unwrap(),
                )
            })
            .collect();
        Brokers {
            _dir: dir,
            listeners,
            children,
        }
    }

    fn admin(&self, id: usize) -> SocketAddr {
        find(&self.listeners[id - 1], "--admin-listen")
    }

    fn sqs(&self, id: usize) -> SocketAddr {
        find(&self.listeners[id - 1], "--sqs-listen")
    }

    fn kill(&mut self, id: usize) {
        if let Some(mut child) = self.children[id - 1].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Brokers {
    fn drop(&mut self) {
        for id in 1..=self.children.len() {
            self.kill(id);
        }
    }
}

fn find(listeners: &[(&'static str, SocketAddr)], flag: &str) -> SocketAddr {
    listeners.iter().find(|(f, _)| *f == flag).unwrap().1
}

/// Retries `check` until it returns `None` (done) for at most `within`; panics with its last
/// complaint.
fn wait_for(within: Duration, mut check: impl FnMut() -> Option<String>) {
    let deadline = Instant::now() + within;
    loop {
        let Some(complaint) = check() else { return };
        assert!(Instant::now() < deadline, "{complaint}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn brokers_lead_every_partition_once_and_a_broker_without_a_majority_is_not_ready() {
    let mut brokers = Brokers::start(3);
    for id in 1..=3 {
        wait_ready(brokers.admin(id));
    }
    // A queue: a topic of three replicas and its cursor topic, beside the internal topics.
    let (status, created) = call(brokers.sqs(1), "CreateQueue", json!({"QueueName": "jobs"}));
    assert_eq!(status, 200, "{created}");
    wait_for(Duration::from_secs(60), || {
        let (_, status) = get(brokers.admin(1), "/cluster");
        let status: Value = serde_json::from_str(&status).unwrap();
        let partitions = status["partitions"].as_array().unwrap();
        let replicas: usize = partitions
            .iter()
            .map(|p| p["replicas"].as_array().unwrap().len())
            .sum();
        let metrics: Vec<String> = (1..=3)
            .map(|id| get(brokers.admin(id), "/metrics").1)
            .collect();
        let sum = |name: &str| metrics.iter().map(|m| gauge(m, name)).sum::<f64>() as usize;
        let figures = (
            sum("neo_raft_leader_partitions"),
            sum("neo_raft_partitions"),
            sum("neo_controller_leader"),
            sum("neo_cluster_live_brokers"),
        );
        let wanted = (partitions.len(), replicas, 1, 9);
        (figures != wanted || !partitions.iter().any(|p| p["topic"] == "sqs.jobs")).then(|| {
            format!("(leaders, replicas, controller leaders, live brokers): {figures:?}, wanted {wanted:?}")
        })
    });
    // Answered once committed: the queue's leader times the commit.
    let url = created["QueueUrl"].as_str().unwrap().to_string();
    wait_for(Duration::from_secs(30), || {
        let (status, sent) = call(
            brokers.sqs(1),
            "SendMessage",
            json!({"QueueUrl": url, "MessageBody": "one"}),
        );
        (status != 200).then(|| format!("SendMessage: {status} {sent}"))
    });
    let commits: f64 = (1..=3)
        .map(|id| {
            gauge(
                &get(brokers.admin(id), "/metrics").1,
                "neo_raft_commit_latency_seconds_count",
            )
        })
        .sum();
    assert!(commits >= 1.0, "no commit timed");
    brokers.kill(2);
    brokers.kill(3);
    wait_for(Duration::from_secs(30), || {
        let (status, reason) = get(brokers.admin(1), "/ready");
        (status != 503 || !reason.contains("majority"))
            .then(|| format!("broker 1 alone answers /ready with {status}: {reason}"))
    });
    assert_eq!(get(brokers.admin(1), "/live").0, 200);
    let asked = ask_ready(brokers.admin(1));
    assert_eq!(asked.status.code(), Some(1), "{asked:?}");
    assert!(
        String::from_utf8_lossy(&asked.stderr).contains("majority"),
        "{asked:?}"
    );
}
