//! basic.publish and its content frames: a message assembled, then held for tx.commit or
//! routed and staged.

use amq_protocol::frame::AMQPContentHeader;
use amq_protocol::protocol::{AMQPClass, basic};

use super::{Channel, ChannelError, ConnectionError, Pending, STAGED_BYTES, TX_BYTES, soft};
use crate::delivery::send_content;
use crate::reply;

impl Channel {
    pub(super) async fn content_header(
        &mut self,
        header: AMQPContentHeader,
    ) -> Result<Result<(), ChannelError>, ConnectionError> {
        let Some(pending) = self.pending.as_mut().filter(|p| p.header.is_none()) else {
            return Err(ConnectionError {
                code: reply::UNEXPECTED_FRAME,
                text: "UNEXPECTED_FRAME - content header without basic.publish".into(),
                class_id: 60,
                method_id: 40,
            });
        };
        let done = header.body_size == 0;
        pending.header = Some(header);
        if done {
            return Ok(self.publish().await);
        }
        Ok(Ok(()))
    }

    pub(super) async fn content_body(
        &mut self,
        body: Vec<u8>,
    ) -> Result<Result<(), ChannelError>, ConnectionError> {
        let unexpected = || ConnectionError {
            code: reply::UNEXPECTED_FRAME,
            text: "UNEXPECTED_FRAME - content body without its header".into(),
            class_id: 60,
            method_id: 40,
        };
        let Some(pending) = self.pending.as_mut() else {
            return Err(unexpected());
        };
        let Some(size) = pending.header.as_ref().map(|h| h.body_size) else {
            return Err(unexpected());
        };
        pending.body.extend_from_slice(&body);
        let have = pending.body.len() as u64;
        if have > size {
            return Err(ConnectionError {
                code: reply::FRAME_ERROR,
                text: "FRAME_ERROR - body longer than its header said".into(),
                class_id: 60,
                method_id: 40,
            });
        }
        if have == size {
            return Ok(self.publish().await);
        }
        Ok(Ok(()))
    }

    /// A complete message: held for tx.commit in a transaction, else routed and staged.
    pub(super) async fn publish(&mut self) -> Result<(), ChannelError> {
        let Some(Pending {
            publish,
            header: Some(header),
            body,
        }) = self.pending.take()
        else {
            return Ok(());
        };
        if let Some(tx) = &mut self.tx {
            tx.bytes += body.len();
            if tx.bytes > TX_BYTES {
                return Err(soft(
                    reply::PRECONDITION_FAILED,
                    format!(
                        "PRECONDITION_FAILED - a transaction may publish at most {TX_BYTES} bytes"
                    ),
                ));
            }
            tx.publishes.push((publish, header, body));
            return Ok(());
        }
        self.route(publish, header, body).await?;
        if self.staged.bytes() > STAGED_BYTES {
            self.apply_staged().await?;
        }
        Ok(())
    }

    /// Routes a message and stages its appends (and its confirm); returns it to the publisher
    /// when it is mandatory and no queue took it.
    pub(super) async fn route(
        &mut self,
        publish: basic::Publish,
        header: AMQPContentHeader,
        body: Vec<u8>,
    ) -> Result<(), ChannelError> {
        let exchange = publish.exchange.as_str();
        let routing_key = publish.routing_key.as_str();
        let seq = self.confirmer.is_some().then(|| {
            self.published += 1;
            self.published
        });
        let published = self
            .gateway
            .publish(exchange, routing_key, &header.properties, &body, true)
            .await
            .map_err(|e| soft(reply::INTERNAL_ERROR, format!("INTERNAL_ERROR - {e}")))?
            .ok_or_else(|| {
                soft(
                    reply::NOT_FOUND,
                    format!("NOT_FOUND - no exchange '{exchange}'"),
                )
            })?;
        if published.unroutable && publish.mandatory {
            let ret = AMQPClass::Basic(basic::AMQPMethod::Return(basic::Return {
                reply_code: reply::NO_ROUTE,
                reply_text: "NO_ROUTE".into(),
                exchange: publish.exchange.clone(),
                routing_key: publish.routing_key.clone(),
            }));
            send_content(
                &self.out,
                self.id,
                ret,
                header.properties.clone(),
                &body,
                self.gateway.config.frame_max,
            )
            .await;
        }
        self.staged.publish(published, seq);
        Ok(())
    }
}
