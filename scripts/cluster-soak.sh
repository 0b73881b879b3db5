#!/usr/bin/env bash
# Cluster soak (minutes, not part of the test command): interop/python/test_cluster_failover.py
# at soak size. librdkafka, the Java client (Kafka's VerifiableProducer) and Krafty's Python
# producer each send 200,000 records with acks=all and idempotence to a replication-factor-3
# topic on a three-node dev cluster (krafty.DevBroker(nodes=3)) through 12 leader restarts;
# every acknowledged record must be read back once, in order. The test command runs the same
# file with its defaults (20,000 records, 6 restarts). KRAFTY_FAILOVER_RECORDS,
# KRAFTY_FAILOVER_ROUNDS and KRAFTY_FAILOVER_RATE override the sizes; extra arguments go to
# pytest (e.g. -k librdkafka).
set -euo pipefail
cd "$(dirname "$0")/.."
py="$(scripts/python-env.sh)"
if ! "$py" -c "import krafty; krafty.DevBroker(nodes=3).shutdown()" >/dev/null 2>&1; then
  echo "installing the Python package (bindings/python, dev profile)" >&2
  PATH="$(dirname "$py"):$PATH" MATURIN_PEP517_ARGS="--profile dev" timeout -k 15 1800 \
    "$py" -m pip install -q --no-build-isolation --disable-pip-version-check ./bindings/python
fi
# Kafka 4.4.0's jars for VerifiableProducer (the test finds them where scripts/kafka.sh puts them).
if command -v java >/dev/null 2>&1; then
  KAFKA_VERSION=4.4.0 scripts/kafka.sh install
else
  echo "no java on PATH: the Java producer's soak is skipped" >&2
fi
export KRAFTY_FAILOVER_RECORDS="${KRAFTY_FAILOVER_RECORDS:-200000}"
export KRAFTY_FAILOVER_ROUNDS="${KRAFTY_FAILOVER_ROUNDS:-12}"
unset KRAFTY_TEST_BOOTSTRAP
cd interop/python
# -s: each test prints its counts and rounds; pytest.ini's 300 s per test is for the defaults.
timeout -k 15 3600 "$py" -m pytest test_cluster_failover.py -v -s -rfEs -p no:cacheprovider \
  -W ignore::DeprecationWarning -o timeout=1800 "$@"
