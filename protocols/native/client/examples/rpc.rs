//! Brokered RPC: a service instance registers a handler; a caller calls it through the
//! broker, which picks a live instance.
//!
//! `neo serve`, then `cargo run -p neo-client --example rpc`.

use std::time::Duration;

use bytes::Bytes;
use neo_client::{Client, RpcError};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::var("NEO_ADDR").unwrap_or_else(|_| "127.0.0.1:7070".into());
    let service = Client::connect(&addr).await?;
    service
        .serve("greeter", "hello", |name: Bytes| async move {
            if name.is_empty() {
                return Err("a name is required".to_string());
            }
            Ok(Bytes::from(format!(
                "hello, {}",
                String::from_utf8_lossy(&name)
            )))
        })
        .await?;
    let caller = Client::connect(&addr).await?;
    for service in caller.list_services().await? {
        println!(
            "{} ({} instances): {:?}",
            service.name, service.instances, service.methods
        );
    }
    let reply = caller
        .call(
            "greeter",
            "hello",
            Bytes::from("neo"),
            Duration::from_secs(1),
        )
        .await?;
    println!("{}", String::from_utf8_lossy(&reply));
    match caller
        .call("greeter", "hello", Bytes::new(), Duration::from_secs(1))
        .await
    {
        Err(RpcError::Handler(message)) => println!("handler error: {message}"),
        other => println!("unexpected: {other:?}"),
    }
    Ok(())
}
