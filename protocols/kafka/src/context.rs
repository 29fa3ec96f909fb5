//! What a request may need to know about the connection it came on.

use std::net::SocketAddr;

use neo_broker::acls::Caller;

/// Per-connection facts a request may need.
pub struct Context {
    /// The address the client connected to: advertised when nothing is configured.
    pub local_addr: SocketAddr,
    /// The client's address, shown as a group member's host.
    pub peer_addr: Option<SocketAddr>,
    /// Who the client is for ACLs, worked out once per connection.
    pub caller: Caller,
}

impl Context {
    /// The facts of a connection the client made to `local_addr` from `peer_addr`.
    pub fn new(local_addr: SocketAddr, peer_addr: Option<SocketAddr>) -> Context {
        // Unauthenticated (no SASL yet), known by its IP address.
        let host = peer_addr.map(|a| a.ip().to_string()).unwrap_or_default();
        Context {
            local_addr,
            peer_addr,
            caller: Caller::anonymous(host),
        }
    }

    /// The client host as Kafka shows it (`/127.0.0.1`).
    pub fn peer_host(&self) -> String {
        self.peer_addr
            .map(|a| format!("/{}", a.ip()))
            .unwrap_or_default()
    }
}
