//! The cluster listener: accepts peers' connections and serves each on its own task.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::connection::serve_connection;
use super::server_context::ServerContext;

/// How long to wait after a failed accept (out of file descriptors, say) before the next.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Accepts connections until aborted; aborting it closes every connection it accepted.
pub(crate) async fn accept_connections(listener: TcpListener, context: Arc<ServerContext>) {
    let mut connections = JoinSet::new();
    loop {
        match listener.accept().await {
            Ok((stream, remote)) => {
                while connections.try_join_next().is_some() {}
                connections.spawn(serve_connection(stream, remote, context.clone()));
            }
            Err(error) => {
                tracing::warn!(%error, "cannot accept a cluster connection");
                tokio::time::sleep(ACCEPT_RETRY).await;
            }
        }
    }
}
