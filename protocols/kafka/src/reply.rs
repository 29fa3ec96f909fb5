//! What a started request turns into: a response now, one later, or none.

use futures_util::future::BoxFuture;
use kafka_protocol::messages::ResponseKind;

/// What a request turns into once started.
pub enum Reply {
    /// The response is ready.
    Now(Box<ResponseKind>),
    /// The response comes when this future ends (a produce waiting for fsync, a long-poll
    /// fetch). Later requests of the connection are started meanwhile; responses still go out
    /// in request order.
    Later(BoxFuture<'static, ResponseKind>),
    /// No response is sent (`acks=0` produce).
    Nothing,
}
