#!/usr/bin/env bash
# Runs every test in every language, and the client suites against real Apache Kafka:
#   1. the dev broker: the Rust workspace (unit, integration, examples, doc tests), the Python
#      package's suite, the real-client interop suite (librdkafka via confluent-kafka,
#      kafka-python, kcat) against the dev broker binary;
#   2. Apache Kafka 4.4.0 (scripts/kafka.sh): the Rust client suites (crate krafty-tests), the
#      Python package's suite and the interop suite;
#   3. Apache Kafka 4.1.1 and 3.9.1: the Rust client suites and the interop suite.
# KRAFTY_SKIP_REAL_KAFKA=1 skips 2 and 3; KRAFTY_KAFKA_VERSIONS="4.4.0 4.1.1 3.9.1" picks them
# (the first gets the Python package's suite too).
# Installs what it needs (a Python venv, Kafka's jars, kcat) on first use. Every step is bounded
# in time; the last line is `N passed, N failed` (skips and errors are counted on the line
# before it).
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
# The dev broker part must not silently target a cluster named in the caller's environment.
unset KRAFTY_TEST_BOOTSTRAP KRAFTY_TEST_SASL_BOOTSTRAP KRAFTY_TEST_RESTART_CMD \
  KRAFTY_TEST_SSL_BOOTSTRAP KRAFTY_TEST_SASL_SSL_BOOTSTRAP KRAFTY_TEST_SSL_CA \
  KRAFTY_TEST_MTLS_BOOTSTRAP
started=$(date +%s)
passed=0
failed=0
skipped=0
suites_failed=()
log="$(mktemp)"
kafkas=()

cleanup() {
  for k in "${kafkas[@]}"; do
    KAFKA_VERSION="${k%%@*}" PORT="${k##*@}" scripts/kafka.sh stop || true
  done
  rm -f "$log"
}
trap cleanup EXIT
trap 'echo "interrupted"; exit 130' INT TERM

# cargo_suite LABEL [env assignments...] -- [cargo test selection...]
cargo_suite() {
  local label="$1" env_vars=() line p f
  shift
  while [ "$1" != "--" ]; do env_vars+=("$1"); shift; done
  shift
  echo "== $label"
  env "${env_vars[@]}" scripts/cargo-tests.sh "$@" 2>&1 | tee "$log"
  line="$(grep -E '^cargo-tests: [0-9]+ passed, [0-9]+ failed' "$log" | tail -1)"
  if [ -z "$line" ]; then
    p=0; f=1
  else
    p=$(sed -E 's/^cargo-tests: ([0-9]+) passed.*/\1/' <<< "$line")
    f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<< "$line")
  fi
  passed=$((passed + p))
  failed=$((failed + f))
  skipped=$((skipped + $(grep -Eo '[0-9]+ ignored' "$log" | awk '{s+=$1} END {print s+0}')))
  [ "$f" -eq 0 ] || suites_failed+=("$label")
}

# pytest_suite LABEL DIR [env assignments...]: pytest in DIR with a bound on the whole run (and
# pytest-timeout's per-test bound from the suite's own settings).
pytest_suite() {
  local label="$1" dir="$2" line p f e s status
  shift 2
  echo "== $label"
  (cd "$dir" && env "$@" timeout -k 15 2400 "$py" -m pytest -q -p no:cacheprovider -rfEs \
    -W ignore::DeprecationWarning) 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
  line="$(grep -E '(passed|failed|error|skipped|no tests ran).* in [0-9.]+s' "$log" | tail -1)"
  p=$(grep -Eo '[0-9]+ passed' <<< "$line" | grep -Eo '[0-9]+')
  f=$(grep -Eo '[0-9]+ failed' <<< "$line" | grep -Eo '[0-9]+')
  e=$(grep -Eo '[0-9]+ errors?' <<< "$line" | grep -Eo '[0-9]+')
  s=$(grep -Eo '[0-9]+ skipped' <<< "$line" | grep -Eo '[0-9]+')
  f=$(( ${f:-0} + ${e:-0} ))
  # Exit 5 is "no tests ran"; a timeout or crash leaves no summary: both are failures.
  if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "$label: pytest exited with status $status"
    f=1
  fi
  passed=$((passed + ${p:-0}))
  failed=$((failed + f))
  skipped=$((skipped + ${s:-0}))
  [ "$f" -eq 0 ] || suites_failed+=("$label")
}

