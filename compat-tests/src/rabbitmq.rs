//! A RabbitMQ node of its own (Debian's `rabbitmq-server`), for differential tests and
//! benchmarks: started on free loopback ports with its data under a temporary directory.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::free_port;

const RABBITMQ: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";
const RABBITMQCTL: &str = "/usr/lib/rabbitmq/bin/rabbitmqctl";

/// A RabbitMQ node of its own: ports, node name, data and logs under a temporary directory.
pub struct RabbitMq {
    child: Child,
    port: u16,
    /// The node's own Erlang port mapper, stopped with it.
    epmd_port: u16,
    dir: tempfile::TempDir,
}

impl RabbitMq {
    /// Starts a node; `None` (a skip) when rabbitmq-server is not installed, which under
    /// CI is a failure instead.
    pub fn start() -> Option<RabbitMq> {
        if !Path::new(RABBITMQ).exists() {
            crate::tools::missing("rabbitmq-server");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("enabled_plugins"), "[].").unwrap();
        let port = free_port();
        let epmd_port = free_port();
        let child = Command::new(RABBITMQ)
            .env("HOME", d)
            .env("ERL_EPMD_PORT", epmd_port.to_string())
            .env("RABBITMQ_NODE_PORT", port.to_string())
            .env("RABBITMQ_DIST_PORT", free_port().to_string())
            .env("RABBITMQ_NODENAME", format!("neo-diff-{port}@localhost"))
            .env("RABBITMQ_MNESIA_BASE", d.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", d.join("log"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", d.join("enabled_plugins"))
            .env("RABBITMQ_CONFIG_FILE", d.join("rabbitmq"))
            .env("RABBITMQ_PID_FILE", d.join("pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Some(RabbitMq {
            child,
            port,
            epmd_port,
            dir,
        })
    }

    /// The AMQP URI of the node (`guest`/`guest`, vhost `/`); it may take a few seconds
    /// after `start` before it accepts connections.
    pub fn uri(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }
}

impl RabbitMq {
    /// Stops the node with `rabbitmqctl stop` (the script runs the Erlang VM as a child of
    /// its own, which killing the script would leave running), then its port mapper.
    pub fn stop(&mut self) {
        let env = |c: &mut Command| {
            c.env("HOME", self.dir.path())
                .env("ERL_EPMD_PORT", self.epmd_port.to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
        };
        let mut ctl = Command::new(RABBITMQCTL);
        env(&mut ctl);
        let _ = ctl
            .args(["-n", &format!("neo-diff-{}@localhost", self.port), "stop"])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut epmd = Command::new("epmd");
        env(&mut epmd);
        let _ = epmd.arg("-kill").status();
    }
}

impl Drop for RabbitMq {
    fn drop(&mut self) {
        self.stop();
    }
}
