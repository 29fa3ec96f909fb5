//! Clusters of real `neo serve` processes: broker `n` listens on 127.0.0.`n` (its own address
//! for clients, for the other brokers and for its outgoing cluster connections), so a test can
//! SIGKILL one, wipe its data directory and start it again on the same addresses.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{OnceLock, mpsc};
use std::time::Duration;

/// How long a broker may take to recover and join before the test fails.
const START_WAIT: Duration = Duration::from_secs(60);

/// One broker of a [`Cluster`].
struct Node {
    id: u64,
    ip: Ipv4Addr,
    kafka: SocketAddr,
    /// `(flag, address)` of every listener, chosen once so restarts keep them.
    listeners: Vec<(&'static str, SocketAddr)>,
    child: Option<Child>,
    /// Told once a broker started by [`Cluster::start_joining`] serves.
    ready: Option<mpsc::Receiver<()>>,
}

/// Brokers `1..=n` of one cluster, each a `neo serve` process; killed when dropped.
pub struct Cluster {
    dir: tempfile::TempDir,
    voters: String,
    /// `NEO_*` settings every broker gets.
    env: Vec<(String, String)>,
    nodes: Vec<Node>,
}

impl Cluster {
    /// Starts `n` brokers (at most 9) and waits until each serves.
    pub fn start(n: u64) -> Cluster {
        Self::start_with(n, &[])
    }

    /// [`Cluster::start`] with settings given to every broker as environment variables
    /// (`("NEO_CLUSTER__ELECTION_TIMEOUT_MS", "1000")`).
    pub fn start_with(n: u64, env: &[(&str, &str)]) -> Cluster {
        let nodes: Vec<Node> = (1..=n).map(Node::new).collect();
        let voters = nodes
            .iter()
            .map(|node| format!("{}@{}", node.id, node.listener("--cluster-listen")))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = Cluster {
            dir: tempfile::tempdir().unwrap(),
            voters,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            nodes,
        };
        // All at once: each waits for the controller, which needs a majority.
        let ids: Vec<u64> = cluster.nodes.iter().map(|node| node.id).collect();
        cluster.start_nodes(&ids);
        cluster
    }