# node_suite LABEL [env assignments...]: the Node package's suite (bindings/node/test.sh: npm ci,
# the debug addon, tsc --strict, node --test), bounded as a whole; it ends with `N passed, N failed`.
node_suite() {
  local label="$1" line p f status
  shift
  echo "== $label"
  env "$@" timeout -k 15 900 bindings/node/test.sh 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
  line="$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)"
  p=$(sed -E 's/^([0-9]+) passed.*/\1/' <<< "${line:-0 passed, 1 failed}")
  f=$(sed -E 's/.* ([0-9]+) failed$/\1/' <<< "${line:-0 passed, 1 failed}")
  if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "$label: exited with status $status"
    f=1
  fi
  passed=$((passed + p))
  failed=$((failed + f))
  skipped=$((skipped + $(grep -Eo '^# skipped [0-9]+' "$log" | grep -Eo '[0-9]+' | tail -1 || echo 0)))
  [ "$f" -eq 0 ] || suites_failed+=("$label")
}

# c_suite LABEL: libkrafty's C suite (bindings/c/tests/run.sh: the crate built and installed
# with its Makefile, the committed include/krafty.h checked for drift, C tests against the
# shared and the static library, then under valgrind), bounded as a whole.
c_suite() {
  local label="$1" line p f status
  echo "== $label"
  timeout -k 15 900 bindings/c/tests/run.sh 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
  line="$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)"
  if [ -z "$line" ]; then
    echo "$label: no result line (exit status $status)"
    p=0; f=1
  else
    p=$(sed -E 's/^([0-9]+) passed.*/\1/' <<< "$line")
    f=$(sed -E 's/.* ([0-9]+) failed$/\1/' <<< "$line")
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  fi
  passed=$((passed + p))
  failed=$((failed + f))
  [ "$f" -eq 0 ] || suites_failed+=("$label")
}

# kcat (librdkafka's CLI) for the kcat tests (the SASL suite, the interop suite), from Debian's
# packages, before any suite runs.
if ! command -v kcat >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  echo "== installing kcat"
  (timeout 300 apt-get install -y -q kcat || (timeout 300 apt-get update -q && timeout 300 apt-get install -y -q kcat)) >/dev/null 2>&1 \
    || echo "kcat could not be installed: its tests are skipped"
fi
# The Kafka passes below run the tests package's binaries of this same build.
workspace_tests=(--workspace --exclude krafty-python --all-targets --no-fail-fast)
cargo_suite "Rust: the workspace against the dev broker" -- "${workspace_tests[@]}"
echo "== Rust: doc tests"
if timeout -k 15 1200 cargo test --workspace --exclude krafty-python --doc 2>&1 | tee "$log"; then :; else
  suites_failed+=("rust-doc")
  grep -q '^test result:' "$log" || failed=$((failed + 1))
fi
passed=$((passed + $(grep -E '^test result:' "$log" | sed -E 's/.* ([0-9]+) passed.*/\1/' | awk '{s+=$1} END {print s+0}')))
failed=$((failed + $(grep -E '^test result:' "$log" | sed -E 's/.* ([0-9]+) failed.*/\1/' | awk '{s+=$1} END {print s+0}')))

