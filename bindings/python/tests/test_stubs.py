"""The type stubs (`krafty/_krafty.pyi`) agree with the built extension module (mypy's stubtest)."""

import os
import subprocess
import sys

import pytest

ALLOWLIST = os.path.join(os.path.dirname(__file__), "stubtest-allowlist.txt")


def test_stubs_match_the_extension_module(tmp_path):
    pytest.importorskip("mypy.stubtest")
    r = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "krafty._krafty", "--allowlist", ALLOWLIST,
         "--mypy-config-file", os.devnull],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    assert r.returncode == 0, r.stdout + r.stderr
