"""kcat (librdkafka's command-line client, Debian's package) against the broker: it lists the
topics (`kcat -L`), produces keyed lines, and reads them back with their offsets."""
import shutil
import subprocess

import pytest

from test_krafty_interop import create

KCAT = shutil.which("kcat")
pytestmark = pytest.mark.skipif(KCAT is None, reason="kcat is not installed (scripts/test-all.sh installs it)")


def kcat(cluster, *args, stdin=None):
    out = subprocess.run([KCAT, "-b", cluster.bootstrap, *args], input=stdin, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_kcat_lists_produces_and_consumes(cluster, topic):
    create(cluster, topic, 2)
    listing = kcat(cluster, "-L", "-t", topic)
    assert f'topic "{topic}" with 2 partitions:' in listing
    assert "partition 0, leader" in listing and "partition 1, leader" in listing

    lines = "".join(f"k{i}:v{i}\n" for i in range(20))
    kcat(cluster, "-P", "-t", topic, "-p", "1", "-K", ":", stdin=lines)
    out = kcat(cluster, "-C", "-t", topic, "-p", "1", "-o", "beginning", "-e", "-f", "%o %k %s\\n")
    assert out.splitlines() == [f"{i} k{i} v{i}" for i in range(20)]
