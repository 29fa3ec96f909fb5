//! One AMQP connection: the protocol header, Start/StartOk (PLAIN and AMQPLAIN), Tune/TuneOk,
//! Open, then frames dispatched to channels until Close. Frames are read by a task of their
//! own (reads are not cancel-safe) and written by another, through a bounded queue that
//! consumers wait on, so a slow client holds the broker to its prefetch.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use amq_protocol::frame::AMQPFrame;
use amq_protocol::protocol::{AMQPClass, basic, connection};
use amq_protocol::types::{AMQPValue, FieldTable, LongString};
use neo_broker::acls::{Caller, Operation, Resource};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::channel::Channel;
use crate::frames::{self, PROTOCOL_HEADER, read_frame};
use crate::gateway::Gateway;
use crate::outgoing::{Outgoing, send};
use crate::reply;

/// Frames waiting to be written; senders wait when it is full.
const OUTGOING: usize = 256;

/// Most bytes gathered into one socket write.
const WRITE_COALESCE: usize = 256 * 1024;
/// Bytes read from the socket at a time.
const READ_BUFFER: usize = 64 * 1024;

/// Serves one client until it closes or breaks the protocol.
pub async fn serve(stream: TcpStream, peer: SocketAddr, gateway: Arc<Gateway>) {
    let (reader, mut writer) = stream.into_split();
    // Frames are small (a publish is three of them): read them out of a buffer, not with two
    // socket reads each.
    let mut reader = tokio::io::BufReader::with_capacity(READ_BUFFER, reader);
    let mut header = [0u8; 8];
    if reader.read_exact(&mut header).await.is_err() {
        return;
    }
    if &header != PROTOCOL_HEADER {
        // The spec: answer with the header we speak, then close.
        let _ = writer.write_all(PROTOCOL_HEADER).await;
        tracing::debug!(%peer, "amqp: unsupported protocol header");
        return;
    }
    let (out, mut outgoing) = mpsc::channel::<Vec<u8>>(OUTGOING);
    let writing = tokio::spawn(async move {
        // Frames queued meanwhile go out in the same write: one syscall for a burst of
        // deliveries and confirms rather than one per frame.
        while let Some(mut bytes) = outgoing.recv().await {
            while bytes.len() < WRITE_COALESCE {
                match outgoing.try_recv() {
                    Ok(more) => bytes.extend_from_slice(&more),
                    Err(_) => break,
                }
            }
            if writer.write_all(&bytes).await.is_err() {
                return;
            }
        }
        let _ = writer.shutdown().await;
    });
    let (frames_tx, mut frames_rx) = mpsc::channel(64);
    let frame_max = gateway.config.frame_max;
    let reading = tokio::spawn(async move {
        loop {
            let frame = read_frame(&mut reader, frame_max).await;
            let end = !matches!(frame, Ok(Some(_)));
            if frames_tx.send(frame).await.is_err() || end {
                return;
            }
        }
    });
    let connection_id = gateway.next_id();
    match handshake(&gateway, peer, &out, &mut frames_rx).await {
        Ok(agreed) => run(&gateway, connection_id, &out, &mut frames_rx, agreed).await,
        Err(reason) => tracing::debug!(%peer, reason, "amqp handshake failed"),
    }
    for name in gateway.topology.exclusive_to(connection_id) {
        gateway.delete_queue(&name).await;
    }
    reading.abort();
    drop(out);
    let _ = writing.await;
}

type Frames = mpsc::Receiver<Result<Option<AMQPFrame>, frames::FrameError>>;

/// The next method on channel 0 during the handshake.
async fn next_method(frames: &mut Frames) -> Result<AMQPClass, String> {
    match frames.recv().await {
        Some(Ok(Some(AMQPFrame::Method(0, method)))) => Ok(method),
        Some(Ok(Some(other))) => Err(format!("unexpected frame {other:?}")),
        Some(Err(e)) => Err(e.to_string()),
        Some(Ok(None)) | None => Err("closed".into()),
    }
}

