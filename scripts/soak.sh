#!/usr/bin/env bash
# Soaks (minutes each, not part of the test command): an idempotent producer through two
# broker kills (SIGKILL) and through injected NOT_LEADER answers and dropped connections, and a
# consumer group whose members crash mid-run with commit-after-process. Release build.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p krafty-broker --bin krafty-broker
timeout 1800 cargo test --release -p krafty-tests --test soak -- --ignored --test-threads 1 "$@"
