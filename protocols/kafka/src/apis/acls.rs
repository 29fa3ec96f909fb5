//! DescribeAcls, CreateAcls and DeleteAcls (KIP-140), on the broker's ACLs. Describing needs
//! DESCRIBE on the cluster, changing needs ALTER, as in Kafka.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{
    CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
    DescribeAclsRequest, DescribeAclsResponse,
};
use kafka_protocol::protocol::StrBytes;
use neo_broker::acls::{AclBinding, AclFilter, CLUSTER, operation, resource};

use crate::error_codes;
use crate::handler::{Context, Handler};

fn allowed(handler: &Handler, context: &Context, op: i8) -> bool {
    handler
        .broker
        .acls()
        .authorize(&context.caller, op, resource::CLUSTER, CLUSTER)
}

fn text(s: &Option<StrBytes>) -> Option<String> {
    s.as_ref().map(|s| s.as_str().to_string())
}

pub fn describe(
    handler: &Arc<Handler>,
    context: &Context,
    request: DescribeAclsRequest,
) -> DescribeAclsResponse {
    if !allowed(handler, context, operation::DESCRIBE) {
        return DescribeAclsResponse::default()
            .with_error_code(ResponseError::ClusterAuthorizationFailed.code());
    }
    let filter = AclFilter {
        resource_type: request.resource_type_filter,
        resource_name: text(&request.resource_name_filter),
        pattern_type: request.pattern_type_filter,
        principal: text(&request.principal_filter),
        host: text(&request.host_filter),
        operation: request.operation,
        permission: request.permission_type,
    };
    let mut by_resource: BTreeMap<(i8, String, i8), Vec<AclDescription>> = BTreeMap::new();
    for b in handler.broker.acls().describe(&filter) {
        by_resource
            .entry((b.resource_type, b.resource_name.clone(), b.pattern_type))
            .or_default()
            .push(
                AclDescription::default()
                    .with_principal(b.principal.into())
                    .with_host(b.host.into())
                    .with_operation(b.operation)
                    .with_permission_type(b.permission),
            );
    }
    let resources = by_resource
        .into_iter()
        .map(|((resource_type, name, pattern_type), acls)| {
            DescribeAclsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(name.into())
                .with_pattern_type(pattern_type)
                .with_acls(acls)
        })
        .collect();
    DescribeAclsResponse::default().with_resources(resources)
}

pub async fn create(
    handler: &Arc<Handler>,
    context: &Context,
    request: CreateAclsRequest,
) -> CreateAclsResponse {
    let refused = |code: i16, message: String| {
        AclCreationResult::default()
            .with_error_code(code)
            .with_error_message(Some(message.into()))
    };
    if !allowed(handler, context, operation::ALTER) {
        let results = request
            .creations
            .iter()
            .map(|_| {
                refused(
                    ResponseError::ClusterAuthorizationFailed.code(),
                    "ALTER on the cluster is needed to create ACLs".into(),
                )
            })
            .collect();
        return CreateAclsResponse::default().with_results(results);
    }
    let bindings: Vec<Result<AclBinding, String>> = request
        .creations
        .into_iter()
        .map(|c| {
            let b = AclBinding {
                resource_type: c.resource_type,
                resource_name: c.resource_name.as_str().to_string(),
                pattern_type: c.resource_pattern_type,
                principal: c.principal.as_str().to_string(),
                host: c.host.as_str().to_string(),
                operation: c.operation,
                permission: c.permission_type,
            };
            b.validate().map(|()| b)
        })
        .collect();
    let valid: Vec<AclBinding> = bindings.iter().filter_map(|b| b.clone().ok()).collect();
    let stored = handler.broker.create_acls(&valid).await;
    let results = bindings
        .into_iter()
        .map(|b| match (b, &stored) {
            (Err(reason), _) => refused(ResponseError::InvalidRequest.code(), reason),
            (Ok(_), Err(e)) => refused(error_codes::code(e), e.to_string()),
            (Ok(_), Ok(())) => AclCreationResult::default(),
        })
        .collect();
    CreateAclsResponse::default().with_results(results)
}

pub async fn delete(
    handler: &Arc<Handler>,
    context: &Context,
    request: DeleteAclsRequest,
) -> DeleteAclsResponse {
    let failed = |filters: &[DeleteAclsFilter], code: i16, message: String| {
        filters
            .iter()
            .map(|_| {
                DeleteAclsFilterResult::default()
                    .with_error_code(code)
                    .with_error_message(Some(message.clone().into()))
            })
            .collect()
    };
    if !allowed(handler, context, operation::ALTER) {
        let results = failed(
            &request.filters,
            ResponseError::ClusterAuthorizationFailed.code(),
            "ALTER on the cluster is needed to delete ACLs".into(),
        );
        return DeleteAclsResponse::default().with_filter_results(results);
    }
    let filters: Vec<AclFilter> = request
        .filters
        .iter()
        .map(|f| AclFilter {
            resource_type: f.resource_type_filter,
            resource_name: text(&f.resource_name_filter),
            pattern_type: f.pattern_type_filter,
            principal: text(&f.principal_filter),
            host: text(&f.host_filter),
            operation: f.operation,
            permission: f.permission_type,
        })
        .collect();
    let results = match handler.broker.delete_acls(&filters).await {
        Err(e) => failed(&request.filters, error_codes::code(&e), e.to_string()),
        Ok(removed) => removed
            .into_iter()
            .map(|bindings| {
                DeleteAclsFilterResult::default().with_matching_acls(
                    bindings
                        .into_iter()
                        .map(|b| {
                            DeleteAclsMatchingAcl::default()
                                .with_resource_type(b.resource_type)
                                .with_resource_name(b.resource_name.into())
                                .with_pattern_type(b.pattern_type)
                                .with_principal(b.principal.into())
                                .with_host(b.host.into())
                                .with_operation(b.operation)
                                .with_permission_type(b.permission)
                        })
                        .collect(),
                )
            })
            .collect(),
    };
    DeleteAclsResponse::default().with_filter_results(results)
}
