//! `neo cluster`: asks a broker's admin listener for the cluster's state or its readiness,
//! to move a partition's leadership or its replicas, or to add or remove a broker, and prints
//! the answer.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Context, bail};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use neo_broker::cluster_status::ClusterStatus;
use neo_broker::leader_transfer::TransferRequest;
use neo_broker::membership::{AddBrokerRequest, Removal, RemoveBrokerRequest};
use neo_broker::reassign::ReassignRequest;

use crate::cli::{ClusterArgs, ClusterCommand};

/// How long one request may take (a transfer waits for the election it causes).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `reassign` waits for a move to finish (new replicas copy the whole partition).
const MOVE_TIMEOUT: Duration = Duration::from_secs(3600);

/// `neo cluster ready` found the broker not ready (or could not ask it): the process exits
/// with 1, what container healthchecks take for unhealthy (2 is reserved there).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotReady(String);

/// Runs a `neo cluster` command.
pub async fn run(args: &ClusterArgs) -> anyhow::Result<()> {
    match &args.command {
        ClusterCommand::Status { json } => {
            let body = request(&args.admin, Method::GET, "/cluster", None).await?;
            if *json {
                println!("{}", String::from_utf8_lossy(&body));
                return Ok(());
            }
            let status: ClusterStatus =
                serde_json::from_slice(&body).context("the broker's answer")?;
            print!("{}", render(&status));
        }
        ClusterCommand::Ready => {
            let body = request(&args.admin, Method::GET, "/ready", None)
                .await
                .map_err(|e| anyhow::Error::new(NotReady(format!("{e:#}"))))?;
            print!("{}", String::from_utf8_lossy(&body));
        }
        ClusterCommand::TransferLeader {
            topic,
            partition,
            to,
        } => {
            let transfer = TransferRequest {
                topic: topic.clone(),
                partition: *partition,
                to: *to,
            };
            let body = serde_json::to_vec(&transfer)?;
            let answer = request(
                &args.admin,
                Method::POST,
                "/cluster/transfer-leader",
                Some(body),
            )
            .await?;
            let answer: serde_json::Value = serde_json::from_slice(&answer)?;
            println!("{topic}-{partition}: led by broker {}", answer["leader"]);
        }
        ClusterCommand::Reassign {
            topic,
            partition,
            replicas,
            no_wait,
        } => {
            let reassign = ReassignRequest {
                topic: topic.clone(),
                partition: *partition,
                replicas: replicas.clone(),
            };
            let body = serde_json::to_vec(&reassign)?;
            request(&args.admin, Method::POST, "/cluster/reassign", Some(body)).await?;
            if *no_wait {
                println!("{topic}-{partition}: moving to {replicas:?}");
                return Ok(());
            }
            wait_for_move(&args.admin, topic, *partition).await?;
            println!("{topic}-{partition}: replicas {replicas:?}");
        }
        ClusterCommand::AddBroker { id, address } => {
            let body = serde_json::to_vec(&AddBrokerRequest {
                id: *id,
                address: *address,
            })?;
            request(&args.admin, Method::POST, "/cluster/add-broker", Some(body)).await?;
            println!("broker {id} ({address}) is a member of the cluster");
        }
        ClusterCommand::RemoveBroker { id, no_wait } => {
            remove_broker(&args.admin, *id, *no_wait).await?;
        }
    }
    Ok(())
}

/// Asks for broker `id`'s removal until it is done (its replicas move first), or once with
/// `no_wait`.
async fn remove_broker(admin: &str, id: u64, no_wait: bool) -> anyhow::Result<()> {
    let body = serde_json::to_vec(&RemoveBrokerRequest { id })?;
    let deadline = tokio::time::Instant::now() + MOVE_TIMEOUT;
    let mut told = None;
    loop {
        let answer = request(
            admin,
            Method::POST,
            "/cluster/remove-broker",
            Some(body.clone()),
        )
        .await?;
        match serde_json::from_slice(&answer).context("the broker's answer")? {
            Removal::Removed => {
                println!("broker {id} is no longer part of the cluster: it can be stopped");
                return Ok(());
            }
            Removal::Moving { partitions } => {
                if told != Some(partitions) {
                    println!("broker {id}: {partitions} partitions moving to other brokers");
                    told = Some(partitions);
                }
            }
        }
        if no_wait {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            bail!(
                "broker {id} still holds replicas after {MOVE_TIMEOUT:?} (see `neo cluster status`)"
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Asks for the cluster's state until partition `partition` of `topic` is no longer moving.
async fn wait_for_move(admin: &str, topic: &str, partition: i32) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + MOVE_TIMEOUT;
    loop {
        let body = request(admin, Method::GET, "/cluster", None).await?;
        let status: ClusterStatus = serde_json::from_slice(&body).context("the broker's answer")?;
        let moving = status
            .partitions
            .iter()
            .any(|p| p.topic == topic && p.partition == partition && p.reassigning.is_some());
        if !moving {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            bail!(
                "{topic}-{partition} is still moving after {MOVE_TIMEOUT:?} (see `neo cluster status`)"
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One HTTP/1.1 request to the admin listener at `admin`; the body of a 2xx answer, or the
/// error the broker gave.
async fn request(
    admin: &str,
    method: Method,
    path: &str,
    body: Option<Vec<u8>>,
) -> anyhow::Result<Bytes> {
    let exchange = async {
        let stream = tokio::net::TcpStream::connect(admin)
            .await
            .with_context(|| format!("cannot reach the admin listener at {admin}"))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, admin)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body.unwrap_or_default())))?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        if !status.is_success() {
            let reason = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_string))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
            bail!("{status}: {reason}");
        }
        anyhow::Ok(body)
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .with_context(|| format!("no answer from {admin} within {REQUEST_TIMEOUT:?}"))?
}

/// The status as two tables: brokers, then partitions.
fn render(status: &ClusterStatus) -> String {
    let ids = |ids: &[u64]| ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
    let mut out = String::new();
    let controller = status
        .controller
        .map_or_else(|| "none".to_string(), |id| id.to_string());
    let _ = writeln!(
        out,
        "cluster {} (answered by broker {}, controller {controller})",
        status.cluster_id, status.answered_by
    );
    let _ = writeln!(
        out,
        "\n{:<6} {:<5} {:<6} {:<22} KAFKA",
        "BROKER", "LIVE", "VOTER", "CLUSTER"
    );
    for broker in &status.brokers {
        let kafka = broker.endpoints.get("kafka").map_or("-", String::as_str);
        let yes = |b: bool| if b { "yes" } else { "no" };
        let _ = writeln!(
            out,
            "{:<6} {:<5} {:<6} {:<22} {kafka}",
            broker.id,
            yes(broker.live),
            yes(broker.voter),
            broker.cluster_address
        );
    }
    let _ = writeln!(
        out,
        "\n{:<32} {:>9} {:>6} {:>6} {:<12} {:<12} MOVING-TO",
        "TOPIC", "PARTITION", "LEADER", "EPOCH", "REPLICAS", "IN-SYNC"
    );
    for p in &status.partitions {
        let leader = p
            .leader
            .map_or_else(|| "-".to_string(), |id| id.to_string());
        let _ = writeln!(
            out,
            "{:<32} {:>9} {:>6} {:>6} {:<12} {:<12} {}",
            p.topic,
            p.partition,
            leader,
            p.epoch,
            ids(&p.replicas),
            ids(&p.in_sync),
            p.reassigning
                .as_deref()
                .map_or_else(|| "-".to_string(), ids)
        );
    }
    out
}
