//! An `aws-sdk-sqs` client for a test broker, shared by the SQS tests and the SQS bench.

use std::collections::HashMap;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::QueueAttributeName;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

/// A client of the SQS endpoint `endpoint`, with dummy credentials.
pub fn client(endpoint: &str) -> Client {
    client_as(endpoint, "test")
}

/// A client of the SQS endpoint `endpoint` signing with the access key id `access_key`.
pub fn client_as(endpoint: &str, access_key: &str) -> Client {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(access_key, "test", None, None, "static"))
        .endpoint_url(endpoint)
        .http_client(http)
        .build();
    Client::from_conf(config)
}

/// The error code an SDK error carries (from `x-amzn-query-error` or `__type`).
pub fn code<E: ProvideErrorMetadata>(e: &E) -> String {
    e.code().unwrap_or_default().to_string()
}

/// Creates a queue with `attrs`; returns its URL.
pub async fn create(sqs: &Client, name: &str, attrs: &[(QueueAttributeName, &str)]) -> String {
    let mut req = sqs.create_queue().queue_name(name);
    for (k, v) in attrs {
        req = req.attributes(k.clone(), *v);
    }
    req.send().await.unwrap().queue_url.unwrap()
}

/// The queue attribute `name` (or all, with `QueueAttributeName::All`) of the queue at `url`.
pub async fn attributes(
    sqs: &Client,
    url: &str,
    name: QueueAttributeName,
) -> HashMap<QueueAttributeName, String> {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(name)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()
}
