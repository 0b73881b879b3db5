#!/usr/bin/env bash
# libkrafty's C producer beside librdkafka's C API and beside the Rust core's own producer
# (`krafty perf produce`), the same workload on one release dev broker in one run: N keyless
# records of 100 bytes (1,000,000 by default), acks=1, linger.ms=5, no idempotence, no
# compression, one partition, every other setting at each client's defaults. Each client
# process runs under /usr/bin/time: the table gives its records/s as the client measures it
# (first send to the last acknowledgement) and its CPU seconds per million records (user+sys
# of the whole process, start-up included).
#
#   bench/c.sh [records]
#
# Builds release binaries (krafty-c, krafty-cli, krafty-broker) and the two C programs in
# bench/c/ (krafty_produce.c against the installed libkrafty, shared; rdkafka_produce.c
# against Debian's librdkafka-dev, installed here when missing). ROUNDS (1) repeats every
# run; each row gives the median. Not part of CI: it wants a quiet machine.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
n="${1:-1000000}"
size=100
rounds="${ROUNDS:-1}"
case "$n" in '' | *[!0-9]*) echo "records must be a number, not '$n'" >&2; exit 2 ;; esac
case "$rounds" in '' | *[!0-9]* | 0) echo "ROUNDS must be a positive number" >&2; exit 2 ;; esac
log() { echo "$*" >&2; }

tmp="$(mktemp -d)"
broker=""
cleanup() {
  if [ -n "$broker" ]; then kill "$broker" 2>/dev/null || true; wait "$broker" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- tools -------------------------------------------------------------------------------
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh" # apt_install
if [ ! -x /usr/bin/time ]; then
  log "installing Debian's time package (for /usr/bin/time)"
  apt_install time || { log "/usr/bin/time is missing and could not be installed"; exit 1; }
fi
if ! pkg-config --exists rdkafka 2>/dev/null; then
  log "installing Debian's librdkafka-dev"
  apt_install librdkafka-dev pkg-config || { log "librdkafka-dev could not be installed"; exit 1; }
fi

# --- builds ------------------------------------------------------------------------------
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
log "building krafty-c, krafty-cli, krafty-broker (release)"
timeout 3600 cargo build -q --release -p krafty-c -p krafty-cli -p krafty-broker
bin="$CARGO_TARGET_DIR/release"
prefix="$tmp/prefix"
make -s -C bindings/c install PREFIX="$prefix" PROFILE=release >/dev/null
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
# shellcheck disable=SC2046
cc -O2 -o "$tmp/krafty_produce" bench/c/krafty_produce.c $(pkg-config --cflags --libs krafty)
# shellcheck disable=SC2046
cc -O2 -o "$tmp/rdkafka_produce" bench/c/rdkafka_produce.c $(pkg-config --cflags --libs rdkafka)
export LD_LIBRARY_PATH="$prefix/lib"

# --- broker ------------------------------------------------------------------------------
port=$((20000 + RANDOM % 20000))
bootstrap="127.0.0.1:$port"
mkdir "$tmp/data"
"$bin/krafty-broker" --listen "$bootstrap" --data-dir "$tmp/data" --set num.partitions=1 \
  >"$tmp/broker.log" 2>&1 &
broker=$!
if ! timeout 20 bash -c "until (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null; do sleep 0.05; done"; then
  log "the dev broker did not listen on $bootstrap within 20 s:"; cat "$tmp/broker.log" >&2; exit 1
fi

step=0
measure() { # measure CLIENT COMMAND...: one run; appends "client|records/s|cpu" to results
  local client="$1"; shift
  step=$((step + 1))
  local out="$tmp/$step.out" tf="$tmp/$step.time" rc=0 count rps cpu
  log "[$step] $client"
  timeout 600 /usr/bin/time -f '%U %S' -o "$tf" "$@" >"$out" 2>&1 || rc=$?
  read -r count rps < <(sed -n 's/^\([0-9]*\) records sent, \([0-9.]*\) records\/sec.*/\1 \2/p' "$out" | tail -1) || true
  if [ "$rc" != 0 ] || [ -z "${rps:-}" ] || [ "$count" != "$n" ]; then
    log "[$step] $client FAILED (exit $rc)"; tail -n 5 "$out" >&2
    echo "$client|0|0" >>"$tmp/results"
    return 1
  fi
  cpu="$(tail -n 1 "$tf" | awk -v n="$n" '{ printf "%.2f", ($1 + $2) * 1000000 / n }')"
  rps="$(printf '%.0f' "$rps")"
  log "[$step] $client: $rps records/s, $cpu CPU s per 1M records"
  echo "$client|$rps|$cpu" >>"$tmp/results"
}

topic() { echo "c-bench-$1-r$round-$RANDOM"; }
round=0
log "warm-up: an untimed run of each"
"$tmp/krafty_produce" "$bootstrap" "$(topic warm)" "$n" "$size" >/dev/null 2>&1 || log "warm-up failed"
"$tmp/rdkafka_produce" "$bootstrap" "$(topic warm)" "$n" "$size" >/dev/null 2>&1 || log "warm-up failed"
for round in $(seq "$rounds"); do
  measure "libkrafty (C)" "$tmp/krafty_produce" "$bootstrap" "$(topic krafty-c)" "$n" "$size" || true
  measure "librdkafka (C)" "$tmp/rdkafka_produce" "$bootstrap" "$(topic rdkafka)" "$n" "$size" || true
  measure "Rust core (krafty perf produce)" "$bin/krafty" --bootstrap-server "$bootstrap" perf produce \
    --topic "$(topic rust)" --num-records "$n" --record-size "$size" -X acks=1 -X linger.ms=5 \
    -X enable.idempotence=false || true
done

echo
echo "records per run: $n x $size B, 1 partition, acks=1, linger.ms=5; broker: krafty-broker (release, durable data dir)"
echo "clients: krafty $(git describe --always --dirty 2>/dev/null || echo '?'), librdkafka $(pkg-config --modversion rdkafka)"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| client | records/s | CPU s per 1M records |"
echo "|---|---|---|"
awk -F'|' '
  function median(list,   a, k, i, j, t) {
    k = split(list, a, " ")
    for (i = 2; i <= k; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    return a[int((k + 1) / 2)]
  }
  { if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 }
    rps[$1] = rps[$1] " " $2; cpu[$1] = cpu[$1] " " $3 }
  END { for (i = 1; i <= n; i++) { c = order[i]; r[c] = median(rps[c]) }
        for (i = 1; i <= n; i++) { c = order[i]; printf "| %s | %s | %s |\n", c, r[c], median(cpu[c]) }
        c = order[1]
        if (r[order[2]] > 0) printf "\nlibkrafty / librdkafka records/s: %.2fx\n", r[c] / r[order[2]]
        if (r[order[3]] > 0) printf "libkrafty / Rust core records/s: %.2fx\n", r[c] / r[order[3]] }
' "$tmp/results"
grep -q '|0|0$' "$tmp/results" && exit 1
exit 0