echo "== Examples, each against an embedded broker"
# Built with the workspace's selection, so the tests' build is reused (a `-p` build would unify
# features differently and compile the crates again).
binaries_ok=1
cargo build -q --workspace --exclude krafty-python --examples --bins || binaries_ok=0
[ "$binaries_ok" = 1 ] || { failed=$((failed + 1)); suites_failed+=("examples and binaries:build"); }
for example in quickstart producer_callbacks consumer_group keyed_ordering delayed_queue exactly_once; do
  if timeout -k 5 300 "target/debug/examples/$example"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    suites_failed+=("example:$example")
  fi
done

py="$(scripts/python-env.sh)" || { echo "the Python venv could not be set up"; exit 1; }
echo "== Python package: pip install ./bindings/python"
# The dev profile shares the build with the Rust tests above (bench/python.sh installs release).
# A failed install fails the run: the suite never tests an older installed package.
python_ok=1
"$py" -m pip uninstall -q -y krafty >/dev/null 2>&1
if ! PATH="$(dirname "$py"):$PATH" MATURIN_PEP517_ARGS="--profile dev" timeout -k 15 1800 \
    "$py" -m pip install -q --no-build-isolation --disable-pip-version-check ./bindings/python; then
  python_ok=0
  failed=$((failed + 1))
  suites_failed+=("python:install")
fi
[ "$python_ok" = 1 ] && pytest_suite "Python package against the dev broker" bindings/python
# python_example LABEL [env assignments...]: the Python exactly-once example (checks itself).
python_example() {
  local label="$1"
  shift
  echo "== $label"
  if env "$@" timeout -k 5 300 "$py" examples/python/exactly_once.py; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    suites_failed+=("$label")
  fi
}
[ "$python_ok" = 1 ] && python_example "example:exactly_once.py on an in-process DevBroker"
node_suite "Node package against the dev broker"

[ "$binaries_ok" = 1 ] && pytest_suite "Python interop against the dev broker" interop/python

c_suite "C library (libkrafty) against the in-process dev broker"

# The dev broker's fuzz targets, briefly (scripts/fuzz.sh: FUZZ_SECONDS each; each target one
# test). Without a nightly toolchain the script says so and nothing is counted.
echo "== Fuzz: the broker's request decoder and batch checks"
timeout -k 15 1800 scripts/fuzz.sh 2>&1 | tee "$log"
fuzz_status=${PIPESTATUS[0]}
fuzz_line="$(grep -E '^fuzz: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)"
if [ -n "$fuzz_line" ]; then
  passed=$((passed + $(sed -E 's/^fuzz: ([0-9]+) passed.*/\1/' <<< "$fuzz_line")))
  fuzz_failed=$(sed -E 's/.* ([0-9]+) failed$/\1/' <<< "$fuzz_line")
  failed=$((failed + fuzz_failed))
  [ "$fuzz_failed" -eq 0 ] || suites_failed+=("fuzz")
elif [ "$fuzz_status" -ne 0 ]; then
  failed=$((failed + 1))
  suites_failed+=("fuzz")
fi

