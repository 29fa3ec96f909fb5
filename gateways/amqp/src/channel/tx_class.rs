//! The tx class: select, commit, rollback.

use amq_protocol::protocol::{AMQPClass, tx};

use super::{Channel, ChannelError, Transaction, soft};
use crate::reply;
use crate::staged::wait_committed;

impl Channel {
    pub(super) async fn tx_method(&mut self, m: tx::AMQPMethod) -> Result<(), ChannelError> {
        let reply = match m {
            tx::AMQPMethod::Select(_) => {
                if self.confirmer.is_some() {
                    return Err(soft(
                        reply::PRECONDITION_FAILED,
                        "PRECONDITION_FAILED - cannot switch from confirm to tx mode",
                    ));
                }
                self.tx.get_or_insert_with(Transaction::default);
                tx::AMQPMethod::SelectOk(tx::SelectOk {})
            }
            tx::AMQPMethod::Commit(_) => {
                let Some(tx) = self.tx.replace(Transaction::default()) else {
                    return Err(soft(
                        reply::PRECONDITION_FAILED,
                        "PRECONDITION_FAILED - channel is not transactional",
                    ));
                };
                for (publish, header, body) in tx.publishes {
                    self.route(publish, header, body).await?;
                }
                for (tag, multiple, how) in tx.settles {
                    self.settle_now(tag, multiple, how).await?;
                }
                let (applied, result) = self.staged.apply(self.deliveries.holder).await;
                result.map_err(|e| soft(reply::INTERNAL_ERROR, format!("INTERNAL_ERROR - {e}")))?;
                // commit-ok once what the transaction published is durable.
                if !wait_committed(applied.waits).await {
                    return Err(soft(
                        reply::INTERNAL_ERROR,
                        "INTERNAL_ERROR - the transaction could not be made durable",
                    ));
                }
                tx::AMQPMethod::CommitOk(tx::CommitOk {})
            }
            tx::AMQPMethod::Rollback(_) => {
                if self.tx.replace(Transaction::default()).is_none() {
                    return Err(soft(
                        reply::PRECONDITION_FAILED,
                        "PRECONDITION_FAILED - channel is not transactional",
                    ));
                }
                tx::AMQPMethod::RollbackOk(tx::RollbackOk {})
            }
            _ => return Err(soft(reply::COMMAND_INVALID, "COMMAND_INVALID")),
        };
        self.send(AMQPClass::Tx(reply)).await;
        Ok(())
    }
}
