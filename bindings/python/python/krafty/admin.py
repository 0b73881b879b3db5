"""Cluster administration with kafka-python's API.

    from krafty.admin import KafkaAdminClient, NewTopic, NewPartitions, ConfigResource, ConfigResourceType

    admin = KafkaAdminClient(bootstrap_servers="localhost:9092")
    admin.create_topics([NewTopic("orders", num_partitions=6, replication_factor=3,
                                  topic_configs={"retention.ms": "86400000"})])
    admin.create_partitions({"orders": NewPartitions(12)})
    admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "orders")])
    admin.close()

`KafkaAdminClient` is the extension module's: it converts these values for the Rust core's
admin client, which does the work. The value classes here are plain Python, with
kafka-python's names and fields, so code written for kafka-python's `kafka.admin` runs
unchanged (kafka-python's own `NewTopic` objects are accepted too).
"""

from collections import namedtuple as _namedtuple
from enum import IntEnum as _IntEnum
from typing import Dict, List, Mapping, Optional, Union

from ._acl import (ACL, ACLFilter, ACLOperation, ACLPermissionType, ACLResourcePatternType,
                   ResourcePattern, ResourcePatternFilter, ResourceType)
from ._krafty import KafkaAdminClient

__all__ = ["KafkaAdminClient", "NewTopic", "NewPartitions", "ConfigResource",
           "ConfigResourceType", "ConfigEntry", "ConfigEntryWithSynonyms", "ConfigSynonym",
           "DescribeConfigsResponse", "AlterConfigsResponse", "ACL", "ACLFilter",
           "ACLOperation", "ACLPermissionType", "ACLResourcePatternType", "ResourcePattern",
           "ResourcePatternFilter", "ResourceType"]


class NewTopic:
    """A topic to create: its name, partition count and replication factor (-1: the broker's
    default), and configs that differ from the broker's defaults (`{"retention.ms": "3600000"}`;
    values may be ints or bools). `replica_assignments` ({partition: [broker ids]}, partitions
    0, 1, ...) places the partitions on those brokers instead: pass -1 for the partition count
    and replication factor with it (Kafka refuses both with InvalidRequestError)."""

    def __init__(self, name: str, num_partitions: int, replication_factor: int,
                 replica_assignments: Optional[Dict[int, List[int]]] = None,
                 topic_configs: Optional[Mapping[str, object]] = None) -> None:
        self.name = name
        self.num_partitions = num_partitions
        self.replication_factor = replication_factor
        self.replica_assignments: Dict[int, List[int]] = dict(replica_assignments or {})
        self.topic_configs: Dict[str, object] = dict(topic_configs or {})

    def __repr__(self) -> str:
        return (f"NewTopic(name={self.name!r}, num_partitions={self.num_partitions}, "
                f"replication_factor={self.replication_factor}, "
                f"replica_assignments={self.replica_assignments!r}, "
                f"topic_configs={self.topic_configs!r})")


class NewPartitions:
    """A topic's new total partition count, for `create_partitions({topic: NewPartitions(n)})`.
    `new_assignments`: the brokers of each new partition (`[[1], [1]]` for two), None to let
    the broker place them."""

    def __init__(self, total_count: int, new_assignments: Optional[List[List[int]]] = None) -> None:
        self.total_count = total_count
        self.new_assignments = new_assignments

    def __repr__(self) -> str:
        return (f"NewPartitions(total_count={self.total_count}, "
                f"new_assignments={self.new_assignments!r})")


class ConfigResourceType(_IntEnum):
    """Kafka's config resource types (`describe_configs` and `alter_configs` take TOPIC and
    BROKER)."""

    BROKER = 4
    TOPIC = 2


class ConfigResource:
    """A resource whose configs to describe or alter: a `ConfigResourceType` (or its name,
    `"topic"`) and the resource's name (a broker's: its node id, as a str or an int).
    `configs`: for `describe_configs` the configs to return (a dict's keys or a list; None
    returns them all); for `alter_configs` the dict `{name: value}` the resource's configs
    become."""

    def __init__(self, resource_type: Union[ConfigResourceType, str, int], name: str,
                 configs: Optional[Union[Mapping[str, object], List[str]]] = None) -> None:
        if isinstance(resource_type, ConfigResourceType):
            pass
        elif isinstance(resource_type, int):
            resource_type = ConfigResourceType(resource_type)
        else:
            resource_type = ConfigResourceType[str(resource_type).upper()]
        self.resource_type = resource_type
        self.name = name
        self.configs = configs

    def __repr__(self) -> str:
        return (f"ConfigResource({self.resource_type.name}, {self.name!r}, "
                f"configs={self.configs!r})")


ConfigEntry = _namedtuple("ConfigEntry", ["config_names", "config_value", "read_only",
                                          "is_default", "is_sensitive"])
ConfigEntry.__doc__ = """One config of a described resource, in the order of kafka-python's
DescribeConfigs (v0) entries: the name, the value as a string (None for a sensitive one), whether
it is read-only, whether it is Kafka's default (not set for this resource nor in the broker's
properties), whether it is sensitive."""
ConfigEntry.__module__ = __name__

ConfigSynonym = _namedtuple("ConfigSynonym", ["config_name", "config_value", "config_source"])
ConfigSynonym.__doc__ = """Another place a config is set (DescribeConfigs v1's synonyms): the
name there (a topic config's broker-wide default has the broker's name, `log.segment.bytes` for
`segment.bytes`), its value, and Kafka's `config_source` number (1 topic, 2 this broker,
3 every broker, 4 the broker's properties file, 5 Kafka's default)."""
ConfigSynonym.__module__ = __name__

ConfigEntryWithSynonyms = _namedtuple("ConfigEntryWithSynonyms", [
    "config_names", "config_value", "read_only", "config_source", "is_sensitive",
    "config_synonyms"])
ConfigEntryWithSynonyms.__doc__ = """One config described with `include_synonyms=True`, in the
order of kafka-python's DescribeConfigs (v1) entries: as `ConfigEntry`, with where the value comes
from (`config_source`, as in `ConfigSynonym`) instead of `is_default`, and `config_synonyms`:
every place the config is set, the value in effect first."""
ConfigEntryWithSynonyms.__module__ = __name__

AlterConfigsResponse = _namedtuple("AlterConfigsResponse", ["resources"])
AlterConfigsResponse.__doc__ = """What `alter_configs` returns: `resources`, one
`(error_code, error_message, resource_type, resource_name)` tuple per `ConfigResource`, in order;
`error_code` 0 when the resource was altered, else Kafka's code (40 INVALID_CONFIG for a bad
value, 42 INVALID_REQUEST for a broker config that cannot change while it runs, ...)."""
AlterConfigsResponse.__module__ = __name__

DescribeConfigsResponse = _namedtuple("DescribeConfigsResponse", ["resources"])
DescribeConfigsResponse.__doc__ = """What `describe_configs` returns a list of: `resources`, one
`(error_code, error_message, resource_type, resource_name, [ConfigEntry])` tuple per
`ConfigResource` asked for, in order (an error raises instead, so `error_code` is 0)."""
DescribeConfigsResponse.__module__ = __name__
