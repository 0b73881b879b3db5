//! DescribeAcls (v1-3), CreateAcls (v1-3) and DeleteAcls (v1-3), answered as Apache Kafka
//! answers them without an authorizer (`authorizer.class.name` unset, its default): the dev
//! broker has none, so every call is SECURITY_DISABLED (54) with Kafka's messages, one per
//! creation and per filter for the last two. Not implemented: storing or enforcing ACLs.

use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::delete_acls_response::DeleteAclsFilterResult;
use kafka_protocol::messages::*;

use crate::topics::sb;

/// Kafka's error code without an authorizer.
const SECURITY_DISABLED: i16 = 54;

pub fn describe_acls(_req: DescribeAclsRequest) -> DescribeAclsResponse {
    DescribeAclsResponse::default()
        .with_error_code(SECURITY_DISABLED)
        .with_error_message(Some(sb("No Authorizer is configured on the broker")))
}

pub fn create_acls(req: CreateAclsRequest) -> CreateAclsResponse {
    CreateAclsResponse::default().with_results(
        req.creations
            .iter()
            .map(|_| {
                AclCreationResult::default()
                    .with_error_code(SECURITY_DISABLED)
                    .with_error_message(Some(sb("No Authorizer is configured.")))
            })
            .collect(),
    )
}

pub fn delete_acls(req: DeleteAclsRequest) -> DeleteAclsResponse {
    DeleteAclsResponse::default().with_filter_results(
        req.filters
            .iter()
            .map(|_| {
                DeleteAclsFilterResult::default()
                    .with_error_code(SECURITY_DISABLED)
                    .with_error_message(Some(sb("No Authorizer is configured.")))
            })
            .collect(),
    )
}
