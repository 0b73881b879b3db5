#!/usr/bin/env bash
# The dev broker beside Apache Kafka on this machine: produce and fetch MB/s with 1 KiB records,
# the same clients against both brokers in one run, and each broker's own CPU seconds per GB.
#
#   bench/broker.sh [records]
#
# records: 1,000,000 by default (1 KiB each, about 1 GB). Brokers: a release dev broker with a
# durable data dir in a temp dir, and Apache Kafka KAFKA_VERSION (4.1.1) from scripts/kafka.sh
# on PORT (19592; its data is wiped first, and it is stopped on exit). Clients: Krafty
# (`krafty perf produce|consume`) and librdkafka (bench/peers/rdkafka), each producing to a
# fresh topic of PARTITIONS partitions (1) with acks=1, linger.ms=5, no compression, keyless
# records, then consuming what it wrote. The table gives records/s and MB/s as the client
# measures them, and the broker process's CPU seconds (user+sys, from /proc) spent during the
# run, per GB moved. ROUNDS (1) repeats every run; medians are reported.
# Not part of CI: it builds release binaries, starts a JVM and wants a quiet machine.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
n="${1:-1000000}"
size=1024
partitions="${PARTITIONS:-1}"
rounds="${ROUNDS:-1}"
kafka_version="${KAFKA_VERSION:-4.1.1}"
kafka_port="${PORT:-19592}"
step_timeout="${STEP_TIMEOUT:-600}"
case "$n$partitions$rounds" in *[!0-9]*) echo "records, PARTITIONS and ROUNDS are numbers" >&2; exit 2 ;; esac

