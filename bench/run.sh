#!/usr/bin/env bash
# Producer and consumer benchmarks, Krafty beside librdkafka (confluent-kafka) on the same
# dev broker in one run, shaped like kafka-producer-perf-test / kafka-consumer-perf-test.
#   bench/run.sh [records] [bootstrap]   (without a bootstrap, a release dev broker is started)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
n="${1:-500000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
cargo build -q --release -p krafty-cli -p krafty-broker
bin="$CARGO_TARGET_DIR/release"
py="$(scripts/python-env.sh)"
bootstrap="${2:-}"
if [ -z "$bootstrap" ]; then
  port=$((20000 + RANDOM % 20000))
  bootstrap="127.0.0.1:$port"
  data="$(mktemp -d)"
  start_ns=$(date +%s%N)
  "$bin/krafty-broker" --listen "$bootstrap" --data-dir "$data" --set num.partitions=1 >/dev/null 2>&1 &
  broker=$!
  trap 'kill $broker 2>/dev/null; rm -rf "$data"' EXIT
  until (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null; do sleep 0.01; done
  echo "dev broker (release, durable data dir) listening after $(( ($(date +%s%N) - start_ns) / 1000000 )) ms (process start included)"
fi
echo "records per run: $n; broker: $bootstrap"
printf '\n%-10s %-6s %-5s %-7s %-6s %s\n' client size acks linger codec result
for size in 100 1024; do
  for acks in 1 all; do
    for linger in 0 5; do
      for codec in none lz4 zstd; do
        [ "$linger" = 0 ] && [ "$codec" != none ] && continue
        topic="bench-$size-$acks-$linger-$codec"
        k=$("$bin/krafty" --bootstrap-server "$bootstrap" perf produce --topic "$topic-k" --num-records "$n" --record-size "$size" \
              -X acks=$acks -X linger.ms=$linger -X compression.type=$codec \
              $([ "$acks" = 1 ] && echo "-X enable.idempotence=false") 2>/dev/null | tail -1)
        printf '%-10s %-6s %-5s %-7s %-6s %s\n' krafty "$size" "$acks" "$linger" "$codec" "$k"
        r=$("$py" bench/peer_librdkafka.py produce "$bootstrap" "$topic-r" "$n" "$size" "$acks" "$linger" "$codec" | tail -1)
        printf '%-10s %-6s %-5s %-7s %-6s %s\n' librdkafka "$size" "$acks" "$linger" "$codec" "$r"
      done
    done
  done
done
echo
echo "consumer (reads the acks=1 linger=5 none topics):"
for size in 100 1024; do
  topic="bench-$size-1-5-none"
  k=$("$bin/krafty" --bootstrap-server "$bootstrap" perf consume --topic "$topic-k" --messages "$n" 2>/dev/null | tail -1)
  echo "krafty     $size B: $k"
  r=$("$py" bench/peer_librdkafka.py consume "$bootstrap" "$topic-r" "$n" | tail -1)
  echo "librdkafka $size B: $r"
done
