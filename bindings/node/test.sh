#!/usr/bin/env bash
# The Node package's suite: installs the npm dependencies (from package-lock.json), builds the
# debug addon, type-checks the typed examples (tsc --strict) and runs `node --test` on test/,
# against a DevBroker in the process, or the Kafka of KRAFTY_TEST_BOOTSTRAP.
# The last line is `N passed, N failed`.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
root="$(cd ../.. && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

fail_setup() {
  echo "node: $1"
  echo "0 passed, 1 failed"
  exit 1
}

if [ ! -d node_modules/@napi-rs/cli ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  timeout 600 npm ci --ignore-scripts --no-audit --no-fund >"$log" 2>&1 || { cat "$log"; fail_setup "npm ci failed"; }
fi
timeout 1200 node node_modules/@napi-rs/cli/dist/cli.js build --platform --js native.js --dts native.d.ts \
  >"$log" 2>&1 || { tail -50 "$log"; fail_setup "the addon did not build"; }
timeout 120 node node_modules/typescript/bin/tsc -p test/tsconfig.json || fail_setup "tsc --strict failed on test/typed.ts"

timeout -k 10 "${KRAFTY_NODE_TEST_TIMEOUT:-600}" node --test --test-reporter=tap \
  --test-timeout=120000 test/*.test.js 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
p=$(grep -E '^# pass [0-9]+' "$log" | tail -1 | grep -Eo '[0-9]+')
f=$(grep -E '^# fail [0-9]+' "$log" | tail -1 | grep -Eo '[0-9]+')
c=$(grep -E '^# cancelled [0-9]+' "$log" | tail -1 | grep -Eo '[0-9]+')
f=$(( ${f:-0} + ${c:-0} ))
# A timeout or a crash leaves no summary (or a clean one with a non-zero status): a failure.
if [ -z "${p:-}" ] || { [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; }; then
  echo "node: node --test exited with status $status"
  f=$(( f + 1 ))
fi
echo "${p:-0} passed, $f failed"
[ "$f" -eq 0 ]
