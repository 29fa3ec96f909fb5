//! Brokered RPC with service instances in processes of their own: calls are balanced over
//! three, and when one is killed with SIGKILL its calls go to the others.

use std::collections::HashMap;
use std::process::Child;
use std::time::Duration;

use bytes::Bytes;
use neo_client::Client;
use neo_compat_tests::TestBroker;
use neo_compat_tests::child::spawn_test;

const INSTANCE_ENV: &str = "NEO_RPC_INSTANCE";
const WAIT: Duration = Duration::from_secs(30);

/// Not a test on its own: the body of an instance process, which runs this test binary with
/// [`INSTANCE_ENV`] set to `address,name`.
#[test]
#[ignore = "run as a child process by the other test of this file"]
fn rpc_instance_process() {
    let Ok(spec) = std::env::var(INSTANCE_ENV) else {
        return;
    };
    let (addr, name) = spec.split_once(',').unwrap();
    let (addr, name) = (addr.to_string(), name.to_string());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async move {
        let client = Client::connect(&addr).await.unwrap();
        client
            .serve("greeter", "hello", move |payload: Bytes| {
                let reply = format!("{name}:{}", String::from_utf8_lossy(&payload));
                async move { Ok(Bytes::from(reply)) }
            })
            .await
            .unwrap();
        std::future::pending::<()>().await;
    });
}

/// Instance processes, killed when the test ends however it ends.
struct Instances(HashMap<&'static str, Child>);

impl Instances {
    fn spawn(addr: &str, names: &[&'static str]) -> Instances {
        let children = names
            .iter()
            .map(|name| {
                let child = spawn_test(
                    "native_rpc_processes::rpc_instance_process",
                    [(INSTANCE_ENV, format!("{addr},{name}"))],
                );
                (*name, child)
            })
            .collect();
        Instances(children)
    }

    fn kill(&mut self, name: &str) {
        if let Some(mut child) = self.0.remove(name) {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

impl Drop for Instances {
    fn drop(&mut self) {
        for child in self.0.values_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn instances_of(caller: &Client) -> u32 {
    let services = caller.list_services().await.unwrap();
    services
        .iter()
        .find(|s| s.name == "greeter")
        .map_or(0, |s| s.instances)
}

async fn tally(caller: &Client, calls: usize) -> HashMap<String, usize> {
    let mut by_instance = HashMap::new();
    for i in 0..calls {
        let payload = Bytes::from(format!("n{i}"));
        let reply = caller
            .call("greeter", "hello", payload, Duration::from_secs(10))
            .await
            .unwrap();
        let reply = String::from_utf8(reply.to_vec()).unwrap();
        let (name, rest) = reply.split_once(':').unwrap();
        assert_eq!(rest, format!("n{i}"));
        *by_instance.entry(name.to_string()).or_default() += 1;
    }
    by_instance
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instance_processes_share_calls_and_a_killed_ones_calls_fail_over() {
    let broker = TestBroker::start().await;
    let addr = broker.native_addr.to_string();
    let mut instances = Instances::spawn(&addr, &["a", "b", "c"]);
    let caller = Client::connect(&addr).await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while instances_of(&caller).await < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "instances never registered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let counts = tally(&caller, 300).await;
    assert_eq!(counts.len(), 3, "{counts:?}");
    assert!(counts.values().all(|n| *n == 100), "{counts:?}");

    // SIGKILL: the kernel closes its socket; calls routed to it meanwhile fail over.
    instances.kill("b");
    let counts = tally(&caller, 200).await;
    assert_eq!(counts.values().sum::<usize>(), 200);
    assert_eq!(counts.get("b"), None, "{counts:?}");
    assert!(counts.get("a").is_some_and(|n| *n >= 99), "{counts:?}");
    assert!(counts.get("c").is_some_and(|n| *n >= 99), "{counts:?}");
    assert_eq!(instances_of(&caller).await, 2);
}