fn server_properties() -> FieldTable {
    let mut capabilities = FieldTable::default();
    for cap in [
        "publisher_confirms",
        "basic.nack",
        "consumer_cancel_notify",
        "per_consumer_qos",
        "exchange_exchange_bindings",
        "connection.blocked",
        "authentication_failure_close",
    ] {
        capabilities.insert(cap.into(), AMQPValue::Boolean(true));
    }
    let mut props = FieldTable::default();
    props.insert("product".into(), AMQPValue::LongString("Neo".into()));
    props.insert(
        "version".into(),
        AMQPValue::LongString(env!("CARGO_PKG_VERSION").into()),
    );
    props.insert("capabilities".into(), AMQPValue::FieldTable(capabilities));
    props
}

/// The user and password of a StartOk response (PLAIN: `\0user\0pass`; AMQPLAIN: a field
/// table without its length with LOGIN and PASSWORD).
fn credentials(mechanism: &str, response: &LongString) -> Option<(String, String)> {
    let bytes = response.as_bytes();
    match mechanism {
        "PLAIN" => {
            let mut parts = bytes.split(|b| *b == 0);
            let _authzid = parts.next()?;
            let user = String::from_utf8(parts.next()?.to_vec()).ok()?;
            let pass = String::from_utf8(parts.next()?.to_vec()).ok()?;
            Some((user, pass))
        }
        "AMQPLAIN" => {
            let mut framed = (bytes.len() as u32).to_be_bytes().to_vec();
            framed.extend_from_slice(bytes);
            let (_, table) = amq_protocol::types::parsing::parse_field_table(&framed[..]).ok()?;
            let text = |key: &str| match table.inner().get(key)? {
                AMQPValue::LongString(s) => String::from_utf8(s.as_bytes().to_vec()).ok(),
                AMQPValue::ShortString(s) => Some(s.as_str().to_string()),
                _ => None,
            };
            Some((text("LOGIN")?, text("PASSWORD")?))
        }
        _ => None,
    }
}

/// What the handshake agreed.
struct Agreed {
    /// Who the client is for ACLs: the login user, from its IP address.
    caller: Arc<Caller>,
    heartbeat: u16,
    /// The client takes connection.blocked/unblocked notices.
    blocked_notices: bool,
}

/// Whether the client properties of start-ok list capability `name`.
fn has_capability(client_properties: &FieldTable, name: &str) -> bool {
    match client_properties.inner().get("capabilities") {
        Some(AMQPValue::FieldTable(caps)) => {
            matches!(caps.inner().get(name), Some(AMQPValue::Boolean(true)))
        }
        _ => false,
    }
}

/// Start, Tune, Open.
async fn handshake(
    gateway: &Gateway,
    peer: SocketAddr,
    out: &Outgoing,
    frames: &mut Frames,
) -> Result<Agreed, String> {
    let config = &gateway.config;
    let start = connection::Start {
        version_major: 0,
        version_minor: 9,
        server_properties: server_properties(),
        mechanisms: "PLAIN AMQPLAIN".into(),
        locales: "en_US".into(),
    };
    send(
        out,
        AMQPFrame::Method(
            0,
            AMQPClass::Connection(connection::AMQPMethod::Start(start)),
        ),
    )
    .await;
    let AMQPClass::Connection(connection::AMQPMethod::StartOk(start_ok)) =
        next_method(frames).await?
    else {
        return Err("expected connection.start-ok".into());
    };
    // Like RabbitMQ's `loopback_users`: the well-known guest login works from this host only.
    let accepted = credentials(start_ok.mechanism.as_str(), &start_ok.response)
        .is_some_and(|(user, pass)| user == config.username && pass == config.password)
        && (config.username != "guest" || peer.ip().is_loopback());
    let caller = Caller::user(&config.username, peer.ip().to_string());
    if !accepted {
        close(
            out,
            reply::ACCESS_REFUSED,
            "ACCESS_REFUSED - login was refused",
            0,
            0,
        )
        .await;
        return Err("login refused".into());
    }
    let tune = connection::Tune {
        channel_max: config.channel_max,
        frame_max: config.frame_max,
        heartbeat: config.heartbeat_secs,
    };
    send(
        out,
        AMQPFrame::Method(0, AMQPClass::Connection(connection::AMQPMethod::Tune(tune))),
    )
    .await;
    let AMQPClass::Connection(connection::AMQPMethod::TuneOk(tune_ok)) =
        next_method(frames).await?
    else {
        return Err("expected connection.tune-ok".into());
    };
    let AMQPClass::Connection(connection::AMQPMethod::Open(open)) = next_method(frames).await?
    else {
        return Err("expected connection.open".into());
    };
    if open.virtual_host.as_str() != "/" {
        close(
            out,
            reply::NOT_ALLOWED,
            "NOT_ALLOWED - vhost not found",
            10,
            40,
        )
        .await;
        return Err(format!("unknown vhost {}", open.virtual_host));
    }
    // The vhost is the cluster. Only a DENY refuses it, as a vhost without permissions does
    // RabbitMQ's user: bindings that allow others on the cluster (an admin's ALTER) must not
    // lock every other user out.
    if let Err(denied) = gateway
        .broker
        .authorize(&caller, Operation::Describe, Resource::cluster())
        && denied.by_deny
    {
        let text = format!(
            "NOT_ALLOWED - access to vhost '/' refused for user '{}'",
            config.username
        );
        close(out, reply::NOT_ALLOWED, &text, 10, 40).await;
        return Err(denied.to_string());
    }
    send(
        out,
        AMQPFrame::Method(
            0,
            AMQPClass::Connection(connection::AMQPMethod::OpenOk(connection::OpenOk {})),
        ),
    )
    .await;
    Ok(Agreed {
        caller: Arc::new(caller),
        heartbeat: tune_ok.heartbeat,
        blocked_notices: has_capability(&start_ok.client_properties, "connection.blocked"),
    })
}

