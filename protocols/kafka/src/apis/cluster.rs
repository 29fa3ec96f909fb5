//! DescribeCluster: the brokers of the cluster and its controller.

use std::sync::Arc;

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;

use crate::context::Context;
use crate::handler::Handler;

pub fn describe(
    handler: &Arc<Handler>,
    context: &Context,
    _request: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let brokers = handler
        .brokers(context)
        .into_iter()
        .map(|(id, host, port)| {
            DescribeClusterBroker::default()
                .with_broker_id(id)
                .with_host(StrBytes::from_string(host))
                .with_port(port)
        })
        .collect();
    DescribeClusterResponse::default()
        .with_cluster_id(StrBytes::from_string(
            handler.broker.cluster_id().to_string(),
        ))
        .with_controller_id(handler.controller_id())
        .with_brokers(brokers)
}
