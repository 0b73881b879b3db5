#!/usr/bin/env bash
# The Python package beside confluent-kafka (librdkafka) and kafka-python: produce and
# consume N 100-byte records through each, on one release dev broker, in one run.
#   bench/python.sh [records] [bootstrap]
# Against its own broker it also gives the broker's CPU per row.
# Installs the package into the repo's venv as users get it (pip, release build), and
# aiokafka for its row.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
n="${1:-1000000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
py="$(scripts/python-env.sh)"
PATH="$(dirname "$py"):$PATH" "$py" -m pip install -q --no-build-isolation --disable-pip-version-check ./bindings/python
# aiokafka only for its benchmark row (the tests do not need it); a failed install skips the row.
"$py" -c "import aiokafka" 2>/dev/null \
  || "$py" -m pip install -q --disable-pip-version-check "aiokafka>=0.11" >&2 \
  || echo "python.sh: aiokafka could not be installed: its row is skipped" >&2
cargo build -q --release -p krafty-broker
bootstrap="${2:-}"
if [ -z "$bootstrap" ]; then
  port=$((20000 + RANDOM % 20000))
  bootstrap="127.0.0.1:$port"
  data="$(mktemp -d)"
  "$CARGO_TARGET_DIR/release/krafty-broker" --listen "$bootstrap" --data-dir "$data" --set num.partitions=1 >/dev/null 2>&1 &
  broker=$!
  trap 'kill $broker 2>/dev/null; wait $broker 2>/dev/null; rm -rf "$data"' EXIT
  until (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null; do sleep 0.01; done
fi
"$py" bench/python_bench.py "$bootstrap" "$n" ${broker:+"$broker"}
