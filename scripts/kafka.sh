#!/usr/bin/env bash
# Apache Kafka 4.x (KRaft, single node, 127.0.0.1) from Maven Central, for compatibility tests.
#   scripts/kafka.sh install|start|stop|status      (PORT=19092 by default)
# The jars are cached in .cache/kafka/lib; data and logs live in .cache/kafka/run.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="$root/.cache/kafka"
run="$cache/run"
port="${PORT:-19092}"
controller_port=$((port + 1))

install() {
  if [ ! -f "$cache/lib/kafka_2.13-"*.jar ] 2>/dev/null; then
    # Everything Maven prints goes to stderr: `start` prints only the bootstrap address.
    (cd "$root/scripts/kafka" && mvn -q -B -Dstyle.color=never dependency:copy-dependencies \
      -DoutputDirectory="$cache/lib" -DincludeScope=runtime) >&2
  fi
}

start() {
  install
  py="$("$root/scripts/python-env.sh")"
  mkdir -p "$run"
  cat > "$run/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$run/data
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
PROPS
  if [ ! -f "$run/data/meta.properties" ]; then
    java -cp "$cache/lib/*" kafka.tools.StorageTool format -t "$(java -cp "$cache/lib/*" kafka.tools.StorageTool random-uuid)" \
      -c "$run/server.properties" >/dev/null 2>&1
  fi
  nohup java -Xmx512m -cp "$cache/lib/*" kafka.Kafka "$run/server.properties" > "$run/kafka.log" 2>&1 &
  echo $! > "$run/pid"
  for _ in $(seq 1 120); do
    if (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && "$py" -c "
from confluent_kafka.admin import AdminClient
AdminClient({'bootstrap.servers': '127.0.0.1:$port'}).list_topics(timeout=2)" 2>/dev/null; then
      echo "127.0.0.1:$port"
      return 0
    fi
    sleep 0.5
  done
  echo "Kafka did not start; see $run/kafka.log" >&2
  return 1
}

stop() {
  if [ -f "$run/pid" ]; then
    kill "$(cat "$run/pid")" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$(cat "$run/pid")" 2>/dev/null || break; sleep 0.5; done
    rm -f "$run/pid"
  fi
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) [ -f "$run/pid" ] && kill -0 "$(cat "$run/pid")" 2>/dev/null && echo running || echo stopped ;;
  *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
