//! Settings of the SQS gateway.

use std::net::SocketAddr;

/// How the SQS gateway listens and how it names queues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqsConfig {
    /// Where to listen (the port of SQS emulators by default).
    pub listen: SocketAddr,
    /// The scheme, host and port queue URLs start with; `http://localhost:<port>` when unset.
    pub advertised_url: Option<String>,
    /// The account id in queue URLs and ARNs.
    pub account_id: String,
    /// The region in queue ARNs.
    pub region: String,
    /// Largest request body read; longer ones are refused before they are read.
    pub max_body_bytes: usize,
}

impl Default for SqsConfig {
    fn default() -> Self {
        SqsConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 9324)),
            advertised_url: None,
            account_id: "000000000000".into(),
            region: "us-east-1".into(),
            max_body_bytes: 16 << 20,
        }
    }
}
