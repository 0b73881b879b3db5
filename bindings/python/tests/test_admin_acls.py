"""ACL calls with kafka-python's API and values on a cluster without an authorizer (the
DevBroker, and the real Kafka of KRAFTY_TEST_BOOTSTRAP as scripts/kafka.sh starts it): each
answers SECURITY_DISABLED (54), raised by `describe_acls` and reported per ACL / per filter by
`create_acls` and `delete_acls`, as kafka-python does."""

import pytest

from krafty import errors
from krafty.admin import (ACL, ACLFilter, ACLOperation, ACLPermissionType,
                          ACLResourcePatternType, KafkaAdminClient, ResourcePattern,
                          ResourcePatternFilter, ResourceType)


@pytest.fixture
def admin(bootstrap):
    with KafkaAdminClient(bootstrap_servers=bootstrap, client_id="admin-acls-test") as a:
        yield a


def alice_reads(prefix):
    return ACL("User:alice", "*", ACLOperation.READ, ACLPermissionType.ALLOW,
               ResourcePattern(ResourceType.TOPIC, prefix, ACLResourcePatternType.PREFIXED))


def everything():
    return ACLFilter(None, None, ACLOperation.ANY, ACLPermissionType.ANY,
                     ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY))


def test_describe_acls_raises_security_disabled(admin):
    with pytest.raises(errors.SecurityDisabledError) as e:
        admin.describe_acls(everything())
    assert e.value.errno == 54


def test_create_and_delete_acls_report_security_disabled(admin):
    acls = [alice_reads("orders"), alice_reads("payments")]
    result = admin.create_acls(acls)
    assert result["succeeded"] == []
    assert result["failed"] == [(acls[0], errors.SecurityDisabledError),
                                (acls[1], errors.SecurityDisabledError)]

    f = everything()
    assert admin.delete_acls([f]) == [(f, [], errors.SecurityDisabledError)]


def test_acl_values_validate_as_kafka_pythons_do():
    assert alice_reads("x") == alice_reads("x") and hash(alice_reads("x")) == hash(alice_reads("x"))
    assert (ResourceType.TOPIC, ACLOperation.DESCRIBE_CONFIGS, ACLPermissionType.ALLOW,
            ACLResourcePatternType.PREFIXED) == (2, 10, 3, 4)
    with pytest.raises(errors.IllegalArgumentError):
        ACL("User:a", "*", ACLOperation.ANY, ACLPermissionType.ALLOW,
            ResourcePattern(ResourceType.TOPIC, "t"))
    with pytest.raises(errors.IllegalArgumentError):
        ResourcePattern(ResourceType.ANY, "t")


def test_acl_arguments_must_be_acl_values(admin):
    with pytest.raises(TypeError, match="acls"):
        admin.create_acls([("User:alice", "*")])
    with pytest.raises(TypeError, match="acl_filters"):
        admin.delete_acls("everything")
