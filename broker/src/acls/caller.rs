//! Who asks (a principal from a host), what about (a resource), and the refusal a front-end
//! turns into its protocol's error.

use super::kinds::{Operation, ResourceType};

/// The name of the one cluster resource: the one Kafka's tools use, so that the bindings they
/// create for the cluster apply.
pub const CLUSTER: &str = "kafka-cluster";

/// The principal of a client that did not authenticate.
pub const ANONYMOUS: &str = "User:ANONYMOUS";

/// What a caller is: its principal and host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// `Type:name`, e.g. `User:alice`.
    pub principal: String,
    /// The client's IP address as text (`127.0.0.1`).
    pub host: String,
}

impl Caller {
    /// An unauthenticated client connecting from `host`.
    pub fn anonymous(host: String) -> Caller {
        Caller {
            principal: ANONYMOUS.to_string(),
            host,
        }
    }

    /// The user `name` (principal `User:<name>`) connecting from `host`.
    pub fn user(name: &str, host: String) -> Caller {
        Caller {
            principal: format!("User:{name}"),
            host,
        }
    }
}

/// One resource an operation is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource<'a> {
    pub resource_type: ResourceType,
    pub name: &'a str,
}

impl<'a> Resource<'a> {
    /// The topic `name`.
    pub fn topic(name: &'a str) -> Resource<'a> {
        Resource {
            resource_type: ResourceType::Topic,
            name,
        }
    }

    /// The consumer group `name`.
    pub fn group(name: &'a str) -> Resource<'a> {
        Resource {
            resource_type: ResourceType::Group,
            name,
        }
    }

    /// The cluster.
    pub fn cluster() -> Resource<'static> {
        Resource {
            resource_type: ResourceType::Cluster,
            name: CLUSTER,
        }
    }
}

/// An operation the ACLs refuse a caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{principal} from host {host:?} may not {operation} {resource_type} {name:?}")]
pub struct Denied {
    pub principal: String,
    pub host: String,
    pub operation: Operation,
    pub resource_type: ResourceType,
    pub name: String,
    /// A DENY binding refused it (rather than the lack of an ALLOW where bindings exist).
    pub by_deny: bool,
}
