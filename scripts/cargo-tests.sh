#!/usr/bin/env bash
# Builds the cargo test targets named by the arguments (as `cargo test` takes them), then runs
# every test binary under a time bound, so one hung test fails its binary instead of hanging CI.
#   scripts/cargo-tests.sh [cargo test selection...] [-- test-binary args...]
# TEST_BINARY_TIMEOUT (seconds, 900 by default) bounds each binary. ONLY_PACKAGE_DIR (a package
# dir relative to the root) runs only that package's binaries: with the same selection as an
# earlier build, that reuses its binaries instead of building the package again with other
# feature unification (each build of the tests costs gigabytes of disk). Prints each binary's output
# and, last, one line `cargo-tests: P passed, F failed` that scripts/test-all.sh counts: a build
# failure, a binary that timed out or crashed before its summary count as failures (a stale
# binary from an earlier build is never run). Exits non-zero when anything failed.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
limit="${TEST_BINARY_TIMEOUT:-900}"

select=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do select+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
binary_args=("$@")

json="$(mktemp)"
out="$(mktemp)"
trap 'rm -f "$json" "$out"' EXIT
if ! cargo test --no-run --message-format=json-render-diagnostics "${select[@]}" > "$json"; then
  echo "cargo-tests: the build failed: nothing was run"
  echo "cargo-tests: 0 passed, 1 failed"
  exit 1
fi
# One line per test binary: its package dir, then its path.
binaries="$(python3 -c '
import json, os, sys
only = sys.argv[2] and os.path.join(sys.argv[3], sys.argv[2])
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        package_dir = os.path.dirname(m["manifest_path"])
        if not only or os.path.normpath(package_dir) == os.path.normpath(only):
            print(package_dir + "\t" + m["executable"])
' "$json" "${ONLY_PACKAGE_DIR:-}" "$root")"

passed=0
failed=0
broken=()
while IFS=$'\t' read -r dir exe; do
  [ -n "$exe" ] || continue
  name="${exe#"$root"/}"
  echo "== $name"
  # A test binary runs from its package dir, as under `cargo test`.
  (cd "$dir" && timeout -k 15 "$limit" "$exe" "${binary_args[@]}") 2>&1 | tee "$out"
  status=${PIPESTATUS[0]}
  result="$(grep -E '^test result:' "$out" | tail -1)"
  if [ -n "$result" ]; then
    p=$(sed -E 's/.* ([0-9]+) passed.*/\1/' <<< "$result")
    f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<< "$result")
    passed=$((passed + p))
    failed=$((failed + f))
  fi
  if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    echo "cargo-tests: $name did not finish in ${limit}s: killed"
    broken+=("$name (timeout)")
    [ -z "$result" ] && failed=$((failed + 1))
  elif [ "$status" -ne 0 ] && { [ -z "$result" ] || [ "${f:-0}" -eq 0 ]; }; then
    echo "cargo-tests: $name exited with status $status"
    broken+=("$name (exit $status)")
    failed=$((failed + 1))
  fi
  f=0
done <<< "$binaries"

[ ${#broken[@]} -gt 0 ] && echo "cargo-tests: failing binaries: ${broken[*]}"
echo "cargo-tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
