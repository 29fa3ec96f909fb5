//! Messages as records and back: the body is the value, the routing key the key; the exchange
//! and the basic properties travel as `amqp.*` headers, so the records stay readable from
//! Kafka. Sending a delivery:
//! the method, the content header, and the body cut to `frame_max`.

use amq_protocol::frame::{AMQPContentHeader, AMQPFrame};
use amq_protocol::protocol::AMQPClass;
use amq_protocol::protocol::basic::{AMQPProperties, gen_properties, parse_properties};
use bytes::Bytes;
use neo_broker::queues::{EXPIRES_AT_HEADER, QueuedRecord};
use neo_record::codec::{BatchBuilder, Compression, Header};

use crate::frames::{FRAME_BODY, FRAME_END, encode};
use crate::outgoing::Outgoing;

pub const EXCHANGE_HEADER: &str = "amqp.exchange";
pub const PROPERTIES_HEADER: &str = "amqp.properties";

/// Frame header and end byte around a body frame's payload.
const FRAME_OVERHEAD: usize = 8;
const BASIC_CLASS: u16 = 60;

/// One published message as a one-record batch.
/// A per-message `expiration` (milliseconds, as text) becomes the `neo.expires-at` header
/// the queue cursor checks.
pub fn to_batch(
    exchange: &str,
    routing_key: &str,
    properties: &AMQPProperties,
    body: &[u8],
    now: i64,
) -> Result<bytes::BytesMut, neo_record::BatchError> {
    let encoded =
        cookie_factory::gen_simple(gen_properties(properties), Vec::new()).unwrap_or_default();
    let mut headers = vec![
        Header {
            key: EXCHANGE_HEADER.into(),
            value: Some(Bytes::copy_from_slice(exchange.as_bytes())),
        },
        Header {
            key: PROPERTIES_HEADER.into(),
            value: Some(Bytes::from(encoded)),
        },
    ];
    if let Some(ttl) = properties
        .expiration()
        .as_ref()
        .and_then(|e| e.as_str().parse::<i64>().ok())
    {
        headers.push(Header {
            key: EXPIRES_AT_HEADER.into(),
            value: Some(Bytes::from(now.saturating_add(ttl).to_string())),
        });
    }
    let mut builder = BatchBuilder::new(Compression::None, now);
    builder.push(now, Some(routing_key.as_bytes()), Some(body), &headers);
    builder.build()
}

/// A stored message's exchange, routing key and properties.
pub struct Envelope {
    pub exchange: String,
    pub routing_key: String,
    pub properties: AMQPProperties,
}

pub fn envelope(record: &QueuedRecord) -> Envelope {
    let header = |name: &str| {
        record
            .headers
            .iter()
            .find(|h| h.key == name)
            .and_then(|h| h.value.clone())
    };
    let text = |name: &str| {
        header(name)
            .and_then(|v| String::from_utf8(v.to_vec()).ok())
            .unwrap_or_default()
    };
    let properties = header(PROPERTIES_HEADER)
        .and_then(|bytes| parse_properties(&bytes[..]).ok().map(|(_, p)| p))
        .unwrap_or_default();
    Envelope {
        exchange: text(EXCHANGE_HEADER),
        routing_key: record
            .key
            .as_ref()
            .map(|key| String::from_utf8_lossy(key).into_owned())
            .unwrap_or_default(),
        properties,
    }
}

/// Sends `method`, then the content header and body of `properties`/`body`, encoded together
/// and queued as one write; false once the connection is gone.
pub async fn send_content(
    out: &Outgoing,
    channel: u16,
    method: AMQPClass,
    properties: AMQPProperties,
    body: &[u8],
    frame_max: u32,
) -> bool {
    let header = AMQPContentHeader {
        class_id: BASIC_CLASS,
        body_size: body.len() as u64,
        properties,
    };
    let mut bytes = encode(&AMQPFrame::Method(channel, method));
    bytes.extend_from_slice(&encode(&AMQPFrame::Header(channel, header)));
    let chunk = (frame_max as usize).saturating_sub(FRAME_OVERHEAD).max(1);
    bytes.reserve(body.len() + body.len().div_ceil(chunk) * FRAME_OVERHEAD);
    for part in body.chunks(chunk) {
        // A body frame is its payload between a 7-byte header and the end byte; written here
        // directly so the body is copied once.
        bytes.push(FRAME_BODY);
        bytes.extend_from_slice(&channel.to_be_bytes());
        bytes.extend_from_slice(&(part.len() as u32).to_be_bytes());
        bytes.extend_from_slice(part);
        bytes.push(FRAME_END);
    }
    out.send(bytes).await.is_ok()
}
