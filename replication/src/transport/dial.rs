//! Opening a connection to a peer: bind the configured local address, connect, and exchange
//! the hello that checks both ends are in the same cluster and the peer is the node we meant.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};

use super::config::TransportConfig;
use super::error::CallError;
use super::frame::FrameCodec;
use super::frame_io::read_frame;
use super::message::{Request, Response};
use super::peer_table::PeerTable;
use crate::types::NodeId;

/// Opens connections from this node to its peers.
#[derive(Debug, Clone)]
pub(crate) struct Dialer {
    pub(crate) node_id: NodeId,
    pub(crate) config: Arc<TransportConfig>,
    pub(crate) codec: FrameCodec,
    pub(crate) peers: Arc<PeerTable>,
}

impl Dialer {
    /// A connection to `target` that has passed the hello, with any bytes read past the welcome.
    pub(crate) async fn dial(&self, target: NodeId) -> Result<(TcpStream, BytesMut), CallError> {
        let addr = self.peers.get(target).ok_or(CallError::NoAddress(target))?;
        let failed = |reason: String| CallError::Connect {
            node: target,
            addr,
            reason,
        };
        tokio::time::timeout(
            self.config.connect_timeout,
            self.connect_and_greet(target, addr),
        )
        .await
        .map_err(|_| {
            failed(format!(
                "no answer within {:?}",
                self.config.connect_timeout
            ))
        })?
        .map_err(failed)
    }

    async fn connect_and_greet(
        &self,
        target: NodeId,
        addr: SocketAddr,
    ) -> Result<(TcpStream, BytesMut), String> {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .map_err(|e| e.to_string())?;
        if let Some(local) = self.config.local_address {
            socket
                .bind(SocketAddr::new(local, 0))
                .map_err(|e| format!("cannot bind local address {local}: {e}"))?;
        }
        let mut stream = socket.connect(addr).await.map_err(|e| e.to_string())?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;

        let hello = Request::Hello {
            node_id: self.node_id,
            cluster_id: self.config.cluster_id.clone(),
        };
        let mut out = BytesMut::new();
        self.codec
            .encode(0, &hello, &mut out)
            .map_err(|e| e.to_string())?;
        stream.write_all(&out).await.map_err(|e| e.to_string())?;

        let mut buf = BytesMut::new();
        match read_frame::<Response, _>(&mut stream, &mut buf, &self.codec).await {
            Ok(Some((_, Response::Welcome { node_id }))) if node_id == target => Ok((stream, buf)),
            Ok(Some((_, Response::Welcome { node_id }))) => Err(format!(
                "the address belongs to node {node_id}, not {target}"
            )),
            Ok(Some((_, Response::Error(error)))) => Err(error.to_string()),
            Ok(Some((_, other))) => Err(format!("answered {} to the hello", other.kind())),
            Ok(None) => Err("closed before answering the hello".to_owned()),
            Err(e) => Err(e.to_string()),
        }
    }
}
