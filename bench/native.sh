#!/usr/bin/env bash
# Krafty beside NATIVE Kafka clients, the same workload on the same broker in one run:
# librdkafka (through the rdkafka Rust crate, bench/peers/rdkafka), franz-go
# (bench/peers/franz-go) and the Java client (Apache Kafka's ProducerPerformance /
# ConsumerPerformance). Each client process runs under /usr/bin/time: the table gives its
# records/s as the client itself measures it (producers: first send to the last
# acknowledgement; consumers: assignment, or for the Java tool the end of its group join, to
# the last record) and its CPU per million records (user+sys of the whole process, start-up
# and shutdown included: for the JVM that is a few CPU seconds of its own per run).
#
#   bench/native.sh [records] [bootstrap]
#
# records: 1,000,000 by default, 100 bytes each. bootstrap: a running broker (for example
# Apache Kafka from `scripts/kafka.sh start`); without one a release dev broker is started
# with a durable data dir in a temp dir and killed on exit.
# Produce: acks=1, linger.ms=5, no compression, a fresh topic of PARTITIONS partitions (1 by
# default) per run, keyless records, every other setting at the client's defaults (Krafty's
# batch.size is 1,000,000 as librdkafka's; it runs a second time with the Java client's
# 16384). Consume: every consumer reads the same topic, the one Krafty wrote
# at its defaults (CONSUME_FROM=krafty-16k|librdkafka|franz-go|java picks another).
# Before the first measured run an untimed Krafty produce and consume of the same size warms
# the broker (a JVM broker's JIT and page cache would otherwise tax whichever client runs
# first). ROUNDS (1) repeats every run (each round on fresh topics); the table gives each row's
# median records/s and median CPU.
# Environment: PARTITIONS (1), ROUNDS (1), STEP_TIMEOUT (s, per client run; 600),
# KAFKA_VERSION (Java tools; 4.4.0).
# Not part of CI: it builds release binaries and wants a quiet machine.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
n="${1:-1000000}"
bootstrap="${2:-}"
size=100
step_timeout="${STEP_TIMEOUT:-600}"
kafka_version="${KAFKA_VERSION:-4.4.0}"
consume_from="${CONSUME_FROM:-krafty}"
partitions="${PARTITIONS:-1}"
rounds="${ROUNDS:-1}"
case "$rounds" in '' | *[!0-9]* | 0) echo "ROUNDS must be a positive number" >&2; exit 2 ;; esac
case "$partitions" in '' | *[!0-9]* | 0) echo "PARTITIONS must be a positive number" >&2; exit 2 ;; esac
case "$n" in '' | *[!0-9]*) echo "records must be a number, not '$n'" >&2; exit 2 ;; esac

log() { echo "$*" >&2; }

