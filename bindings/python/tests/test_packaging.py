"""The package as installed: metadata, license, and a wheel that agrees with requires-python.

The release wheel itself (`maturin build --release`: an abi3 manylinux wheel that installs
offline in a fresh venv) is checked by `test_release_wheel_installs_offline_in_a_fresh_venv`,
which builds one and so runs only with KRAFTY_TEST_WHEEL=1.
"""

import glob
import importlib.metadata
import os
import re
import subprocess
import sys
import textwrap

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def test_installed_metadata_declares_what_pypi_shows():
    md = importlib.metadata.metadata("krafty")
    assert md["License-Expression"] == "Apache-2.0"
    assert md["Description-Content-Type"].startswith("text/markdown") and md["Description"]
    classifiers = md.get_all("Classifier")
    assert "Typing :: Typed" in classifiers
    assert "Programming Language :: Rust" in classifiers
    assert {u.split(",")[0] for u in md.get_all("Project-URL")} >= {"Homepage", "Repository"}
    assert "kafka" in md["Keywords"].split(",")


def test_the_license_ships_in_the_wheel_and_at_the_repository_root():
    files = [str(f) for f in importlib.metadata.distribution("krafty").files]
    assert any(f.endswith("licenses/LICENSE") for f in files), files
    assert os.path.isfile(os.path.join(REPO, "LICENSE"))
    with open(os.path.join(REPO, "LICENSE")) as f:
        assert "Apache License" in f.read(2000)


def test_the_wheel_tag_agrees_with_requires_python():
    """An abi3 wheel for CPython 3.X runs on 3.X and later: requires-python says >=3.X."""
    dist = importlib.metadata.distribution("krafty")
    tags = [line.split(": ", 1)[1] for line in dist.read_text("WHEEL").splitlines()
            if line.startswith("Tag: ")]
    [tag] = tags
    python, abi, _platform = tag.split("-")
    assert abi == "abi3", tag
    minor = int(python[len("cp3"):])
    assert dist.metadata["Requires-Python"] == f">=3.{minor}", (tag, dist.metadata["Requires-Python"])


@pytest.mark.skipif(os.environ.get("KRAFTY_TEST_WHEEL") != "1",
                    reason="builds a release wheel (minutes): set KRAFTY_TEST_WHEEL=1")
def test_release_wheel_installs_offline_in_a_fresh_venv(tmp_path):
    out = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "maturin", "build", "--release", "--out", str(out),
                    "-m", os.path.join(REPO, "bindings", "python", "Cargo.toml")],
                   check=True, timeout=3600)
    [wheel] = glob.glob(str(out / "krafty-*.whl"))
    assert re.search(r"-cp310-abi3-manylinux_\d+_\d+_[a-z0-9_]+(\.manylinux\w+)*\.whl$",
                     os.path.basename(wheel)), wheel
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = str(venv / "bin" / "python")
    subprocess.run([py, "-m", "pip", "install", "--no-index", "--no-deps", wheel], check=True,
                   timeout=300)
    script = textwrap.dedent("""
        from krafty import DevBroker, KafkaConsumer, KafkaProducer
        with DevBroker() as b:
            with KafkaProducer(bootstrap_servers=b.bootstrap_servers) as p:
                p.send("t", b"v", partition=0).get(timeout=10)
            c = KafkaConsumer("t", bootstrap_servers=b.bootstrap_servers,
                              auto_offset_reset="earliest", consumer_timeout_ms=2000)
            print([r.value for r in c])
            c.close()
    """)
    r = subprocess.run([py, "-c", script], capture_output=True, text=True, timeout=120,
                       cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[b'v']"
