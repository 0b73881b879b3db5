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

from ._krafty import KafkaAdminClient

__all__ = ["KafkaAdminClient", "NewTopic", "NewPartitions", "ConfigResource",
           "ConfigResourceType", "ConfigEntry", "DescribeConfigsResponse"]


class NewTopic:
    """A topic to create: its name, partition count and replication factor (-1: the broker's
    default), and configs that differ from the broker's defaults (`{"retention.ms": "3600000"}`;
    values may be ints or bools). `replica_assignments` ({partition: [broker ids]}) is
    kafka-python's; the admin client refuses it (not supported yet)."""

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
                f"topic_configs={self.topic_configs!r})")


class NewPartitions:
    """A topic's new total partition count, for `create_partitions({topic: NewPartitions(n)})`.
    `new_assignments` is kafka-python's; the admin client refuses it (not supported yet)."""

    def __init__(self, total_count: int, new_assignments: Optional[List[List[int]]] = None) -> None:
        self.total_count = total_count
        self.new_assignments = new_assignments

    def __repr__(self) -> str:
        return f"NewPartitions(total_count={self.total_count})"


class ConfigResourceType(_IntEnum):
    """Kafka's config resource types (`describe_configs` supports TOPIC)."""

    BROKER = 4
    TOPIC = 2


class ConfigResource:
    """A resource whose configs to describe: a `ConfigResourceType` (or its name, `"topic"`)
    and the resource's name. `configs` names the configs to return (a dict's keys or a list);
    None returns them all."""

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
DescribeConfigs (v0) entries: the name, the value as a string, whether it is read-only, whether
it is the broker's default (not set for this resource), whether it is sensitive. For a topic,
`read_only` and `is_sensitive` are always False (topic configs are alterable and none is a
password)."""
ConfigEntry.__module__ = __name__

DescribeConfigsResponse = _namedtuple("DescribeConfigsResponse", ["resources"])
DescribeConfigsResponse.__doc__ = """What `describe_configs` returns a list of: `resources`, one
`(error_code, error_message, resource_type, resource_name, [ConfigEntry])` tuple per
`ConfigResource` asked for, in order (an error raises instead, so `error_code` is 0)."""
DescribeConfigsResponse.__module__ = __name__
