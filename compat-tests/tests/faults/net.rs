//! The test's own network: one Linux network namespace per broker, joined by a bridge whose
//! address the test process (in the root namespace) uses to reach them; iptables inside a
//! namespace cuts that broker's links. Everything is made here and removed on drop, and
//! traffic stays between these addresses.

use std::net::Ipv4Addr;
use std::process::Command;

/// The namespaces and the bridge of one run.
pub struct Net {
    tag: String,
    bridge: String,
    subnet: [u8; 3],
    size: u8,
}

/// Runs `args` (a command and its arguments), panicking with its output if it fails.
pub fn run(args: &[&str]) {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Net {
    /// `size` namespaces, each with one address of a /24 of its own for this process.
    pub fn create(size: u8) -> Net {
        let pid = std::process::id();
        let tag = format!("nf{}", pid % 100_000);
        let subnet = [10, 213, (pid % 250) as u8];
        let net = Net {
            bridge: format!("{tag}br"),
            tag,
            subnet,
            size,
        };
        net.remove();
        let host = net.host_ip().to_string();
        run(&["ip", "link", "add", &net.bridge, "type", "bridge"]);
        run(&[
            "ip",
            "addr",
            "add",
            &format!("{host}/24"),
            "dev",
            &net.bridge,
        ]);
        run(&["ip", "link", "set", &net.bridge, "up"]);
        for node in 1..=size {
            let ns = net.namespace(node);
            let (outside, inside) = (format!("{}h{node}", net.tag), format!("{}n{node}", net.tag));
            let ip = format!("{}/24", net.ip(node));
            run(&["ip", "netns", "add", &ns]);
            run(&[
                "ip", "link", "add", &outside, "type", "veth", "peer", "name", &inside,
            ]);
            run(&["ip", "link", "set", &inside, "netns", &ns]);
            run(&["ip", "netns", "exec", &ns, "ip", "link", "set", "lo", "up"]);
            run(&[
                "ip", "netns", "exec", &ns, "ip", "addr", "add", &ip, "dev", &inside,
            ]);
            run(&[
                "ip", "netns", "exec", &ns, "ip", "link", "set", &inside, "up",
            ]);
            run(&["ip", "link", "set", &outside, "master", &net.bridge, "up"]);
        }
        net
    }

    /// The namespace of broker `node`.
    pub fn namespace(&self, node: u8) -> String {
        format!("{}-{node}", self.tag)
    }

    /// Broker `node`'s address.
    pub fn ip(&self, node: u8) -> Ipv4Addr {
        let [a, b, c] = self.subnet;
        Ipv4Addr::new(a, b, c, node)
    }

    /// The test process's address on the bridge.
    fn host_ip(&self) -> Ipv4Addr {
        let [a, b, c] = self.subnet;
        Ipv4Addr::new(a, b, c, 254)
    }

    /// Drops what `from` sends to `to` (one way).
    pub fn drop_sent(&self, from: u8, to: u8) {
        let ns = self.namespace(from);
        let to = self.ip(to).to_string();
        run(&[
            "ip", "netns", "exec", &ns, "iptables", "-A", "OUTPUT", "-d", &to, "-j", "DROP",
        ]);
    }

    /// Cuts the link between `a` and `b` both ways.
    pub fn cut(&self, a: u8, b: u8) {
        self.drop_sent(a, b);
        self.drop_sent(b, a);
    }

    /// Every link whole again.
    pub fn heal(&self) {
        for node in 1..=self.size {
            run(&[
                "ip",
                "netns",
                "exec",
                &self.namespace(node),
                "iptables",
                "-F",
            ]);
        }
    }

    fn remove(&self) {
        for node in 1..=self.size {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.namespace(node)])
                .output();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        self.remove();
    }
}
