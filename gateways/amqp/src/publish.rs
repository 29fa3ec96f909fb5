//! Routing a message to its queues and appending it to each, with the queues' length limits;
//! and dead-lettering: a message rejected, expired, dropped from a full queue or delivered too
//! often is published again to the queue's dead-letter exchange, with an `x-death` header.

use amq_protocol::protocol::basic::AMQPProperties;
use amq_protocol::types::{AMQPValue, FieldArray, FieldTable};
use neo_broker::Appended;
use neo_broker::queue_handle::QueueHandle;
use neo_broker::queues::QueuedRecord;
use neo_record::now_ms;

use crate::delivery::{envelope, to_batch};
use crate::gateway::Gateway;
use crate::queue_args::Overflow;
use crate::topology::QueueInfo;

/// What a publish did.
#[derive(Default)]
pub struct Published {
    /// The appends to each queue the message went to (the confirm waits for them).
    pub appended: Vec<Appended>,
    /// With `defer`: the message as a batch for each queue without a length limit, for the
    /// caller to append (with others, in one write per queue).
    pub deferred: Vec<(QueueHandle, bytes::BytesMut)>,
    /// A queue refused it (`x-overflow=reject-publish` when full): the confirm is a nack.
    pub refused: bool,
    /// No queue matched.
    pub unroutable: bool,
}

/// Why a message is dead-lettered (RabbitMQ's `x-death` reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Rejected,
    Expired,
    Maxlen,
    DeliveryLimit,
}

impl Reason {
    fn name(self) -> &'static str {
        match self {
            Reason::Rejected => "rejected",
            Reason::Expired => "expired",
            Reason::Maxlen => "maxlen",
            Reason::DeliveryLimit => "delivery_limit",
        }
    }
}

