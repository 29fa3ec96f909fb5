//! The transport's connections as a peer sees them on the wire.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::BytesMut;
use neo_replication::group_id::GroupId;
use neo_replication::transport::frame::FrameCodec;
use neo_replication::transport::message::{RemoteError, Request, Response};
use neo_replication::transport::{ClusterTransport, TransportConfig};
use neo_replication::types::NeoRaft;
use openraft::network::RPCOption;
use openraft::raft::VoteRequest;
use openraft::{BasicNode, RaftNetworkFactory, RaftNetworkV2, Vote};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const MAX_FRAME: usize = 1 << 20;

async fn transport() -> (ClusterTransport, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = TransportConfig {
        cluster_id: "here".to_owned(),
        max_frame_bytes: MAX_FRAME,
        snapshot_chunk_bytes: MAX_FRAME / 2,
        ..TransportConfig::default()
    };
    let listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let transport = ClusterTransport::start(1, listen, dir.path().join("staging"), config)
        .await
        .unwrap();
    (transport, dir)
}

async fn send(stream: &mut TcpStream, request: &Request) {
    let mut out = BytesMut::new();
    FrameCodec::new(MAX_FRAME)
        .encode(9, request, &mut out)
        .unwrap();
    stream.write_all(&out).await.unwrap();
}

/// The next answer, or `None` once the transport closed the connection.
async fn answer(stream: &mut TcpStream) -> Option<Response> {
    let codec = FrameCodec::new(MAX_FRAME);
    let mut buf = BytesMut::new();
    loop {
        if let Some((_, response)) = codec.decode::<Response>(&mut buf).unwrap() {
            return Some(response);
        }
        if stream.read_buf(&mut buf).await.unwrap() == 0 {
            return None;
        }
    }
}

fn hello(cluster_id: &str) -> Request {
    Request::Hello {
        node_id: 2,
        cluster_id: cluster_id.to_owned(),
    }
}

#[tokio::test]
async fn a_hello_from_another_cluster_is_refused() {
    let (transport, _dir) = transport().await;
    let mut stream = TcpStream::connect(transport.local_addr()).await.unwrap();
    send(&mut stream, &hello("elsewhere")).await;
    let refused = answer(&mut stream).await;
    assert!(
        matches!(
            refused,
            Some(Response::Error(RemoteError::ClusterMismatch { ref offered, .. })) if offered == "elsewhere"
        ),
        "{refused:?}"
    );
    assert!(answer(&mut stream).await.is_none(), "connection closed");
}

#[tokio::test]
async fn a_request_for_a_group_not_open_here_gets_a_typed_error() {
    let (transport, _dir) = transport().await;
    let mut stream = TcpStream::connect(transport.local_addr()).await.unwrap();
    send(&mut stream, &hello("here")).await;
    assert!(matches!(
        answer(&mut stream).await,
        Some(Response::Welcome { node_id: 1 })
    ));
    let group = GroupId::Partition {
        topic_id: 1,
        partition: 2,
    };
    let vote = Request::Vote {
        group,
        rpc: VoteRequest::<NeoRaft>::new(Vote::new(1, 2), None),
    };
    send(&mut stream, &vote).await;
    let unknown = answer(&mut stream).await;
    assert!(
        matches!(unknown, Some(Response::Error(RemoteError::UnknownGroup(g))) if g == group),
        "{unknown:?}"
    );
}

#[tokio::test]
async fn a_frame_over_the_limit_closes_the_connection() {
    let (transport, _dir) = transport().await;
    let mut stream = TcpStream::connect(transport.local_addr()).await.unwrap();
    send(&mut stream, &hello("here")).await;
    assert!(matches!(
        answer(&mut stream).await,
        Some(Response::Welcome { .. })
    ));
    stream
        .write_all(&(MAX_FRAME as u32 + 1).to_be_bytes())
        .await
        .unwrap();
    assert!(answer(&mut stream).await.is_none(), "connection closed");
}

#[tokio::test]
async fn outgoing_connections_bind_the_configured_local_address() {
    let local = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));
    let dir = tempfile::tempdir().unwrap();
    let config = TransportConfig {
        local_address: Some(local),
        ..TransportConfig::default()
    };
    let transport = ClusterTransport::start(
        1,
        SocketAddr::new(local, 0),
        dir.path().join("staging"),
        config,
    )
    .await
    .unwrap();
    let peer = TcpListener::bind("127.0.0.1:0").await.unwrap();
    transport.set_peer(2, peer.local_addr().unwrap());

    let mut network = transport
        .network(GroupId::Controller)
        .new_client(2, &BasicNode::default())
        .await;
    let vote = VoteRequest::<NeoRaft>::new(Vote::new(1, 1), None);
    let call = tokio::spawn(async move {
        network
            .vote(vote, RPCOption::new(Duration::from_secs(2)))
            .await
            .is_ok()
    });
    let (_stream, from) = peer.accept().await.unwrap();
    assert_eq!(from.ip(), local);
    assert!(!call.await.unwrap(), "the fake peer never answers");
}
