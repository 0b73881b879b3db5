#!/usr/bin/env bash
# The Node package beside kafkajs 2.2.4, @platformatic/kafka and @confluentinc/kafka-javascript:
# produce and consume N 100-byte records through each, on one release dev broker, in one run
# (a benchmark, not a test).
#   bench/node.sh [records] [bootstrap]
# Builds the release addon (bindings/node: npm ci, napi build --release); the broker is the
# release `krafty-broker` binary with a data dir, one partition. The two peers install into
# bench/node_peers (its own package.json and lockfile, not the package's dependencies); a peer
# that cannot be installed gets a row saying so and the rest still run.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
n="${1:-1000000}"
log() { echo "node.sh: $*" >&2; }

# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh" # apt_install

# Peers. @confluentinc/kafka-javascript builds its addon and its bundled librdkafka from source
# (no prebuilt download), linked dynamically against the system's ssl/zlib/zstd/sasl, which
# Debian's librdkafka-dev brings in (BINDINGS.md); @platformatic/kafka is pure JS (1.x: 2.x
# needs Node >= 22). If the addon does not build, install without scripts: @platformatic/kafka
# still runs and confluent's rows say it is missing.
peers=bench/node_peers
ckjs="$peers/node_modules/@confluentinc/kafka-javascript/build/Release/confluent-kafka-javascript.node"
if [ ! -f "$ckjs" ] || [ ! -d "$peers/node_modules/@platformatic/kafka" ]; then
  if ! pkg-config --exists rdkafka 2>/dev/null; then
    log "installing Debian's librdkafka-dev (for @confluentinc/kafka-javascript)"
    apt_install librdkafka-dev pkg-config || log "librdkafka-dev could not be installed"
  fi
  log "installing the peers into $peers (builds librdkafka: a few minutes)"
  (cd "$peers" && CKJS_LINKING=dynamic npm_config_build_from_source=true \
    timeout 1200 npm ci --no-audit --no-fund --loglevel=error >&2) \
    || { log "npm ci failed; installing the peers without build scripts"
         (cd "$peers" && timeout 600 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2) \
           || log "the peers could not be installed: their rows are skipped"; }
fi

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
