//! ACL calls on a cluster without an authorizer (the dev broker, and Apache Kafka as
//! scripts/kafka.sh configures it): DescribeAcls, CreateAcls and DeleteAcls each answer
//! SECURITY_DISABLED (54) with Kafka's message, raised as a typed error.

use krafty::admin::{
    AclBinding, AclBindingFilter, AclOperation, AclPatternType, AclPermissionType, AclResourceType,
};
use krafty::KafkaError;
use krafty_tests::TestCluster;

/// Kafka's answer; its message differs between DescribeAcls and the other two.
fn security_disabled(e: &KafkaError, expected_message: &str) {
    match e {
        KafkaError::Broker {
            code: 54,
            name,
            message,
            ..
        } => {
            assert_eq!(*name, "SECURITY_DISABLED");
            assert_eq!(message.as_deref(), Some(expected_message));
        }
        other => panic!("not SECURITY_DISABLED: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_calls_answer_security_disabled_without_an_authorizer() {
    let cluster = TestCluster::start(1).await;
    let admin = cluster.admin().await;

    let e = admin
        .describe_acls(&AclBindingFilter::any())
        .await
        .expect_err("no authorizer");
    security_disabled(&e, "No Authorizer is configured on the broker");

    let acl = AclBinding {
        resource_type: AclResourceType::Topic,
        resource_name: "orders".into(),
        pattern_type: AclPatternType::Prefixed,
        principal: "User:alice".into(),
        host: "*".into(),
        operation: AclOperation::Read,
        permission: AclPermissionType::Allow,
    };
    let created = admin.create_acls(&[acl.clone(), acl]).await.unwrap();
    assert_eq!(created.len(), 2);
    for c in &created {
        security_disabled(
            c.as_ref().expect_err("no authorizer"),
            "No Authorizer is configured.",
        );
    }

    let mut by_principal = AclBindingFilter::any();
    by_principal.principal = Some("User:alice".into());
    let deleted = admin.delete_acls(&[by_principal]).await.unwrap();
    assert_eq!(deleted.len(), 1);
    security_disabled(
        deleted[0].as_ref().expect_err("no authorizer"),
        "No Authorizer is configured.",
    );
    admin.close().await;
    cluster.stop().await;
}

#[test]
fn acl_enums_round_trip_kafkas_numbers() {
    for n in 0..=7 {
        assert_eq!(AclResourceType::from_wire(n).wire(), n);
    }
    for n in 0..=14 {
        assert_eq!(AclOperation::from_wire(n).wire(), n);
    }
    assert_eq!(AclPatternType::Prefixed.wire(), 4);
    assert_eq!(AclPermissionType::Allow.wire(), 3);
    assert_eq!(AclOperation::from_wire(99), AclOperation::Unknown);
}
