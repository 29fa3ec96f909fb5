//! What the connections of this node serve with: the node's context, and the queue each
//! connection's answers go through.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::sync::mpsc;

use super::call_handler::CallHandler;
use super::config::TransportConfig;
use super::frame::FrameCodec;
use super::frame_io::EncodedFrame;
use super::last_heard::LastHeard;
use super::message::Response;
use super::registry::GroupRegistry;
use crate::types::NodeId;

/// What every incoming connection of this node serves with.
pub(crate) struct ServerContext {
    pub(crate) node_id: NodeId,
    pub(crate) config: Arc<TransportConfig>,
    pub(crate) codec: FrameCodec,
    pub(crate) registry: Arc<GroupRegistry>,
    pub(crate) staging_dir: PathBuf,
    pub(crate) calls: Arc<parking_lot::RwLock<Option<Arc<dyn CallHandler>>>>,
    pub(crate) last_heard: Arc<LastHeard>,
}

/// Queues answers for the connection's writer.
#[derive(Clone)]
pub(crate) struct Responder {
    queue: mpsc::Sender<EncodedFrame>,
    codec: FrameCodec,
}

impl Responder {
    /// Answers go to `queue`, encoded with `codec`.
    pub(crate) fn new(queue: mpsc::Sender<EncodedFrame>, codec: FrameCodec) -> Responder {
        Responder { queue, codec }
    }

    pub(crate) async fn send(&self, correlation: u64, response: Response) {
        let mut bytes = BytesMut::new();
        if let Err(error) = self.codec.encode(correlation, &response, &mut bytes) {
            // Answers are far smaller than the requests they answer; the caller times out.
            tracing::error!(%error, kind = response.kind(), "cannot encode a cluster answer");
            return;
        }
        let frame = EncodedFrame {
            correlation,
            bytes: bytes.freeze(),
        };
        // Fails only when the connection is closing: nobody is left to answer.
        let _ = self.queue.send(frame).await;
    }
}
