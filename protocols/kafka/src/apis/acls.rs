//! DescribeAcls, CreateAcls and DeleteAcls (KIP-140), on the broker's ACLs. Describing needs
//! DESCRIBE on the cluster, changing needs ALTER, as in Kafka.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{
    CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
    DescribeAclsRequest, DescribeAclsResponse,
};
use kafka_protocol::protocol::StrBytes;
use neo_broker::acls::{AclBinding, AclFilter, Operation, Resource};

use crate::acl_codes::{
    any_or, operation, operation_code, pattern_filter, pattern_type, pattern_type_code, permission,
    permission_code, resource_type, resource_type_code,
};
use crate::context::Context;
use crate::error_codes;
use crate::handler::Handler;

fn text(s: &Option<StrBytes>) -> Option<String> {
    s.as_ref().map(|s| s.as_str().to_string())
}

/// The filter the request's fields describe, or why they describe none.
fn filter(
    resource_type_filter: i8,
    resource_name: &Option<StrBytes>,
    pattern_type_filter: i8,
    principal: &Option<StrBytes>,
    host: &Option<StrBytes>,
    operation_filter: i8,
    permission_filter: i8,
) -> Result<AclFilter, String> {
    Ok(AclFilter {
        resource_type: any_or(resource_type_filter, resource_type)?,
        resource_name: text(resource_name),
        pattern: pattern_filter(pattern_type_filter)?,
        principal: text(principal),
        host: text(host),
        operation: any_or(operation_filter, operation)?,
        permission: any_or(permission_filter, permission)?,
    })
}

pub fn describe(
    handler: &Arc<Handler>,
    context: &Context,
    request: DescribeAclsRequest,
) -> DescribeAclsResponse {
    if let Some(code) = handler.refusal(context, Operation::Describe, Resource::cluster()) {
        return DescribeAclsResponse::default().with_error_code(code);
    }
    let filter = filter(
        request.resource_type_filter,
        &request.resource_name_filter,
        request.pattern_type_filter,
        &request.principal_filter,
        &request.host_filter,
        request.operation,
        request.permission_type,
    );
    let filter = match filter {
        Ok(filter) => filter,
        Err(reason) => {
            return DescribeAclsResponse::default()
                .with_error_code(ResponseError::InvalidRequest.code())
                .with_error_message(Some(reason.into()));
        }
    };
    let mut by_resource: BTreeMap<_, Vec<AclDescription>> = BTreeMap::new();
    for b in handler.broker.acls().describe(&filter) {
        by_resource
            .entry((b.resource_type, b.resource_name.clone(), b.pattern_type))
            .or_default()
            .push(
                AclDescription::default()
                    .with_principal(b.principal.into())
                    .with_host(b.host.into())
                    .with_operation(operation_code(b.operation))
                    .with_permission_type(permission_code(b.permission)),
            );
    }
    let resources = by_resource
        .into_iter()
        .map(|((resource_type, name, pattern_type), acls)| {
            DescribeAclsResource::default()
                .with_resource_type(resource_type_code(resource_type))
                .with_resource_name(name.into())
                .with_pattern_type(pattern_type_code(pattern_type))
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
    if let Some(code) = handler.refusal(context, Operation::Alter, Resource::cluster()) {
        let results = request
            .creations
            .iter()
            .map(|_| refused(code, "ALTER on the cluster is needed to create ACLs".into()))
            .collect();
        return CreateAclsResponse::default().with_results(results);
    }
    let bindings: Vec<Result<AclBinding, String>> = request
        .creations
        .into_iter()
        .map(|c| {
            let b = AclBinding {
                resource_type: resource_type(c.resource_type)?,
                resource_name: c.resource_name.as_str().to_string(),
                pattern_type: pattern_type(c.resource_pattern_type)?,
                principal: c.principal.as_str().to_string(),
                host: c.host.as_str().to_string(),
                operation: operation(c.operation)?,
                permission: permission(c.permission_type)?,
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
    let failed = |code: i16, message: String| {
        DeleteAclsFilterResult::default()
            .with_error_code(code)
            .with_error_message(Some(message.into()))
    };
    if let Some(code) = handler.refusal(context, Operation::Alter, Resource::cluster()) {
        let results = request
            .filters
            .iter()
            .map(|_| failed(code, "ALTER on the cluster is needed to delete ACLs".into()))
            .collect();
        return DeleteAclsResponse::default().with_filter_results(results);
    }
    let filters: Vec<Result<AclFilter, String>> = request
        .filters
        .iter()
        .map(|f| {
            filter(
                f.resource_type_filter,
                &f.resource_name_filter,
                f.pattern_type_filter,
                &f.principal_filter,
                &f.host_filter,
                f.operation,
                f.permission_type,
            )
        })
        .collect();
    let valid: Vec<AclFilter> = filters.iter().filter_map(|f| f.clone().ok()).collect();
    let mut removed = handler.broker.delete_acls(&valid).await.map(Vec::into_iter);
    let results = filters
        .into_iter()
        .map(|f| match (f, &mut removed) {
            (Err(reason), _) => failed(ResponseError::InvalidRequest.code(), reason),
            (Ok(_), Err(e)) => failed(error_codes::code(e), e.to_string()),
            (Ok(_), Ok(removed)) => DeleteAclsFilterResult::default().with_matching_acls(
                removed
                    .next()
                    .unwrap_or_default()
                    .into_iter()
                    .map(matching)
                    .collect(),
            ),
        })
        .collect();
    DeleteAclsResponse::default().with_filter_results(results)
}

fn matching(b: AclBinding) -> DeleteAclsMatchingAcl {
    DeleteAclsMatchingAcl::default()
        .with_resource_type(resource_type_code(b.resource_type))
        .with_resource_name(b.resource_name.into())
        .with_pattern_type(pattern_type_code(b.pattern_type))
        .with_principal(b.principal.into())
        .with_host(b.host.into())
        .with_operation(operation_code(b.operation))
        .with_permission_type(permission_code(b.permission))
}