    /// `host:port,...` of every broker's Kafka listener.
    pub fn bootstrap_servers(&self) -> String {
        self.nodes
            .iter()
            .map(|node| node.kafka.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Broker `id`'s Kafka listener.
    pub fn kafka_addr(&self, id: u64) -> SocketAddr {
        self.node(id).kafka
    }

    /// Broker `id`'s AMQP listener.
    pub fn amqp_addr(&self, id: u64) -> SocketAddr {
        self.node(id).listener("--amqp-listen")
    }

    /// Broker `id`'s native-protocol listener (the `neo-client` SDK's).
    pub fn native_addr(&self, id: u64) -> SocketAddr {
        self.node(id).listener("--native-listen")
    }

    /// Broker `id`'s SQS listener.
    pub fn sqs_addr(&self, id: u64) -> SocketAddr {
        self.node(id).listener("--sqs-listen")
    }

    /// Broker `id`'s admin listener (what `neo cluster --admin` takes).
    pub fn admin_addr(&self, id: u64) -> SocketAddr {
        self.node(id).listener("--admin-listen")
    }

    /// The process id of broker `id`, while it runs.
    pub fn pid(&self, id: u64) -> Option<u32> {
        self.node(id).child.as_ref().map(Child::id)
    }

    /// Broker `id`'s data directory.
    pub fn data_dir(&self, id: u64) -> PathBuf {
        self.dir.path().join(format!("node-{id}"))
    }

    /// SIGKILLs broker `id` and waits until it is gone.
    pub fn kill(&mut self, id: u64) {
        if let Some(mut child) = self.node_mut(id).child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERMs broker `id` (a graceful shutdown) and waits until it has exited.
    pub fn stop(&mut self, id: u64) {
        if let Some(mut child) = self.node_mut(id).child.take() {
            let pid = child.id().to_string();
            let _ = Command::new("kill").args(["-TERM", &pid]).status();
            let _ = child.wait();
        }
    }

    /// Deletes broker `id`'s data directory (the broker must be stopped).
    pub fn wipe(&mut self, id: u64) {
        assert!(self.node(id).child.is_none(), "wipe a stopped broker");
        let _ = std::fs::remove_dir_all(self.data_dir(id));
    }

    /// Starts one more broker (the next id), with the brokers the cluster started with as its
    /// voters: it waits until it is added (`neo cluster add-broker`); [`Cluster::wait_serving`]
    /// waits for it then. Returns its id and cluster address.
    pub fn start_joining(&mut self) -> (u64, SocketAddr) {
        let id = self.nodes.len() as u64 + 1;
        let node = Node::new(id);
        let (child, ready) = node.spawn(&self.data_dir(id), &self.voters, &self.env);
        let address = node.listener("--cluster-listen");
        self.nodes.push(Node {
            child: Some(child),
            ready: Some(ready),
            ..node
        });
        (id, address)
    }

    /// Waits until broker `id`, started by [`Cluster::start_joining`], serves.
    pub fn wait_serving(&mut self, id: u64) {
        if let Some(ready) = self.node_mut(id).ready.take() {
            ready
                .recv_timeout(START_WAIT)
                .unwrap_or_else(|_| panic!("broker {id} did not start within {START_WAIT:?}"));
        }
    }

    /// Starts the stopped brokers `ids` again, on the addresses they had, and waits until
    /// each serves.
    pub fn start_nodes(&mut self, ids: &[u64]) {
        let started: Vec<(u64, mpsc::Receiver<()>)> = ids
            .iter()
            .map(|&id| {
                let dir = self.data_dir(id);
                let (voters, env) = (self.voters.clone(), self.env.clone());
                let node = self.node_mut(id);
                assert!(node.child.is_none(), "broker {id} is running");
                let (child, ready) = node.spawn(&dir, &voters, &env);
                node.child = Some(child);
                (id, ready)
            })
            .collect();
        for (id, ready) in started {
            self.wait_started(id, ready);
        }
    }

    /// Waits until broker `id` serves. One that exits while starting is started again on
    /// the same addresses, twice at most: a port chosen free can be taken by another test's
    /// outgoing connection before the broker binds it.
    fn wait_started(&mut self, id: u64, mut ready: mpsc::Receiver<()>) {
        for attempt in 1.. {
            match ready.recv_timeout(START_WAIT) {
                Ok(()) => return,
                Err(mpsc::RecvTimeoutError::Disconnected) if attempt < 3 => {
                    eprintln!("broker {id} exited while starting; starting it again");
                    std::thread::sleep(Duration::from_millis(500));
                    let (dir, voters, env) =
                        (self.data_dir(id), self.voters.clone(), self.env.clone());
                    let node = self.node_mut(id);
                    if let Some(mut child) = node.child.take() {
                        let _ = child.wait();
                    }
                    let (child, again) = node.spawn(&dir, &voters, &env);
                    node.child = Some(child);
                    ready = again;
                }
                Err(_) => panic!("broker {id} did not start within {START_WAIT:?}"),
            }
        }
    }

    fn node(&self, id: u64) -> &Node {
        self.nodes.iter().find(|node| node.id == id).unwrap()
    }

    fn node_mut(&mut self, id: u64) -> &mut Node {
        self.nodes.iter_mut().find(|node| node.id == id).unwrap()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

impl Node {
    fn new(id: u64) -> Node {
        let ip = Ipv4Addr::new(127, 0, 0, u8::try_from(id).unwrap());
        let listeners: Vec<(&'static str, SocketAddr)> = [
            "--cluster-listen",
            "--kafka-listen",
            "--admin-listen",
            "--amqp-listen",
            "--sqs-listen",
            "--native-listen",
        ]
        .into_iter()
        .map(|flag| (flag, free_addr(ip)))
        .collect();
        let kafka = listeners
            .iter()
            .find(|(flag, _)| *flag == "--kafka-listen")
            .unwrap()
            .1;
        Node {
            id,
            ip,
            kafka,
            listeners,
            child: None,
            ready: None,
        }
    }

    fn listener(&self, flag: &str) -> SocketAddr {
        self.listeners.iter().find(|(f, _)| *f == flag).unwrap().1
    }

    /// Starts the process; the receiver gets a message once it serves Kafka clients. Its log
    /// goes to this process's stderr, each line prefixed with the broker's id.
    fn spawn(
        &self,
        data_dir: &Path,
        voters: &str,
        env: &[(String, String)],
    ) -> (Child, mpsc::Receiver<()>) {
        let mut cmd = Command::new(neo_binary());
        cmd.arg("serve").arg("--data-dir").arg(data_dir).args([
            "--node-id",
            &self.id.to_string(),
            "--voters",
            voters,
        ]);
        for (flag, addr) in &self.listeners {
            cmd.args([*flag, &addr.to_string()]);
        }
        let mut child = cmd
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env(
                "RUST_LOG",
                std::env::var("NEO_CLUSTER_LOG").unwrap_or_else(|_| "warn,neo::serve=info".into()),
            )
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let (id, ip) = (self.id, self.ip);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("kafka listening on") {
                    let _ = tx.send(());
                }
                eprintln!("broker {id} ({ip}): {line}");
            }
        });
        (child, rx)
    }
}

/// Ports the brokers listen on: below Linux's ephemeral range (32768–60999), so no outgoing
/// connection of another test takes one between its choice and the broker's bind.
const LISTEN_PORTS: std::ops::Range<u32> = 20_000..32_000;

/// A port free on `ip` now (the broker binds it moments later), chosen at random among
/// [`LISTEN_PORTS`].
fn free_addr(ip: Ipv4Addr) -> SocketAddr {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
        ^ std::process::id().wrapping_mul(2_654_435_761);
    for _ in 0..1_000 {
        let n = seed.wrapping_add(NEXT.fetch_add(7_919, Ordering::Relaxed));
        let port = LISTEN_PORTS.start + n % (LISTEN_PORTS.end - LISTEN_PORTS.start);
        if let Ok(listener) = TcpListener::bind((ip, port as u16)) {
            return listener.local_addr().unwrap();
        }
    }
    panic!("no free port on {ip}")
}

/// The `neo` binary of this build (`NEO_BIN` overrides), brought up to date with the source
/// once per test process (cargo does nothing when it is).
pub fn neo_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    if let Some(path) = std::env::var_os("NEO_BIN") {
        return PathBuf::from(path);
    }
    BUILT
        .get_or_init(|| {
            // The test binary lives in <target>/<profile>/deps/.
            let exe = std::env::current_exe().unwrap();
            let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
            let release = profile_dir
                .file_name()
                .is_some_and(|name| name == "release");
            let mut build = Command::new(env!("CARGO"));
            build.args(["build", "-p", "neo", "--bin", "neo"]);
            if release {
                build.arg("--release");
            }
            let status = build
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .unwrap();
            assert!(status.success(), "building the neo binary failed");
            profile_dir.join("neo")
        })
        .clone()
}
