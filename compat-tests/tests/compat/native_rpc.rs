//! Brokered RPC through the `neo-client` SDK: three service instances on their own
//! connections, calls balanced over them, failover when one goes away, typed errors.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use neo_client::{Client, RpcError};
use neo_compat_tests::TestBroker;

const CALL_TIMEOUT: Duration = Duration::from_secs(10);

async fn instance(addr: &str, name: &'static str) -> Client {
    let client = Client::connect(addr).await.unwrap();
    client
        .serve("greeter", "hello", move |payload: Bytes| async move {
            let who = String::from_utf8_lossy(&payload).into_owned();
            Ok(Bytes::from(format!("{name}:hello {who}")))
        })
        .await
        .unwrap();
    client
}

async fn tally(caller: &Client, calls: usize) -> HashMap<String, usize> {
    let mut by_instance = HashMap::new();
    for i in 0..calls {
        let reply = caller
            .call(
                "greeter",
                "hello",
                Bytes::from(format!("n{i}")),
                CALL_TIMEOUT,
            )
            .await
            .unwrap();
        let reply = String::from_utf8(reply.to_vec()).unwrap();
        let (name, rest) = reply.split_once(':').unwrap();
        assert_eq!(rest, format!("hello n{i}"));
        *by_instance.entry(name.to_string()).or_default() += 1;
    }
    by_instance
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_balance_over_three_instances_and_fail_over_when_one_is_killed() {
    let broker = TestBroker::start().await;
    let addr = broker.native_addr.to_string();
    let a = instance(&addr, "a").await;
    let b = instance(&addr, "b").await;
    let c = instance(&addr, "c").await;
    let caller = Client::connect(&addr).await.unwrap();
    let services = caller.list_services().await.unwrap();
    assert_eq!(services.len(), 1);
    assert_eq!(services[0].name, "greeter");
    assert_eq!(services[0].instances, 3);
    assert_eq!(services[0].methods, vec!["hello".to_string()]);

    let counts = tally(&caller, 300).await;
    assert_eq!(counts.len(), 3, "{counts:?}");
    for (name, n) in &counts {
        assert_eq!(*n, 100, "instance {name}: {counts:?}");
    }

    b.close().await;
    let counts = tally(&caller, 100).await;
    assert_eq!(counts.get("b"), None, "{counts:?}");
    assert_eq!(counts.get("a"), Some(&50), "{counts:?}");
    assert_eq!(counts.get("c"), Some(&50), "{counts:?}");
    let services = caller.list_services().await.unwrap();
    assert_eq!(services[0].instances, 2);

    a.close().await;
    c.close().await;
    let err = caller
        .call("greeter", "hello", Bytes::new(), CALL_TIMEOUT)
        .await
        .unwrap_err();
    assert!(matches!(err, RpcError::NoInstance(_)), "{err:?}");
    assert!(caller.list_services().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_in_flight_on_an_instance_that_dies_is_answered_by_another() {
    let broker = TestBroker::start().await;
    let addr = broker.native_addr.to_string();
    let started = Arc::new(tokio::sync::Notify::new());
    let stuck = Client::connect(&addr).await.unwrap();
    let signal = Arc::clone(&started);
    stuck
        .serve("slow", "work", move |_| {
            let signal = Arc::clone(&signal);
            async move {
                signal.notify_one();
                std::future::pending::<()>().await;
                Ok(Bytes::new())
            }
        })
        .await
        .unwrap();
    let healthy = Client::connect(&addr).await.unwrap();
    let served = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&served);
    // Registered second, so round-robin sends the first call to the stuck instance.
    healthy
        .serve("slow", "work", move |_| {
            count.fetch_add(1, Ordering::SeqCst);
            async { Ok(Bytes::from_static(b"done")) }
        })
        .await
        .unwrap();
    let caller = Client::connect(&addr).await.unwrap();
    let call = tokio::spawn(async move {
        caller
            .call("slow", "work", Bytes::new(), CALL_TIMEOUT)
            .await
    });
    tokio::time::timeout(CALL_TIMEOUT, started.notified())
        .await
        .expect("the stuck instance got the call");
    stuck.close().await;
    let reply = tokio::time::timeout(CALL_TIMEOUT, call)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(reply, Bytes::from_static(b"done"));
    assert_eq!(served.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_errors_timeouts_and_unknown_methods_are_typed() {
    let broker = TestBroker::start().await;
    let addr = broker.native_addr.to_string();
    let service = Client::connect(&addr).await.unwrap();
    service
        .serve("math", "divide", |payload: Bytes| async move {
            match payload.as_ref() {
                b"0" => Err("division by zero".to_string()),
                _ => Ok(Bytes::from_static(b"ok")),
            }
        })
        .await
        .unwrap();
    service
        .serve("math", "sleep", |_| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(Bytes::new())
        })
        .await
        .unwrap();
    let caller = Client::connect(&addr).await.unwrap();
    let ok = caller
        .call("math", "divide", Bytes::from_static(b"2"), CALL_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(ok, Bytes::from_static(b"ok"));
    let err = caller
        .call("math", "divide", Bytes::from_static(b"0"), CALL_TIMEOUT)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RpcError::Handler(m) if m == "division by zero"),
        "{err:?}"
    );
    let err = caller
        .call("math", "sleep", Bytes::new(), Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(matches!(err, RpcError::Timeout), "{err:?}");
    let err = caller
        .call("math", "multiply", Bytes::new(), CALL_TIMEOUT)
        .await
        .unwrap_err();
    assert!(matches!(err, RpcError::NoInstance(_)), "{err:?}");
    let services = caller.list_services().await.unwrap();
    assert_eq!(
        services[0].methods,
        vec!["divide".to_string(), "sleep".to_string()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_calls_are_pipelined_over_one_connection() {
    let broker = TestBroker::start().await;
    let addr = broker.native_addr.to_string();
    let service = Client::connect(&addr).await.unwrap();
    service
        .serve("echo", "echo", |payload: Bytes| async move {
            // Later calls finish first: replies complete out of order.
            let delay = 50u64.saturating_sub(payload.len() as u64);
            tokio::time::sleep(Duration::from_millis(delay)).await;
            Ok(payload)
        })
        .await
        .unwrap();
    let caller = Client::connect(&addr).await.unwrap();
    let calls: Vec<_> = (0..40)
        .map(|i| {
            let caller = caller.clone();
            tokio::spawn(async move {
                let payload = Bytes::from(vec![b'x'; i]);
                let reply = caller
                    .call("echo", "echo", payload.clone(), CALL_TIMEOUT)
                    .await;
                (payload, reply)
            })
        })
        .collect();
    for call in calls {
        let (payload, reply) = call.await.unwrap();
        assert_eq!(reply.unwrap(), payload);
    }
}
