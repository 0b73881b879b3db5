#!/usr/bin/env bash
# Creates (once) the repo's Python venv with the test and interop packages; prints its python.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" >&2
fi
if ! "$venv/bin/python" -c "import confluent_kafka, kafka, pytest, pytest_timeout, maturin, mypy" 2>/dev/null; then
  "$venv/bin/pip" install -q --disable-pip-version-check \
    "pytest>=8" "pytest-timeout>=2.3" "confluent-kafka>=2.6" "kafka-python>=2.2" "maturin>=1.9,<2" "mypy>=1.10" >&2
fi
echo "$venv/bin/python"
