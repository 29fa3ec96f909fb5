//! DescribeCluster: this one broker.

use std::sync::Arc;

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;

use crate::context::Context;
use crate::handler::Handler;

pub fn describe(
    handler: &Arc<Handler>,
    context: &Context,
    _request: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let (host, port) = handler.advertised(context);
    let node = BrokerId(handler.config.node_id);
    DescribeClusterResponse::default()
        .with_cluster_id(StrBytes::from_string(
            handler.broker.cluster_id().to_string(),
        ))
        .with_controller_id(node)
        .with_brokers(vec![
            DescribeClusterBroker::default()
                .with_broker_id(node)
                .with_host(StrBytes::from_string(host))
                .with_port(port),
        ])
}