/// Sends connection.close.
pub async fn close(out: &Outgoing, code: u16, text: &str, class_id: u16, method_id: u16) {
    let close = connection::Close {
        reply_code: code,
        reply_text: text.into(),
        class_id,
        method_id,
    };
    send(
        out,
        AMQPFrame::Method(
            0,
            AMQPClass::Connection(connection::AMQPMethod::Close(close)),
        ),
    )
    .await;
}

/// Whether a connection was told it is blocked.
struct Blocking {
    /// The client takes connection.blocked/unblocked.
    notices: bool,
    /// It has published (only publishers are blocked).
    published: bool,
    told: bool,
}

impl Blocking {
    /// Sends connection.blocked (with `Some(reason)`) or connection.unblocked, if the client
    /// takes them and it changes what it was told.
    async fn tell(&mut self, out: &Outgoing, reason: Option<String>) {
        if !self.notices || self.told == reason.is_some() {
            return;
        }
        self.told = reason.is_some();
        let m = match reason {
            Some(reason) => connection::AMQPMethod::Blocked(connection::Blocked {
                reason: reason.into(),
            }),
            None => connection::AMQPMethod::Unblocked(connection::Unblocked {}),
        };
        send(out, AMQPFrame::Method(0, AMQPClass::Connection(m))).await;
    }
}

