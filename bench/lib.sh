# Shared by the bench scripts (sourced, not run).

apt_updated=""
# apt_install PACKAGE...: Debian packages for a benchmark's peers, bounded in time; root only.
apt_install() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then return 1; fi
  if [ -z "$apt_updated" ]; then
    timeout 300 apt-get update -qq >&2 || return 1
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq "$@" >&2
}

# build_native_clients: the release `krafty` CLI and `krafty-broker` (sets $bin) and librdkafka
# through the rdkafka crate (sets $rdkafka_peer, empty when it does not build). Needs $root.
build_native_clients() {
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
  echo "building krafty and krafty-broker (release)" >&2
  timeout 3600 cargo build -q --release -p krafty-cli -p krafty-broker
  bin="$CARGO_TARGET_DIR/release"
  rdkafka_peer=""
  echo "building bench/peers/rdkafka (librdkafka from the rdkafka crate's bundled source)" >&2
  if timeout 3600 cargo build -q --release --locked --manifest-path "$root/bench/peers/rdkafka/Cargo.toml" \
       --target-dir "$root/bench/peers/rdkafka/target"; then
    rdkafka_peer="$root/bench/peers/rdkafka/target/release/rdkafka-peer"
  else
    echo "rdkafka peer: build failed; its rows are skipped" >&2
  fi
}

# median_rows KEYS FILE: FILE's `|`-separated rows grouped by their first KEYS fields (in the
# order first seen), each other field the median of its group, as Markdown table rows.
median_rows() {
  awk -F'|' -v keys="$1" '
    function median(list,   a, k, i, j, t) {
      k = split(list, a, " ")
      for (i = 2; i <= k; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
      return a[int((k + 1) / 2)]
    }
    { key = $1; for (i = 2; i <= keys; i++) key = key "|" $i
      if (!(key in seen)) { seen[key] = 1; order[++m] = key; width[key] = NF }
      for (i = keys + 1; i <= NF; i++) v[key, i] = v[key, i] " " $i }
    END { for (r = 1; r <= m; r++) { k = order[r]; n = split(k, w, "|"); line = "|"
            for (i = 1; i <= n; i++) line = line " " w[i] " |"
            for (i = keys + 1; i <= width[k]; i++) line = line " " median(v[k, i]) " |"
            print line } }
  ' "$2"
}
