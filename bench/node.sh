#!/usr/bin/env bash
# The Node package beside kafkajs 2.2.4: produce and consume N 100-byte records through each,
# on one release dev broker, in one run (a benchmark, not a test).
#   bench/node.sh [records] [bootstrap]
# Builds the release addon (bindings/node: npm ci, napi build --release); the broker is the
# release `krafty-broker` binary with a data dir, one partition.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
n="${1:-1000000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
(cd bindings/node && { [ -d node_modules/@napi-rs/cli ] || npm ci --ignore-scripts --no-audit --no-fund; } \
  && node node_modules/@napi-rs/cli/dist/cli.js build --platform --release --strip --js native.js --dts native.d.ts >/dev/null)
cargo build -q --release -p krafty-broker
bootstrap="${2:-}"
if [ -z "$bootstrap" ]; then
  port=$((20000 + RANDOM % 20000))
  bootstrap="127.0.0.1:$port"
  data="$(mktemp -d)"
  "$CARGO_TARGET_DIR/release/krafty-broker" --listen "$bootstrap" --data-dir "$data" --set num.partitions=1 >/dev/null 2>&1 &
  broker=$!
  trap 'kill $broker 2>/dev/null; rm -rf "$data"' EXIT
  until (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null; do sleep 0.01; done
fi
node bench/node_bench.js "$bootstrap" "$n"
