//! Queue arguments RabbitMQ users rely on, checked as RabbitMQ checks them: `x-message-ttl`, `x-expires`,
//! `x-dead-letter-exchange`, `x-dead-letter-routing-key`, `x-max-length`,
//! `x-max-length-bytes`, `x-overflow`, `x-delivery-limit`, `x-queue-type`,
//! `x-single-active-consumer`.

use amq_protocol::types::{AMQPValue, FieldTable};
use serde::{Deserialize, Serialize};

/// What a queue does when it is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Overflow {
    #[default]
    DropHead,
    RejectPublish,
}

/// The parsed arguments of a queue.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct QueueArgs {
    pub message_ttl_ms: Option<i64>,
    pub dead_letter_exchange: Option<String>,
    pub dead_letter_routing_key: Option<String>,
    pub max_length: Option<u64>,
    pub max_length_bytes: Option<u64>,
    pub overflow: Overflow,
    pub delivery_limit: Option<u32>,
    pub single_active_consumer: bool,
    /// Deleted after this long without consumers or use (`x-expires`).
    #[serde(default)]
    pub expires_ms: Option<i64>,
}

fn integer(v: &AMQPValue) -> Option<i64> {
    Some(match v {
        AMQPValue::ShortShortInt(n) => i64::from(*n),
        AMQPValue::ShortShortUInt(n) => i64::from(*n),
        AMQPValue::ShortInt(n) => i64::from(*n),
        AMQPValue::ShortUInt(n) => i64::from(*n),
        AMQPValue::LongInt(n) => i64::from(*n),
        AMQPValue::LongUInt(n) => i64::from(*n),
        AMQPValue::LongLongInt(n) => *n,
        AMQPValue::Timestamp(n) => i64::try_from(*n).ok()?,
        _ => return None,
    })
}

fn text(v: &AMQPValue) -> Option<String> {
    match v {
        AMQPValue::LongString(s) => String::from_utf8(s.as_bytes().to_vec()).ok(),
        AMQPValue::ShortString(s) => Some(s.as_str().to_string()),
        _ => None,
    }
}

impl QueueArgs {
    /// Parses `arguments`; the error is RabbitMQ's PRECONDITION_FAILED text.
    pub fn parse(queue: &str, arguments: &FieldTable) -> Result<QueueArgs, String> {
        let invalid = |name: &str| {
            format!("PRECONDITION_FAILED - invalid arg '{name}' for queue '{queue}' in vhost '/'")
        };
        let mut args = QueueArgs::default();
        for (key, value) in arguments.inner() {
            let name = key.as_str();
            let non_negative = || {
                integer(value)
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| invalid(name))
            };
            match name {
                "x-message-ttl" => args.message_ttl_ms = Some(non_negative()?),
                "x-dead-letter-exchange" => {
                    args.dead_letter_exchange = Some(text(value).ok_or_else(|| invalid(name))?)
                }
                "x-dead-letter-routing-key" => {
                    args.dead_letter_routing_key = Some(text(value).ok_or_else(|| invalid(name))?)
                }
                "x-expires" => {
                    args.expires_ms = Some(
                        integer(value)
                            .filter(|n| *n > 0)
                            .ok_or_else(|| invalid(name))?,
                    )
                }
                "x-max-length" => args.max_length = Some(non_negative()? as u64),
                "x-max-length-bytes" => args.max_length_bytes = Some(non_negative()? as u64),
                "x-delivery-limit" => {
                    args.delivery_limit =
                        Some(u32::try_from(non_negative()?).map_err(|_| invalid(name))?)
                }
                "x-overflow" => {
                    args.overflow = match text(value).as_deref() {
                        Some("drop-head") => Overflow::DropHead,
                        Some("reject-publish") | Some("reject-publish-dlx") => {
                            Overflow::RejectPublish
                        }
                        _ => return Err(invalid(name)),
                    }
                }
                "x-single-active-consumer" => {
                    args.single_active_consumer = match value {
                        AMQPValue::Boolean(b) => *b,
                        _ => return Err(invalid(name)),
                    }
                }
                "x-queue-type" => match text(value).as_deref() {
                    Some("classic") | Some("quorum") => {}
                    _ => return Err(invalid(name)),
                },
                // Accepted and not acted on, as RabbitMQ ignores arguments it does not know.
                _ => {}
            }
        }
        if args.dead_letter_routing_key.is_some() && args.dead_letter_exchange.is_none() {
            return Err(format!(
                "PRECONDITION_FAILED - invalid arg 'x-dead-letter-routing-key' for queue '{queue}' in vhost '/': Key x-dead-letter-exchange should be present"
            ));
        }
        Ok(args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_parse_and_bad_ones_are_refused() {
        let mut t = FieldTable::default();
        t.insert("x-message-ttl".into(), AMQPValue::LongInt(5000));
        t.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString("dlx".into()),
        );
        t.insert("x-max-length".into(), AMQPValue::ShortUInt(10));
        t.insert(
            "x-overflow".into(),
            AMQPValue::LongString("reject-publish".into()),
        );
        t.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("quorum".into()),
        );
        let args = QueueArgs::parse("q", &t).unwrap();
        assert_eq!(args.message_ttl_ms, Some(5000));
        assert_eq!(args.dead_letter_exchange.as_deref(), Some("dlx"));
        assert_eq!(args.max_length, Some(10));
        assert_eq!(args.overflow, Overflow::RejectPublish);
        let mut bad = FieldTable::default();
        bad.insert("x-message-ttl".into(), AMQPValue::LongString("soon".into()));
        assert!(
            QueueArgs::parse("q", &bad)
                .unwrap_err()
                .contains("invalid arg 'x-message-ttl'")
        );
        let mut orphan = FieldTable::default();
        orphan.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString("k".into()),
        );
        assert!(QueueArgs::parse("q", &orphan).is_err());
    }
}
