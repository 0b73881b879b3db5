//! ACLs: DescribeAcls, CreateAcls and DeleteAcls (KIP-140, prefixed patterns KIP-290).
//!
//! An ACL binds a resource pattern (type, name, literal or prefixed) to an access control
//! entry (principal, host, operation, allow or deny); a filter matches bindings, `Any` and
//! `None` fields matching everything. A cluster without an authorizer (Kafka's default, and
//! the dev broker) answers every call with SECURITY_DISABLED (54), raised as
//! [`KafkaError::Broker`] with that code.

use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::*;

use super::{check, sb, AdminClient};
use crate::error::{KafkaError, Result};

/// Declares an enum of Kafka's numbered ACL values, with its wire conversions.
macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $n:expr),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),* }

        impl $name {
            /// Kafka's number for it.
            pub fn wire(self) -> i8 {
                match self { $($name::$variant => $n),* }
            }

            /// The value of a number Kafka sent; `Unknown` for one this client does not know.
            pub fn from_wire(n: i8) -> $name {
                match n { $($n => $name::$variant,)* _ => $name::Unknown }
            }
        }
    };
}

wire_enum!(
    /// What an ACL protects (Kafka's `ResourceType`).
    AclResourceType {
        Unknown = 0, Any = 1, Topic = 2, Group = 3, Cluster = 4, TransactionalId = 5,
        DelegationToken = 6, User = 7,
    }
);

wire_enum!(
    /// How an ACL's resource name matches (Kafka's `PatternType`): `Match` and `Any` only in
    /// filters.
    AclPatternType { Unknown = 0, Any = 1, Match = 2, Literal = 3, Prefixed = 4 }
);

wire_enum!(
    /// The operation an ACL allows or denies (Kafka's `AclOperation`).
    AclOperation {
        Unknown = 0, Any = 1, All = 2, Read = 3, Write = 4, Create = 5, Delete = 6, Alter = 7,
        Describe = 8, ClusterAction = 9, DescribeConfigs = 10, AlterConfigs = 11,
        IdempotentWrite = 12, CreateTokens = 13, DescribeTokens = 14,
    }
);

wire_enum!(
    /// Whether an ACL allows or denies (Kafka's `AclPermissionType`).
    AclPermissionType { Unknown = 0, Any = 1, Deny = 2, Allow = 3 }
);

/// One ACL: a resource pattern and an access control entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AclBinding {
    pub resource_type: AclResourceType,
    pub resource_name: String,
    pub pattern_type: AclPatternType,
    /// `User:alice`, or `User:*` for everyone.
    pub principal: String,
    /// A host's address, or `*` for every host.
    pub host: String,
    pub operation: AclOperation,
    pub permission: AclPermissionType,
}

/// Which ACLs to describe or delete: a `None` name, principal or host, and `Any` types,
/// match every ACL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AclBindingFilter {
    pub resource_type: AclResourceType,
    pub resource_name: Option<String>,
    pub pattern_type: AclPatternType,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: AclOperation,
    pub permission: AclPermissionType,
}

impl AclBindingFilter {
    /// Matches every ACL.
    pub fn any() -> AclBindingFilter {
        AclBindingFilter {
            resource_type: AclResourceType::Any,
            resource_name: None,
            pattern_type: AclPatternType::Any,
            principal: None,
            host: None,
            operation: AclOperation::Any,
            permission: AclPermissionType::Any,
        }
    }
}

