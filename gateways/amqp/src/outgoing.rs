//! The queue of encoded frames a connection's writer drains: where its channels and consumers
//! send frames.

use amq_protocol::frame::AMQPFrame;
use tokio::sync::mpsc;

use crate::frames;

/// Where channels and consumers send frames.
pub type Outgoing = mpsc::Sender<Vec<u8>>;

/// Sends one frame; false once the connection is gone.
pub async fn send(out: &Outgoing, frame: AMQPFrame) -> bool {
    out.send(frames::encode(&frame)).await.is_ok()
}