impl Gateway {
    /// Routes and appends one message; `None` when the exchange does not exist. With
    /// `defer`, appends to queues without length limits are left to the caller.
    pub async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        properties: &AMQPProperties,
        body: &[u8],
        defer: bool,
    ) -> Result<Option<Published>, String> {
        let Some(queues) =
            self.topology
                .route(exchange, routing_key, properties.headers().as_ref())
        else {
            return Ok(None);
        };
        let mut published = Published {
            unroutable: queues.is_empty(),
            ..Published::default()
        };
        for name in &queues {
            let Some(info) = self.topology.queue(name) else {
                continue;
            };
            let queue = self.queue(&info);
            let limited = info.args.max_length.is_some() || info.args.max_length_bytes.is_some();
            if limited
                && info.args.overflow == Overflow::RejectPublish
                && would_overflow(&queue, &info, body.len())
                    .await
                    .map_err(|e| e.to_string())?
            {
                published.refused = true;
                continue;
            }
            let batch = to_batch(exchange, routing_key, properties, body, now_ms())
                .map_err(|e| e.to_string())?;
            if defer && !limited {
                published.deferred.push((queue, batch));
                continue;
            }
            let appended = queue
                .enqueue(batch.freeze())
                .await
                .map_err(|e| e.to_string())?;
            published.appended.push(appended);
            if limited {
                self.drop_over_limit(name, &info, &queue)
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(Some(published))
    }

    /// Drops messages from the head of queue `name` (dead-lettering them) until it is within
    /// its `x-max-length` and `x-max-length-bytes`.
    async fn drop_over_limit(
        &self,
        name: &str,
        info: &QueueInfo,
        queue: &QueueHandle,
    ) -> Result<(), neo_broker::BrokerError> {
        loop {
            let over_length = match info.args.max_length {
                Some(max) => queue.depth().await?.saturating_sub(max),
                None => 0,
            };
            let over_bytes = match info.args.max_length_bytes {
                Some(max) => queue.waiting_bytes().await? > max,
                None => false,
            };
            let drop = if over_length > 0 {
                over_length as usize
            } else if over_bytes {
                1
            } else {
                return Ok(());
            };
            let dropped = queue.drop_oldest(drop).await?;
            if dropped.is_empty() {
                return Ok(());
            }
            self.dead_letter(name, info, &dropped, Reason::Maxlen).await;
        }
    }

    /// Dead-letters what a receive settled without delivering: expired records and records
    /// over the delivery limit of the queue behind `topic`.
    pub async fn dead_letter_received(
        &self,
        topic: &str,
        expired: &[QueuedRecord],
        dead: &[QueuedRecord],
    ) {
        if expired.is_empty() && dead.is_empty() {
            return;
        }
        if let Some((name, info)) = self.topology.queue_by_topic(topic) {
            self.dead_letter(&name, &info, expired, Reason::Expired)
                .await;
            self.dead_letter(&name, &info, dead, Reason::DeliveryLimit)
                .await;
        }
    }

    /// Publishes `records` of queue `name` to its dead-letter exchange, if it has one.
    pub async fn dead_letter(
        &self,
        name: &str,
        info: &QueueInfo,
        records: &[QueuedRecord],
        reason: Reason,
    ) {
        let Some(dlx) = &info.args.dead_letter_exchange else {
            return;
        };
        for record in records {
            let env = envelope(record);
            let routing_key = info
                .args
                .dead_letter_routing_key
                .clone()
                .unwrap_or_else(|| env.routing_key.clone());
            let properties = with_death(
                env.properties,
                name,
                reason,
                &env.exchange,
                &env.routing_key,
            );
            let body = record.value.clone().unwrap_or_default();
            // Boxed: a dead-letter exchange's queue may overflow and dead-letter in turn.
            let published = Box::pin(self.publish(dlx, &routing_key, &properties, &body, false));
            if let Err(e) = published.await {
                tracing::warn!(queue = name, error = %e, "amqp: dead-lettering failed");
            }
        }
    }
}

/// Whether a message of `size` bytes would take the queue past its limits, as RabbitMQ's
/// reject-publish decides: it is full at `x-max-length` messages, or the message does not fit
/// in what `x-max-length-bytes` leaves.
async fn would_overflow(
    queue: &QueueHandle,
    info: &QueueInfo,
    size: usize,
) -> Result<bool, neo_broker::BrokerError> {
    if let Some(max) = info.args.max_length
        && queue.depth().await? >= max
    {
        return Ok(true);
    }
    Ok(match info.args.max_length_bytes {
        Some(max) => queue.waiting_bytes().await? + size as u64 > max,
        None => false,
    })
}

/// `properties` with this death recorded in `x-death` (and `x-first-death-*` the first time),
/// and without the per-message expiration, as RabbitMQ does.
fn with_death(
    properties: AMQPProperties,
    queue: &str,
    reason: Reason,
    exchange: &str,
    routing_key: &str,
) -> AMQPProperties {
    let mut headers = properties.headers().clone().unwrap_or_default();
    let mut deaths: Vec<AMQPValue> = match headers.inner().get("x-death") {
        Some(AMQPValue::FieldArray(a)) => a.as_slice().to_vec(),
        _ => Vec::new(),
    };
    let same = |v: &AMQPValue| match v {
        AMQPValue::FieldTable(t) => {
            matches!(t.inner().get("queue"), Some(AMQPValue::LongString(q)) if q.as_bytes() == queue.as_bytes())
                && matches!(t.inner().get("reason"), Some(AMQPValue::LongString(r)) if r.as_bytes() == reason.name().as_bytes())
        }
        _ => false,
    };
    let count = match deaths.iter().position(same) {
        Some(i) => match deaths.remove(i) {
            AMQPValue::FieldTable(t) => match t.inner().get("count") {
                Some(AMQPValue::LongLongInt(n)) => n + 1,
                _ => 1,
            },
            _ => 1,
        },
        None => 1,
    };
    let mut death = FieldTable::default();
    death.insert("count".into(), AMQPValue::LongLongInt(count));
    death.insert("reason".into(), AMQPValue::LongString(reason.name().into()));
    death.insert("queue".into(), AMQPValue::LongString(queue.into()));
    death.insert(
        "time".into(),
        AMQPValue::Timestamp((now_ms() / 1000) as u64),
    );
    death.insert("exchange".into(), AMQPValue::LongString(exchange.into()));
    death.insert(
        "routing-keys".into(),
        AMQPValue::FieldArray(FieldArray::from(vec![AMQPValue::LongString(
            routing_key.into(),
        )])),
    );
    deaths.insert(0, AMQPValue::FieldTable(death));
    if !headers.inner().contains_key("x-first-death-queue") {
        headers.insert(
            "x-first-death-queue".into(),
            AMQPValue::LongString(queue.into()),
        );
        headers.insert(
            "x-first-death-reason".into(),
            AMQPValue::LongString(reason.name().into()),
        );
        headers.insert(
            "x-first-death-exchange".into(),
            AMQPValue::LongString(exchange.into()),
        );
    }
    headers.insert(
        "x-death".into(),
        AMQPValue::FieldArray(FieldArray::from(deaths)),
    );
    without_expiration(&properties).with_headers(headers)
}

/// Every property but `expiration` and `headers`.
fn without_expiration(from: &AMQPProperties) -> AMQPProperties {
    let mut to = AMQPProperties::default();
    if let Some(v) = from.content_type() {
        to = to.with_content_type(v.clone());
    }
    if let Some(v) = from.content_encoding() {
        to = to.with_content_encoding(v.clone());
    }
    if let Some(v) = from.delivery_mode() {
        to = to.with_delivery_mode(*v);
    }
    if let Some(v) = from.priority() {
        to = to.with_priority(*v);
    }
    if let Some(v) = from.correlation_id() {
        to = to.with_correlation_id(v.clone());
    }
    if let Some(v) = from.reply_to() {
        to = to.with_reply_to(v.clone());
    }
    if let Some(v) = from.message_id() {
        to = to.with_message_id(v.clone());
    }
    if let Some(v) = from.timestamp() {
        to = to.with_timestamp(*v);
    }
    if let Some(v) = from.kind() {
        to = to.with_type(v.clone());
    }
    if let Some(v) = from.user_id() {
        to = to.with_user_id(v.clone());
    }
    if let Some(v) = from.app_id() {
        to = to.with_app_id(v.clone());
    }
    if let Some(v) = from.cluster_id() {
        to = to.with_cluster_id(v.clone());
    }
    to
}