impl AdminClient {
    /// The ACLs matching `filter`.
    pub async fn describe_acls(&self, filter: &AclBindingFilter) -> Result<Vec<AclBinding>> {
        let req = DescribeAclsRequest::default()
            .with_resource_type_filter(filter.resource_type.wire())
            .with_resource_name_filter(filter.resource_name.as_deref().map(sb))
            .with_pattern_type_filter(filter.pattern_type.wire())
            .with_principal_filter(filter.principal.as_deref().map(sb))
            .with_host_filter(filter.host.as_deref().map(sb))
            .with_operation(filter.operation.wire())
            .with_permission_type(filter.permission.wire());
        let (resp, _) = self.client.send(self.any_node().await?, req).await?;
        check(resp.error_code, "DescribeAcls", resp.error_message.as_ref())?;
        Ok(resp
            .resources
            .iter()
            .flat_map(|r| {
                r.acls.iter().map(|a| AclBinding {
                    resource_type: AclResourceType::from_wire(r.resource_type),
                    resource_name: r.resource_name.to_string(),
                    pattern_type: AclPatternType::from_wire(r.pattern_type),
                    principal: a.principal.to_string(),
                    host: a.host.to_string(),
                    operation: AclOperation::from_wire(a.operation),
                    permission: AclPermissionType::from_wire(a.permission_type),
                })
            })
            .collect())
    }

    /// Creates ACLs: each one's own outcome, in order.
    pub async fn create_acls(&self, acls: &[AclBinding]) -> Result<Vec<Result<()>>> {
        let req = CreateAclsRequest::default().with_creations(
            acls.iter()
                .map(|a| {
                    AclCreation::default()
                        .with_resource_type(a.resource_type.wire())
                        .with_resource_name(sb(&a.resource_name))
                        .with_resource_pattern_type(a.pattern_type.wire())
                        .with_principal(sb(&a.principal))
                        .with_host(sb(&a.host))
                        .with_operation(a.operation.wire())
                        .with_permission_type(a.permission.wire())
                })
                .collect(),
        );
        let (resp, _) = self.client.send(self.any_node().await?, req).await?;
        if resp.results.len() != acls.len() {
            return Err(KafkaError::Protocol(format!(
                "CreateAcls answered {} results for {} ACLs",
                resp.results.len(),
                acls.len()
            )));
        }
        Ok(resp
            .results
            .iter()
            .zip(acls)
            .map(|(r, a)| check(r.error_code, &a.resource_name, r.error_message.as_ref()))
            .collect())
    }

    /// Deletes the ACLs matching each filter: per filter, the ACLs deleted or its error.
    pub async fn delete_acls(
        &self,
        filters: &[AclBindingFilter],
    ) -> Result<Vec<Result<Vec<AclBinding>>>> {
        let req = DeleteAclsRequest::default().with_filters(
            filters
                .iter()
                .map(|f| {
                    DeleteAclsFilter::default()
                        .with_resource_type_filter(f.resource_type.wire())
                        .with_resource_name_filter(f.resource_name.as_deref().map(sb))
                        .with_pattern_type_filter(f.pattern_type.wire())
                        .with_principal_filter(f.principal.as_deref().map(sb))
                        .with_host_filter(f.host.as_deref().map(sb))
                        .with_operation(f.operation.wire())
                        .with_permission_type(f.permission.wire())
                })
                .collect(),
        );
        let (resp, _) = self.client.send(self.any_node().await?, req).await?;
        if resp.filter_results.len() != filters.len() {
            return Err(KafkaError::Protocol(format!(
                "DeleteAcls answered {} results for {} filters",
                resp.filter_results.len(),
                filters.len()
            )));
        }
        Ok(resp
            .filter_results
            .iter()
            .map(|r| {
                check(r.error_code, "DeleteAcls", r.error_message.as_ref())?;
                Ok(r.matching_acls
                    .iter()
                    .filter(|m| m.error_code == 0)
                    .map(|m| AclBinding {
                        resource_type: AclResourceType::from_wire(m.resource_type),
                        resource_name: m.resource_name.to_string(),
                        pattern_type: AclPatternType::from_wire(m.pattern_type),
                        principal: m.principal.to_string(),
                        host: m.host.to_string(),
                        operation: AclOperation::from_wire(m.operation),
                        permission: AclPermissionType::from_wire(m.permission_type),
                    })
                    .collect())
            })
            .collect())
    }
}