/// Frames until the connection ends.
async fn run(
    gateway: &Arc<Gateway>,
    connection_id: u64,
    out: &Outgoing,
    frames: &mut Frames,
    agreed: Agreed,
) {
    let heartbeat = agreed.heartbeat;
    let mut channels: HashMap<u16, Channel> = HashMap::new();
    let mut alarm = gateway.alarm.subscribe();
    let mut blocking = Blocking {
        notices: agreed.blocked_notices,
        published: false,
        told: false,
    };
    let beat = Duration::from_secs(u64::from(heartbeat.max(1)));
    let mut ticker = tokio::time::interval(beat);
    let mut last_heard = tokio::time::Instant::now();
    loop {
        if frames.is_empty() {
            // Every frame read so far is handled: what the channels held back goes out now,
            // one write per queue for the whole burst.
            for channel in channels.values_mut() {
                channel.flush().await;
            }
        }
        let frame = tokio::select! {
            frame = frames.recv() => frame,
            _ = alarm.changed(), if blocking.notices && blocking.published => {
                let reason = alarm.borrow_and_update().clone();
                blocking.tell(out, reason).await;
                continue;
            }
            _ = ticker.tick(), if heartbeat > 0 => {
                if last_heard.elapsed() > beat * 2 {
                    tracing::debug!(connection_id, "amqp: missed heartbeats, closing");
                    break;
                }
                send(out, AMQPFrame::Heartbeat).await;
                continue;
            }
        };
        last_heard = tokio::time::Instant::now();
        let frame = match frame {
            Some(Ok(Some(frame))) => frame,
            Some(Err(e)) => {
                tracing::debug!(connection_id, error = %e, "amqp: bad frame, closing");
                let (code, name) = match e {
                    frames::FrameError::Malformed(_) => (reply::SYNTAX_ERROR, "SYNTAX_ERROR"),
                    _ => (reply::FRAME_ERROR, "FRAME_ERROR"),
                };
                close(out, code, &format!("{name} - {e}"), 0, 0).await;
                break;
            }
            Some(Ok(None)) | None => break,
        };
        let channel_id = match &frame {
            AMQPFrame::Method(c, _) | AMQPFrame::Header(c, _) | AMQPFrame::Body(c, _) => *c,
            AMQPFrame::Heartbeat => continue,
            AMQPFrame::ProtocolHeader(_) | AMQPFrame::InvalidHeartbeat(_) => {
                close(
                    out,
                    reply::FRAME_ERROR,
                    "FRAME_ERROR - unexpected frame",
                    0,
                    0,
                )
                .await;
                break;
            }
        };
        if channel_id == 0 {
            match frame {
                AMQPFrame::Method(_, AMQPClass::Connection(connection::AMQPMethod::Close(_))) => {
                    send(
                        out,
                        AMQPFrame::Method(
                            0,
                            AMQPClass::Connection(connection::AMQPMethod::CloseOk(
                                connection::CloseOk {},
                            )),
                        ),
                    )
                    .await;
                    // The client closes the socket once it has close-ok; give it a moment
                    // rather than cutting it off first (clients report that as an error).
                    let _ = tokio::time::timeout(Duration::from_secs(1), async {
                        while let Some(Ok(Some(_))) = frames.recv().await {}
                    })
                    .await;
                    break;
                }
                AMQPFrame::Method(_, AMQPClass::Connection(connection::AMQPMethod::CloseOk(_))) => {
                    break;
                }
                _ => {
                    close(
                        out,
                        reply::COMMAND_INVALID,
                        "COMMAND_INVALID - unexpected method on channel 0",
                        0,
                        0,
                    )
                    .await;
                    break;
                }
            }
        }
        if matches!(
            &frame,
            AMQPFrame::Method(_, AMQPClass::Basic(basic::AMQPMethod::Publish(_)))
        ) {
            blocking.published = true;
            let reason = alarm.borrow_and_update().clone();
            if reason.is_some() {
                // As RabbitMQ: a connection publishing during the alarm is read no further
                // until it clears.
                blocking.tell(out, reason).await;
                let _ = alarm.wait_for(Option::is_none).await;
                blocking.tell(out, None).await;
            }
        }
        if channel_id > gateway.config.channel_max {
            close(
                out,
                reply::CHANNEL_ERROR,
                "CHANNEL_ERROR - channel id over channel_max",
                20,
                10,
            )
            .await;
            break;
        }
        if !Channel::holds_back(&frame) {
            for channel in channels.values_mut() {
                channel.flush().await;
            }
            for channel in channels.values_mut() {
                channel.sync_published().await;
            }
        }
        let outcome = match channels.get_mut(&channel_id) {
            Some(channel) => channel.handle(frame).await,
            None => match frame {
                AMQPFrame::Method(
                    _,
                    AMQPClass::Channel(amq_protocol::protocol::channel::AMQPMethod::Open(_)),
                ) => {
                    channels.insert(
                        channel_id,
                        Channel::open(
                            channel_id,
                            connection_id,
                            Arc::clone(&agreed.caller),
                            Arc::clone(gateway),
                            out.clone(),
                        )
                        .await,
                    );
                    Ok(())
                }
                _ => Err(crate::channel::ConnectionError {
                    code: reply::CHANNEL_ERROR,
                    text: format!("CHANNEL_ERROR - channel {channel_id} is not open"),
                    class_id: 20,
                    method_id: 10,
                }),
            },
        };
        if let Err(e) = outcome {
            close(out, e.code, &e.text, e.class_id, e.method_id).await;
            break;
        }
        channels.retain(|_, c| !c.is_closed());
    }
    for (_, mut channel) in channels.drain() {
        channel.flush().await;
        channel.release_all().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_amqplain_credentials() {
        assert_eq!(
            credentials("PLAIN", &LongString::from(&b"\0guest\0secret"[..])),
            Some(("guest".into(), "secret".into()))
        );
        assert_eq!(credentials("PLAIN", &LongString::from(&b"guest"[..])), None);
        assert_eq!(credentials("EXTERNAL", &LongString::from(&b""[..])), None);
    }
}
