"""The package's public surface: every public name documented, typed and importable."""

import inspect
import os

import krafty
from krafty import errors


def public_members(obj):
    for name, member in inspect.getmembers(obj):
        if not name.startswith("_") and (callable(member) or isinstance(member, property)
                                         or type(member).__name__ == "getset_descriptor"):
            yield name, member


def test_every_public_name_has_a_docstring():
    missing = []
    for name in krafty.__all__:
        obj = getattr(krafty, name)
        if isinstance(obj, str):
            continue
        if not (obj.__doc__ or "").strip():
            missing.append(name)
        if inspect.isclass(obj) and obj.__module__.startswith("krafty"):
            for member_name, member in public_members(obj):
                if member_name in ("count", "index"):  # tuple methods of TopicPartition
                    continue
                if issubclass(obj, BaseException) and hasattr(OSError, member_name):
                    continue  # args, characters_written: the built-in exception's own
                if not (getattr(member, "__doc__", None) or "").strip():
                    missing.append(f"{name}.{member_name}")
    assert missing == []


def test_error_hierarchy_carries_codes():
    assert issubclass(errors.UnknownTopicOrPartitionError, errors.BrokerError)
    assert errors.error_for_code(3) is errors.UnknownTopicOrPartitionError
    assert errors.error_for_code(9999) is errors.BrokerError
    assert issubclass(errors.ConfigError, ValueError) and issubclass(errors.KafkaTimeoutError, TimeoutError)


def test_stubs_and_marker_ship_with_the_package():
    here = os.path.dirname(krafty.__file__)
    assert os.path.exists(os.path.join(here, "py.typed"))
    assert os.path.exists(os.path.join(here, "_krafty.pyi"))