# Real Apache Kafka, one version at a time (each on a port of its own, stopped on exit).
if [ "${KRAFTY_SKIP_REAL_KAFKA:-0}" != 1 ]; then
  first=1
  port=19092
  for version in ${KRAFTY_KAFKA_VERSIONS:-4.4.0 4.1.1 3.9.1}; do
    echo "== Apache Kafka $version"
    KAFKA_VERSION="$version" PORT="$port" scripts/kafka.sh wipe
    if kafka="$(KAFKA_VERSION="$version" PORT="$port" scripts/kafka.sh start)"; then
      kafkas+=("$version@$port")
      # scripts/kafka.sh opens a SASL_PLAINTEXT listener on PORT+2 (tests/tests/security_sasl.rs),
      # SSL on PORT+3 and SASL_SSL on PORT+4 with its CA at `ca-path` (security_tls.rs).
      cargo_suite "Rust client suites on Kafka $version" KRAFTY_TEST_BOOTSTRAP="$kafka" \
        KRAFTY_TEST_SASL_BOOTSTRAP="127.0.0.1:$((port + 2))" \
        KRAFTY_TEST_SSL_BOOTSTRAP="127.0.0.1:$((port + 3))" \
        KRAFTY_TEST_SASL_SSL_BOOTSTRAP="127.0.0.1:$((port + 4))" \
        KRAFTY_TEST_MTLS_BOOTSTRAP="127.0.0.1:$((port + 5))" \
        KRAFTY_TEST_SSL_CA="$(KAFKA_VERSION="$version" PORT="$port" scripts/kafka.sh ca-path)" \
        KRAFTY_TEST_RESTART_CMD="KAFKA_VERSION=$version PORT=$port $root/scripts/kafka.sh restart" \
        ONLY_PACKAGE_DIR=tests -- "${workspace_tests[@]}"
      if [ "$first" = 1 ] && [ "$python_ok" = 1 ]; then
        pytest_suite "Python package on Kafka $version" bindings/python KRAFTY_TEST_BOOTSTRAP="$kafka" \
          KRAFTY_TEST_SASL_BOOTSTRAP="127.0.0.1:$((port + 2))" \
          KRAFTY_TEST_SSL_BOOTSTRAP="127.0.0.1:$((port + 3))" \
          KRAFTY_TEST_SASL_SSL_BOOTSTRAP="127.0.0.1:$((port + 4))" \
          KRAFTY_TEST_MTLS_BOOTSTRAP="127.0.0.1:$((port + 5))" \
          KRAFTY_TEST_SSL_CA="$(KAFKA_VERSION="$version" PORT="$port" scripts/kafka.sh ca-path)"
      elif [ "$python_ok" = 1 ]; then
        # The other versions: the Python package's security suite (SASL, OAUTHBEARER, TLS, mTLS).
        pytest_suite "Python security on Kafka $version" bindings/python \
          PYTEST_ADDOPTS="tests/test_security.py" KRAFTY_TEST_BOOTSTRAP="$kafka" \
          KRAFTY_TEST_SASL_BOOTSTRAP="127.0.0.1:$((port + 2))" \
          KRAFTY_TEST_SSL_BOOTSTRAP="127.0.0.1:$((port + 3))" \
          KRAFTY_TEST_SASL_SSL_BOOTSTRAP="127.0.0.1:$((port + 4))" \
          KRAFTY_TEST_MTLS_BOOTSTRAP="127.0.0.1:$((port + 5))" \
          KRAFTY_TEST_SSL_CA="$(KAFKA_VERSION="$version" PORT="$port" scripts/kafka.sh ca-path)"
        python_example "example:exactly_once.py on Kafka $version" KRAFTY_BOOTSTRAP="$kafka"
      fi
      [ "$first" = 1 ] && node_suite "Node package on Kafka $version" KRAFTY_TEST_BOOTSTRAP="$kafka"
      # The transactional example on Apache Kafka too (it ran on an embedded dev broker above).
      if [ "$first" = 1 ]; then
        if KRAFTY_BOOTSTRAP="$kafka" timeout -k 5 300 \
            target/debug/examples/exactly_once; then
          passed=$((passed + 1))
        else
          failed=$((failed + 1))
          suites_failed+=("example:exactly_once on Kafka $version")
        fi
      fi
      pytest_suite "Python interop on Kafka $version" interop/python KRAFTY_TEST_BOOTSTRAP="$kafka"
      KAFKA_VERSION="$version" PORT="$port" scripts/kafka.sh stop
      KAFKA_VERSION="$version" PORT="$port" scripts/kafka.sh wipe
    else
      failed=$((failed + 1))
      suites_failed+=("kafka-$version:start")
    fi
    first=0
    port=$((port + 100))
  done
fi

echo
echo "== Summary ($(( $(date +%s) - started )) s)"
[ ${#suites_failed[@]} -gt 0 ] && echo "failing suites: ${suites_failed[*]}"
if [ ${#suites_failed[@]} -gt 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "skipped or ignored: $skipped"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