tmp="$(mktemp -d)"
broker=""
bin=""
run_id="$(date +%H%M%S)-$RANDOM"
cleanup() {
  # On a broker given by the caller, delete the topics (and the Java consumer's group) this
  # run made.
  if [ -z "$broker" ] && [ -s "$tmp/topics" ]; then
    while read -r t; do
      timeout 60 "$bin/krafty" --bootstrap-server "$bootstrap" topics delete --topic "$t" >/dev/null 2>&1 ||
        log "could not delete topic $t"
    done <"$tmp/topics"
    timeout 60 "$bin/krafty" --bootstrap-server "$bootstrap" groups delete --group "native-$run_id-java" \
      >/dev/null 2>&1 || true
  fi
  if [ -n "$broker" ]; then
    kill "$broker" 2>/dev/null || true
    wait "$broker" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- tools -------------------------------------------------------------------------------
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh" # apt_install, build_native_clients
if [ ! -x /usr/bin/time ]; then
  log "installing Debian's time package (for /usr/bin/time)"
  apt_install time || { log "/usr/bin/time is missing and could not be installed"; exit 1; }
fi

# --- builds (each bounded) ---------------------------------------------------------------
build_native_clients # $bin, $rdkafka_peer

franz_peer=""
if command -v go >/dev/null; then
  log "building bench/peers/franz-go"
  if (cd bench/peers/franz-go && GOTOOLCHAIN=local GOFLAGS=-mod=readonly \
        timeout 1800 go build -trimpath -o target/franz-peer .); then
    franz_peer="$root/bench/peers/franz-go/target/franz-peer"
  else
    log "franz-go peer: build failed; its rows are skipped"
  fi
else
  log "franz-go peer: no go on PATH (it needs Go >= 1.26); its rows are skipped"
fi

java_cp=""
if ! command -v java >/dev/null; then
  log "installing a Java runtime (default-jre-headless)"
  apt_install default-jre-headless || log "no java: the Java client's rows are skipped"
fi
if command -v java >/dev/null; then
  if KAFKA_VERSION="$kafka_version" timeout 1200 scripts/kafka.sh install; then
    java_cp="$root/.cache/kafka/$kafka_version/lib/*"
  else
    log "Apache Kafka $kafka_version jars could not be fetched: the Java client's rows are skipped"
  fi
fi
# As kafka-producer-perf-test.sh / kafka-run-class.sh run them.
java_opts=(-Xmx512M -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
           -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true)

# --- broker ------------------------------------------------------------------------------
if [ -z "$bootstrap" ]; then
  port=$((20000 + RANDOM % 20000))
  bootstrap="127.0.0.1:$port"
  mkdir "$tmp/data"
  "$bin/krafty-broker" --listen "$bootstrap" --data-dir "$tmp/data" --set num.partitions=1 \
    >"$tmp/broker.log" 2>&1 &
  broker=$!
  if ! timeout 20 bash -c "until (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null; do sleep 0.05; done"; then
    log "the dev broker did not listen on $bootstrap within 20 s:"; cat "$tmp/broker.log" >&2; exit 1
  fi
  broker_desc="krafty-broker (release, durable data dir in $tmp/data, num.partitions=1)"
else
  broker_desc="$bootstrap"
fi

krafty() { timeout 120 "$bin/krafty" --bootstrap-server "$bootstrap" "$@"; }
new_topic() { # new_topic NAME: a fresh topic of $partitions partitions
  local t="native-$run_id-r$round-$1"
  krafty topics create --topic "$t" --partitions "$partitions" --replication-factor 1 >/dev/null
  echo "$t" >>"$tmp/topics"
  echo "$t"
}

# --- runs --------------------------------------------------------------------------------
declare -A topic_of=()
round=0
step=0

# measure KEY CLIENT WORKLOAD KIND(produce|consume) TOPIC COMMAND...
measure() {
  local key="$1" client="$2" workload="$3" kind="$4" topic="$5"
  shift 5
  step=$((step + 1))
  local out="$tmp/$step.out" err="$tmp/$step.err" tf="$tmp/$step.time" rc=0
  log "[$step] $client: $workload ($topic)"
  timeout "$step_timeout" /usr/bin/time -f '%U %S' -o "$tf" "$@" >"$out" 2>"$err" || rc=$?
  local rps="" count=""
  if [ "$kind" = produce ]; then
    # "N records sent, X records/sec (...)": the last such line is the final one.
    read -r count rps < <(sed -n 's/^\([0-9]*\) records sent, \([0-9.]*\) records\/sec.*/\1 \2/p' "$out" | tail -1) || true
  else
    # A "..., data.consumed.in.nMsg, nMsg.sec" header and a value line; the Java tool's
    # fetch.nMsg.sec leaves out its consumer group join.
    read -r count rps < <(awk -F', *' '
      /data.consumed.in.nMsg/ { for (i = 1; i <= NF; i++) col[$i] = i; hdr = 1; next }
      hdr { c = ("fetch.nMsg.sec" in col) ? col["fetch.nMsg.sec"] : col["nMsg.sec"];
            print $col["data.consumed.in.nMsg"], $c; exit }' "$out") || true
  fi
  if [ "$rc" != 0 ] || [ -z "$rps" ] || [ "$count" != "$n" ]; then
    local why="exit $rc"
    [ "$rc" = 124 ] && why="timed out after ${step_timeout}s"
    [ "$rc" = 0 ] && why="${count:-no} records reported of $n"
    log "[$step] $client FAILED ($why); last output:"
    tail -n 5 "$out" "$err" >&2 || true
    echo "$client|$workload|FAILED||" >>"$tmp/results"
    return 1
  fi
  local cpu
  cpu="$(tail -n 1 "$tf" | awk -v n="$n" '{ printf "%.2f", ($1 + $2) * 1000000 / n }')"
  local mbs
  mbs="$(awk -v r="$rps" -v s="$size" 'BEGIN { printf "%.1f", r * s / 1048576 }')"
  rps="$(printf '%.0f' "$rps")"
  log "[$step] $client: $rps records/s, $mbs MB/s, $cpu CPU s per 1M records"
  echo "$client|$workload|$rps|$mbs|$cpu" >>"$tmp/results"
  [ "$kind" = produce ] && topic_of[$key]="$topic"
  return 0
}

log "warm-up: an untimed Krafty produce and consume of $n records"
t="$(new_topic warm-up)"
krafty perf produce --topic "$t" --num-records "$n" --record-size "$size" -X acks=1 \
  -X linger.ms=5 -X enable.idempotence=false >/dev/null 2>&1 || log "warm-up produce failed"
krafty perf consume --topic "$t" --messages "$n" >/dev/null 2>&1 || log "warm-up consume failed"

for round in $(seq "$rounds"); do
  [ "$rounds" = 1 ] || log "round $round of $rounds"
  produce_wl="produce $partitions partition(s), acks=1, linger.ms=5"
  t="$(new_topic krafty)"
  measure krafty krafty "$produce_wl" produce "$t" \
    "$bin/krafty" --bootstrap-server "$bootstrap" perf produce --topic "$t" --num-records "$n" \
      --record-size "$size" -X acks=1 -X linger.ms=5 -X enable.idempotence=false || true
  t="$(new_topic krafty-16k)"
  measure krafty-16k krafty "$produce_wl, batch.size=16384 (Java's)" produce "$t" \
    "$bin/krafty" --bootstrap-server "$bootstrap" perf produce --topic "$t" --num-records "$n" \
      --record-size "$size" -X acks=1 -X linger.ms=5 -X enable.idempotence=false \
      -X batch.size=16384 || true
  if [ -n "$rdkafka_peer" ]; then
    t="$(new_topic librdkafka)"
    measure librdkafka librdkafka "$produce_wl" produce "$t" \
      "$rdkafka_peer" produce "$bootstrap" "$t" "$n" "$size" acks=1 linger.ms=5 || true
  fi
  if [ -n "$franz_peer" ]; then
    t="$(new_topic franz-go)"
    measure franz-go franz-go "$produce_wl" produce "$t" \
      "$franz_peer" -acks 1 -linger 5ms produce "$bootstrap" "$t" "$n" "$size" || true
  fi
  if [ -n "$java_cp" ]; then
    t="$(new_topic java)"
    measure java java "$produce_wl" produce "$t" \
      java "${java_opts[@]}" -cp "$java_cp" org.apache.kafka.tools.ProducerPerformance \
        --bootstrap-server "$bootstrap" --topic "$t" --num-records "$n" --record-size "$size" \
        --throughput -1 --command-property acks=1 linger.ms=5 || true
  fi

  src="${topic_of[$consume_from]:-}"
  if [ -z "$src" ]; then
    log "no topic from a successful '$consume_from' producer run: the consumer runs are skipped"
  else
    consume_wl="consume $partitions partition(s) (written by $consume_from)"
    measure - krafty "$consume_wl" consume "$src" \
      "$bin/krafty" --bootstrap-server "$bootstrap" perf consume --topic "$src" --messages "$n" || true
    if [ -n "$rdkafka_peer" ]; then
      measure - librdkafka "$consume_wl" consume "$src" "$rdkafka_peer" consume "$bootstrap" "$src" "$n" || true
    fi
    if [ -n "$franz_peer" ]; then
      measure - franz-go "$consume_wl" consume "$src" "$franz_peer" consume "$bootstrap" "$src" "$n" || true
    fi
    if [ -n "$java_cp" ]; then
      measure - java "$consume_wl, group join excluded" consume "$src" \
        java "${java_opts[@]}" -cp "$java_cp" org.apache.kafka.tools.ConsumerPerformance \
          --bootstrap-server "$bootstrap" --topic "$src" --num-records "$n" --group "native-$run_id-java" || true
    fi
  fi
done

# --- table -------------------------------------------------------------------------------
versions="krafty $(git -C "$root" describe --always --dirty 2>/dev/null || echo '?')"
lock_version() { awk -v c="$1" '$0 == "name = \"" c "\"" { getline; gsub(/version = |"/, ""); print }' bench/peers/rdkafka/Cargo.lock; }
[ -n "$rdkafka_peer" ] && versions+=", librdkafka $(lock_version rdkafka-sys | sed 's/.*+//') (rdkafka crate $(lock_version rdkafka))"
[ -n "$franz_peer" ] && versions+=", franz-go $(awk '{ for (i = 1; i < NF; i++) if ($i == "github.com/twmb/franz-go") print $(i + 1) }' bench/peers/franz-go/go.mod)"
[ -n "$java_cp" ] && versions+=", Java client $kafka_version ($(java -version 2>&1 | head -1))"
echo
echo "records per run: $n x $size B; broker: $broker_desc"
echo "clients: $versions"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| client | workload | records/s | MB/s | CPU s per 1M records |"
echo "|---|---|---|---|---|"
# One row per client and workload, in the order first run: the median of its rounds (a
# failed round counts as a zero and is named).
awk -F'|' -v rounds="$rounds" '
  function median(list,   a, k, i, j, t) {
    k = split(list, a, " ")
    for (i = 2; i <= k; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    return a[int((k + 1) / 2)]
  }
  { key = $1 "|" $2
    if (!(key in seen)) { seen[key] = 1; order[++n] = key }
    if ($3 == "FAILED") { fails[key]++; $3 = 0; $4 = 0; $5 = 0 }
    rps[key] = rps[key] " " $3; mbs[key] = mbs[key] " " $4; cpu[key] = cpu[key] " " $5 }
  END { for (i = 1; i <= n; i++) { key = order[i]; split(key, kw, "|")
          r = median(rps[key]); note = (key in fails) ? " (" fails[key] " of " rounds " FAILED)" : ""
          printf "| %s | %s | %s%s | %s | %s |\n", kw[1], kw[2], r, note, median(mbs[key]), median(cpu[key]) } }
' "$tmp/results"
[ "$rounds" = 1 ] || echo "(medians of $rounds rounds)"
grep -q '|FAILED|' "$tmp/results" && exit 1
exit 0
