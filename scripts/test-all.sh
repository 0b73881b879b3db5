#!/usr/bin/env bash
# Runs every test in every language: the Rust workspace (unit, integration, examples, doc
# tests), the Python package's suite, then the real-client interop suite (librdkafka via
# confluent-kafka, kafka-python) against the dev broker binary and against real Kafka.
# Installs what it needs (a Python venv, Kafka's jars) on first use.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
passed=0
failed=0
suites_failed=()
log="$(mktemp)"

count_cargo() {
  local p f
  p=$(grep -E '^test result:' "$log" | sed -E 's/.* ([0-9]+) passed.*/\1/' | awk '{s+=$1} END {print s+0}')
  f=$(grep -E '^test result:' "$log" | sed -E 's/.* ([0-9]+) failed.*/\1/' | awk '{s+=$1} END {print s+0}')
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0}))
  : > "$log"
}

count_pytest() {
  local p f
  p=$(grep -Eo '[0-9]+ passed' "$log" | tail -1 | grep -Eo '[0-9]+')
  f=$(grep -Eo '[0-9]+ failed' "$log" | tail -1 | grep -Eo '[0-9]+')
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0}))
  : > "$log"
}

echo "== Rust: cargo test --workspace"
# The Python extension is tested from Python (its cdylib has no Rust tests to run).
if ! cargo test --workspace --exclude krafty-python --all-targets 2>&1 | tee "$log"; then
  suites_failed+=("rust")
fi
count_cargo
if ! cargo test --workspace --exclude krafty-python --doc 2>&1 | tee "$log"; then
  suites_failed+=("rust-doc")
fi
count_cargo

echo "== Examples, each against an embedded broker"
for example in quickstart producer_callbacks consumer_group keyed_ordering delayed_queue; do
  if cargo run -q -p krafty-examples --example "$example"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    suites_failed+=("example:$example")
  fi
done

py="$(scripts/python-env.sh)"
# kcat (librdkafka's CLI) for the interop suite's kcat test, from Debian's packages.
if ! command -v kcat >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  echo "== installing kcat"
  (apt-get install -y -q kcat || (apt-get update -q && apt-get install -y -q kcat)) >/dev/null 2>&1 \
    || echo "kcat could not be installed: its interop test is skipped"
fi
echo "== Python package: pip install ./bindings/python, then its pytest suite"
# The dev profile shares the build with the Rust tests above (bench/python.sh installs release).
if PATH="$(dirname "$py"):$PATH" MATURIN_PEP517_ARGS="--profile dev" \
    "$py" -m pip install -q --no-build-isolation --disable-pip-version-check ./bindings/python \
  && (cd bindings/python && "$py" -m pytest -q -p no:cacheprovider -W ignore::DeprecationWarning 2>&1 | tee "$log"); then :; else
  suites_failed+=("python-package")
fi
count_pytest

echo "== Python: real clients against the dev broker"
cargo build -q -p krafty-broker --bin krafty-broker
if (cd interop/python && "$py" -m pytest -q -p no:cacheprovider -W ignore::DeprecationWarning 2>&1 | tee "$log"); then :; else
  suites_failed+=("python-interop")
fi
count_pytest

# The same end-to-end and interop suites against a real Apache Kafka 4.x (KRaft, from Maven
# Central via scripts/kafka.sh); KRAFTY_SKIP_REAL_KAFKA=1 skips this part.
if [ "${KRAFTY_SKIP_REAL_KAFKA:-0}" != 1 ]; then
  echo "== Real Apache Kafka: end-to-end and interop suites"
  if kafka="$(scripts/kafka.sh start)"; then
    if KRAFTY_TEST_BOOTSTRAP="$kafka" cargo test -p krafty-tests 2>&1 | tee "$log"; then :; else suites_failed+=("kafka:rust-e2e"); fi
    count_cargo
    if (cd interop/python && KRAFTY_TEST_BOOTSTRAP="$kafka" "$py" -m pytest -q -p no:cacheprovider -W ignore::DeprecationWarning 2>&1 | tee "$log"); then :; else
      suites_failed+=("kafka:python-interop")
    fi
    count_pytest
    scripts/kafka.sh stop
  else
    suites_failed+=("kafka:start")
  fi
fi
rm -f "$log"

echo
echo "== Summary"
if [ ${#suites_failed[@]} -gt 0 ]; then
  echo "failing suites: ${suites_failed[*]}"
  [ "$failed" -eq 0 ] && failed=1
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