log() { echo "$*" >&2; }
tmp="$(mktemp -d)"
dev=""
kafka_started=""
cleanup() {
  [ -n "$dev" ] && { kill "$dev" 2>/dev/null || true; wait "$dev" 2>/dev/null || true; }
  if [ -n "$kafka_started" ]; then
    KAFKA_VERSION="$kafka_version" PORT="$kafka_port" scripts/kafka.sh stop >/dev/null 2>&1 || true
    KAFKA_VERSION="$kafka_version" PORT="$kafka_port" scripts/kafka.sh wipe >/dev/null 2>&1 || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh" # apt_install, build_native_clients, median_rows
[ -x /usr/bin/time ] || apt_install time || { log "/usr/bin/time is missing"; exit 1; }

build_native_clients # $bin, $rdkafka_peer

# cpu_ticks PID: user+sys clock ticks of a process so far.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz="$(getconf CLK_TCK)"

# measure BROKER_NAME BROKER_PID BOOTSTRAP CLIENT KIND TOPIC COMMAND...
measure() {
  local bname="$1" bpid="$2" bootstrap="$3" client="$4" kind="$5" topic="$6"
  shift 6
  local out="$tmp/out" rc=0 before after
  before="$(cpu_ticks "$bpid")"
  timeout "$step_timeout" /usr/bin/time -f '%U %S' -o "$tmp/time" "$@" >"$out" 2>"$tmp/err" || rc=$?
  after="$(cpu_ticks "$bpid")"
  local count="" rps=""
  if [ "$kind" = produce ]; then
    read -r count rps < <(sed -n 's/^\([0-9]*\) records sent, \([0-9.]*\) records\/sec.*/\1 \2/p' "$out" | tail -1) || true
  else
    read -r count rps < <(awk -F', *' '
      /data.consumed.in.nMsg/ { for (i = 1; i <= NF; i++) col[$i] = i; hdr = 1; next }
      hdr { print $col["data.consumed.in.nMsg"], $col["nMsg.sec"]; exit }' "$out") || true
  fi
  if [ "$rc" != 0 ] || [ "$count" != "$n" ]; then
    log "$bname / $client $kind FAILED (exit $rc, ${count:-no} records of $n):"
    tail -n 5 "$out" "$tmp/err" >&2 || true
    echo "$bname|$client $kind|0|0|0|0" >>"$tmp/results"
    return 1
  fi
  local gb mbs broker_cpu client_cpu
  gb="$(awk -v n="$n" -v s="$size" 'BEGIN { print n * s / 1e9 }')"
  mbs="$(awk -v r="$rps" -v s="$size" 'BEGIN { printf "%.0f", r * s / 1048576 }')"
  broker_cpu="$(awk -v d="$((after - before))" -v hz="$hz" -v gb="$gb" 'BEGIN { printf "%.2f", d / hz / gb }')"
  client_cpu="$(tail -n 1 "$tmp/time" | awk -v gb="$gb" '{ printf "%.2f", ($1 + $2) / gb }')"
  log "$bname / $client $kind: $(printf '%.0f' "$rps") records/s, $mbs MB/s; broker $broker_cpu CPU s/GB, client $client_cpu"
  echo "$bname|$client $kind|$(printf '%.0f' "$rps")|$mbs|$broker_cpu|$client_cpu" >>"$tmp/results"
}

run_clients() { # run_clients BROKER_NAME BROKER_PID BOOTSTRAP
  local bname="$1" bpid="$2" bs="$3" t
  krafty() { timeout 120 "$bin/krafty" --bootstrap-server "$bs" "$@"; }
  log "$bname: warm-up (untimed Krafty produce and consume)"
  t="bench-warm-$RANDOM"
  krafty topics create --topic "$t" --partitions "$partitions" --replication-factor 1 >/dev/null
  krafty perf produce --topic "$t" --num-records "$n" --record-size "$size" -X acks=1 -X linger.ms=5 \
    -X enable.idempotence=false >/dev/null 2>&1 || log "warm-up produce failed"
  krafty perf consume --topic "$t" --messages "$n" >/dev/null 2>&1 || log "warm-up consume failed"
  krafty topics delete --topic "$t" >/dev/null 2>&1 || true
  for round in $(seq "$rounds"); do
    t="bench-krafty-$round-$RANDOM"
    krafty topics create --topic "$t" --partitions "$partitions" --replication-factor 1 >/dev/null
    measure "$bname" "$bpid" "$bs" krafty produce "$t" "$bin/krafty" --bootstrap-server "$bs" perf produce \
      --topic "$t" --num-records "$n" --record-size "$size" -X acks=1 -X linger.ms=5 \
      -X enable.idempotence=false &&
      measure "$bname" "$bpid" "$bs" krafty consume "$t" "$bin/krafty" --bootstrap-server "$bs" perf consume \
        --topic "$t" --messages "$n" || true
    krafty topics delete --topic "$t" >/dev/null 2>&1 || true
    if [ -n "$rdkafka_peer" ]; then
      t="bench-rdkafka-$round-$RANDOM"
      krafty topics create --topic "$t" --partitions "$partitions" --replication-factor 1 >/dev/null
      measure "$bname" "$bpid" "$bs" librdkafka produce "$t" "$rdkafka_peer" produce "$bs" "$t" "$n" "$size" \
        acks=1 linger.ms=5 &&
        measure "$bname" "$bpid" "$bs" librdkafka consume "$t" "$rdkafka_peer" consume "$bs" "$t" "$n" || true
      krafty topics delete --topic "$t" >/dev/null 2>&1 || true
    fi
  done
}

# --- the dev broker ---
port=$((20000 + RANDOM % 20000))
mkdir "$tmp/data"
"$bin/krafty-broker" --listen "127.0.0.1:$port" --data-dir "$tmp/data" >"$tmp/broker.log" 2>&1 &
dev=$!
timeout 20 bash -c "until (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null; do sleep 0.05; done" ||
  { log "the dev broker did not start:"; cat "$tmp/broker.log" >&2; exit 1; }
run_clients "krafty-broker" "$dev" "127.0.0.1:$port"
kill "$dev"; wait "$dev" 2>/dev/null || true; dev=""

# --- Apache Kafka ---
export KAFKA_VERSION="$kafka_version" PORT="$kafka_port"
scripts/kafka.sh stop >/dev/null 2>&1 || true
scripts/kafka.sh wipe >/dev/null 2>&1 || true
kafka_bs="$(timeout 600 scripts/kafka.sh start)"
kafka_started=1
kafka_pid="$(cat ".cache/kafka/$kafka_version/run-$kafka_port/pid")"
run_clients "kafka-$kafka_version" "$kafka_pid" "$kafka_bs"

echo
echo "records per run: $n x $size B, $partitions partition(s), acks=1, linger.ms=5; krafty $(git describe --always --dirty 2>/dev/null || echo '?')"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| broker | client | records/s | MB/s | broker CPU s per GB | client CPU s per GB |"
echo "|---|---|---:|---:|---:|---:|"
median_rows 2 "$tmp/results"
[ "$rounds" = 1 ] || echo "(medians of $rounds rounds)"
grep -q '|0|0|0|0$' "$tmp/results" && exit 1
exit 0
