"""kafka-python's ACL values, for `KafkaAdminClient.describe_acls`, `create_acls` and
`delete_acls` (re-exported by `krafty.admin`): the enums carry Kafka's numbers, the classes
kafka-python's fields, equality and `validate()`. A cluster without an authorizer (Kafka's
default, and the DevBroker) answers every ACL call with `SecurityDisabledError` (errno 54)."""

from enum import IntEnum as _IntEnum
from typing import Optional

from .errors import IllegalArgumentError

__all__ = ["ResourceType", "ACLOperation", "ACLPermissionType", "ACLResourcePatternType",
           "ResourcePatternFilter", "ResourcePattern", "ACLFilter", "ACL"]


class ResourceType(_IntEnum):
    """What an ACL protects (Kafka's ResourceType)."""

    UNKNOWN = 0
    ANY = 1
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4
    TRANSACTIONAL_ID = 5
    DELEGATION_TOKEN = 6
    USER = 7


class ACLOperation(_IntEnum):
    """The operation an ACL allows or denies (Kafka's AclOperation)."""

    UNKNOWN = 0
    ANY = 1
    ALL = 2
    READ = 3
    WRITE = 4
    CREATE = 5
    DELETE = 6
    ALTER = 7
    DESCRIBE = 8
    CLUSTER_ACTION = 9
    DESCRIBE_CONFIGS = 10
    ALTER_CONFIGS = 11
    IDEMPOTENT_WRITE = 12
    CREATE_TOKENS = 13
    DESCRIBE_TOKENS = 14


class ACLPermissionType(_IntEnum):
    """Whether an ACL allows or denies (Kafka's AclPermissionType)."""

    UNKNOWN = 0
    ANY = 1
    DENY = 2
    ALLOW = 3


class ACLResourcePatternType(_IntEnum):
    """How an ACL's resource name matches (Kafka's PatternType): LITERAL or PREFIXED in an
    ACL; ANY and MATCH in filters too."""

    UNKNOWN = 0
    ANY = 1
    MATCH = 2
    LITERAL = 3
    PREFIXED = 4


class ResourcePatternFilter:
    """Which resources a filter matches: a `ResourceType` (ANY: all), a name (None: all) and
    an `ACLResourcePatternType`."""

    def __init__(self, resource_type: ResourceType, resource_name: Optional[str],
                 pattern_type: ACLResourcePatternType) -> None:
        self.resource_type = resource_type
        self.resource_name = resource_name
        self.pattern_type = pattern_type
        self.validate()

    def validate(self) -> None:
        if not isinstance(self.resource_type, ResourceType):
            raise IllegalArgumentError("resource_type must be a ResourceType object")
        if not isinstance(self.pattern_type, ACLResourcePatternType):
            raise IllegalArgumentError("pattern_type must be an ACLResourcePatternType object")

    def __repr__(self) -> str:
        return (f"<ResourcePattern type={self.resource_type.name}, name={self.resource_name}, "
                f"pattern={self.pattern_type.name}>")

    def _key(self) -> tuple:
        return (self.resource_type, self.resource_name, self.pattern_type)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ResourcePatternFilter) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


class ResourcePattern(ResourcePatternFilter):
    """One resource or a prefix of names: a concrete type (not ANY or UNKNOWN) and LITERAL or
    PREFIXED."""

    def __init__(self, resource_type: ResourceType, resource_name: str,
                 pattern_type: ACLResourcePatternType = ACLResourcePatternType.LITERAL) -> None:
        super().__init__(resource_type, resource_name, pattern_type)

    def validate(self) -> None:
        super().validate()
        if self.resource_type in (ResourceType.ANY, ResourceType.UNKNOWN):
            raise IllegalArgumentError(f"resource_type cannot be {self.resource_type.name}")
        if self.pattern_type not in (ACLResourcePatternType.LITERAL,
                                     ACLResourcePatternType.PREFIXED):
            raise IllegalArgumentError(
                f"pattern_type cannot be {self.pattern_type.name} on a ResourcePattern")


class ACLFilter:
    """Which ACLs to describe or delete: principal and host (None: all), an `ACLOperation`
    and an `ACLPermissionType` (ANY: all), and a `ResourcePatternFilter`."""

    def __init__(self, principal: Optional[str], host: Optional[str], operation: ACLOperation,
                 permission_type: ACLPermissionType,
                 resource_pattern: ResourcePatternFilter) -> None:
        self.principal = principal
        self.host = host
        self.operation = operation
        self.permission_type = permission_type
        self.resource_pattern = resource_pattern
        self.validate()

    def validate(self) -> None:
        if not isinstance(self.operation, ACLOperation):
            raise IllegalArgumentError("operation must be an ACLOperation object")
        if not isinstance(self.permission_type, ACLPermissionType):
            raise IllegalArgumentError("permission_type must be an ACLPermissionType object")
        if not isinstance(self.resource_pattern, ResourcePatternFilter):
            raise IllegalArgumentError("resource_pattern must be a ResourcePatternFilter object")

    def __repr__(self) -> str:
        return (f"<ACL principal={self.principal}, resource={self.resource_pattern}, "
                f"operation={self.operation.name}, type={self.permission_type.name}, "
                f"host={self.host}>")

    def _key(self) -> tuple:
        return (self.principal, self.host, self.operation, self.permission_type,
                self.resource_pattern)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ACLFilter) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


class ACL(ACLFilter):
    """One ACL: `User:alice` (principal), a host (`*`: any), a concrete operation and
    permission (not ANY or UNKNOWN), on a `ResourcePattern`."""

    def __init__(self, principal: str, host: str, operation: ACLOperation,
                 permission_type: ACLPermissionType, resource_pattern: ResourcePattern) -> None:
        super().__init__(principal, host, operation, permission_type, resource_pattern)

    def validate(self) -> None:
        super().validate()
        if self.operation in (ACLOperation.ANY, ACLOperation.UNKNOWN):
            raise IllegalArgumentError(f"operation cannot be {self.operation.name}")
        if self.permission_type in (ACLPermissionType.ANY, ACLPermissionType.UNKNOWN):
            raise IllegalArgumentError(f"permission_type cannot be {self.permission_type.name}")
        if not isinstance(self.resource_pattern, ResourcePattern):
            raise IllegalArgumentError("resource_pattern must be a ResourcePattern object")
