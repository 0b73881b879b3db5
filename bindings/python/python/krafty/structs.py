"""Small value types, as kafka-python defines them (namedtuples: comparable, hashable,
picklable, and unpackable)."""

from collections import namedtuple as _namedtuple

__all__ = ["TopicPartition", "OffsetAndMetadata", "OffsetAndTimestamp", "ConsumerGroupMetadata",
           "GroupInformation", "MemberInformation"]

TopicPartition = _namedtuple("TopicPartition", ["topic", "partition"])
TopicPartition.__doc__ = "A topic and a partition number."
TopicPartition.__module__ = "krafty"

OffsetAndMetadata = _namedtuple("OffsetAndMetadata", ["offset", "metadata", "leader_epoch"],
                                defaults=[None, "", -1])
OffsetAndMetadata.__doc__ = """An offset to commit (the next one to read), with a metadata string
and the leader epoch of the record before it (-1 when unknown). `commit` also takes the
two-field form `(offset, metadata)` and a bare offset."""
OffsetAndMetadata.__module__ = "krafty"

OffsetAndTimestamp = _namedtuple("OffsetAndTimestamp", ["offset", "timestamp", "leader_epoch"],
                                 defaults=[-1])
OffsetAndTimestamp.__doc__ = """What `offsets_for_times` found: the first offset whose timestamp is
at or after the one asked for, that record's timestamp, and its leader epoch (-1 when
unknown)."""
OffsetAndTimestamp.__module__ = "krafty"

ConsumerGroupMetadata = _namedtuple("ConsumerGroupMetadata",
                                    ["group_id", "generation_id", "member_id", "group_instance_id"],
                                    defaults=[-1, "", None])
ConsumerGroupMetadata.__doc__ = """A consumer's place in its group (`KafkaConsumer.group_metadata()`),
for `KafkaProducer.send_offsets_to_transaction`: the generation and member id let the
coordinator fence a consumer that lost its partitions (KIP-447)."""
ConsumerGroupMetadata.__module__ = "krafty"

MemberInformation = _namedtuple("MemberInformation",
                                ["member_id", "client_id", "client_host", "member_metadata",
                                 "member_assignment"])
MemberInformation.__doc__ = """A member of a described group (`KafkaAdminClient.describe_consumer_groups`):
its ids, the host it connected from (Kafka's `/address`), `member_metadata` (None: not
decoded) and `member_assignment`, the list of `TopicPartition`s assigned to it."""
MemberInformation.__module__ = "krafty"

GroupInformation = _namedtuple("GroupInformation",
                               ["error_code", "group", "state", "protocol_type", "protocol",
                                "members", "authorized_operations"])
GroupInformation.__doc__ = """A described group (`KafkaAdminClient.describe_consumer_groups`), as
kafka-python returns it: `error_code` (0; an error raises), `group`, `state` (`Stable`,
`Empty`, `Dead`, ...), `protocol_type` (`consumer`), `protocol` (the assignor, e.g. `range`),
`members` (`MemberInformation`) and `authorized_operations` (None)."""
GroupInformation.__module__ = "krafty"
