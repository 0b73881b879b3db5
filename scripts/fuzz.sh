#!/usr/bin/env bash
# The dev broker's coverage-guided fuzz targets (broker/fuzz, cargo fuzz on libFuzzer), each run
# for FUZZ_SECONDS (20) from an empty corpus:
#   request       any frame through the request decoder the server runs (wire::decode_request)
#   record_batch  any bytes appended to an in-memory partition as a produced batch
# Each must end without a panic, and without an allocation over FUZZ_MALLOC_LIMIT_MB (256): a
# crafted count or length must be refused before memory is reserved for it.
#   scripts/fuzz.sh [target...]
# Needs the nightly toolchain (rustup's, for sanitizer coverage) and cargo-fuzz, which it
# installs from crates.io when missing. Without nightly it says so and exits 0 with nothing run.
# A crash's input is kept in broker/fuzz/artifacts/TARGET/ and printed as base64; replay it with
# `cargo +nightly fuzz run -s none --release TARGET FILE` from broker/.
# The last line is `fuzz: N passed, N failed`.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${FUZZ_SECONDS:-20}"
malloc_limit="${FUZZ_MALLOC_LIMIT_MB:-256}"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(request record_batch)

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "fuzz: no nightly toolchain (rustup toolchain install nightly): the fuzz targets are not run"
  exit 0
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz from crates.io"
  timeout 900 cargo install -q cargo-fuzz --locked --version 0.13.2 || { echo "fuzz: 0 passed, 1 failed"; exit 1; }
fi
cd "$root/broker"
export CARGO_INCREMENTAL=0
if ! timeout 1200 cargo +nightly fuzz build -s none --release 2>&1 | tail -3; then
  echo "fuzz: the targets did not build"
  echo "fuzz: 0 passed, 1 failed"
  exit 1
fi
passed=0
failed=0
for target in "${targets[@]}"; do
  corpus="$(mktemp -d)"
  artifacts="$root/broker/fuzz/artifacts/$target"
  mkdir -p "$artifacts"
  echo "== fuzz $target for ${seconds}s"
  if timeout $((seconds + 120)) cargo +nightly fuzz run -s none --release "$target" "$corpus" -- \
      -max_total_time="$seconds" -malloc_limit_mb="$malloc_limit" -rss_limit_mb=2048 \
      -artifact_prefix="$artifacts/" -print_final_stats=1 >"$corpus.log" 2>&1; then
    grep -E '^stat::number_of_executed_units' "$corpus.log" || true
    passed=$((passed + 1))
  else
    tail -n 40 "$corpus.log"
    for f in "$artifacts"/*; do
      [ -f "$f" ] && { echo "input $f (base64):"; base64 -w 0 "$f"; echo; }
    done
    failed=$((failed + 1))
  fi
  rm -rf "$corpus" "$corpus.log"
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
