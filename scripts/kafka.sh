#!/usr/bin/env bash
# Apache Kafka (KRaft, one node on 127.0.0.1) from Maven Central, for compatibility tests.
#   scripts/kafka.sh install|start|stop|restart|status|wipe|ca-path
# KAFKA_VERSION picks the release (4.4.0 by default; the test command also runs 3.9.1 and
# 4.1.1); PORT the client port (19092 by default; the controller listens on PORT+1, and a
# SASL_PLAINTEXT listener on PORT+2 with user alice / alice-secret for PLAIN, SCRAM-SHA-256 and
# SCRAM-SHA-512: SCRAM credentials are added when the log dir is formatted, so a run dir
# formatted by an older version of this script needs `wipe` first; OAUTHBEARER there takes
# Kafka's unsecured JWTs, and a session lasts until its token's `exp` (KIP-368 re-authentication
# with connections.max.reauth.ms on that mechanism only), an SSL listener on PORT+3 and
# a SASL_SSL listener on PORT+4 (same users) with a PEM keystore: a CA and a certificate it signs
# for 127.0.0.1 (IP only: `localhost` is a name mismatch), made with openssl in RUN/tls; clients
# trust RUN/tls/ca.pem (`ca-path` prints it). PORT+5 is an SSL listener (named MTLS) that
# requires a client certificate signed by that CA: RUN/tls/client.pem and client.key are one
# (client-encrypted.key is the same key encrypted with the password client-secret).
# The jars are cached in .cache/kafka/VERSION/lib; data and logs live in
# .cache/kafka/VERSION/run-PORT and survive stop/restart (a test restarts the broker and expects
# its committed offsets back); `wipe` removes them.
# `start` prints only the bootstrap address on stdout; everything else goes to stderr.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
version="${KAFKA_VERSION:-4.4.0}"
port="${PORT:-19092}"
controller_port=$((port + 1))
sasl_port=$((port + 2))
ssl_port=$((port + 3))
sasl_ssl_port=$((port + 4))
mtls_port=$((port + 5))
cache="$root/.cache/kafka/$version"
run="$cache/run-$port"

listening() { (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

our_pid() {
  [ -f "$run/pid" ] && kill -0 "$(cat "$run/pid")" 2>/dev/null && cat "$run/pid"
}

install() {
  if ! ls "$cache/lib/kafka_2.13-$version.jar" "$cache/lib/slf4j-api-2.0.16.jar" >/dev/null 2>&1; then
    echo "fetching Apache Kafka $version from Maven Central" >&2
    rm -rf "$cache/lib"
    # Bounded: a hung resolver must not hang the test command.
    (cd "$root/scripts/kafka" && timeout 900 mvn -q -B -Dstyle.color=never \
      -Dkafka.version="$version" dependency:copy-dependencies \
      -DoutputDirectory="$cache/lib" -DincludeScope=runtime) >&2
  fi
}

# The CA (tls/ca.pem) and the broker's keystore (tls/keystore.pem: unencrypted PKCS#8 key, then
# the certificate chain), made once per run dir so clients keep trusting it across restarts.
certificates() {
  local tls="$run/tls"
  [ -f "$tls/keystore.pem" ] && [ -f "$tls/ca.pem" ] && [ -f "$tls/client.pem" ] \
    && [ -f "$tls/client-encrypted.key" ] && return 0
  if ! command -v openssl >/dev/null; then
    echo "installing openssl (Debian's package) to make the TLS certificates" >&2
    local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get install -y -q openssl >&2 || { echo "openssl is needed for the TLS listeners" >&2; return 1; }
  fi
  mkdir -p "$tls"
  (
    cd "$tls"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=krafty test CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -keyout ca.key -out ca.pem
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout broker.key -out broker.csr
    printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > broker.ext
    openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile broker.ext -out broker.pem
    cat broker.key broker.pem ca.pem > keystore.pem
    openssl req -newkey rsa:2048 -nodes -subj "/CN=krafty test client" -keyout client.key -out client.csr
    printf 'extendedKeyUsage=clientAuth\n' > client.ext
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile client.ext -out client.pem
    openssl pkcs8 -topk8 -v2 aes-256-cbc -in client.key -out client-encrypted.key \
      -passout pass:client-secret
  ) >"$run/openssl.log" 2>&1 || { echo "making the TLS certificates failed; see $run/openssl.log" >&2; return 1; }
}

start() {
  install
  if pid="$(our_pid)"; then
    echo "Kafka $version is already running on port $port (pid $pid): scripts/kafka.sh stop first" >&2
    return 1
  fi
  for p in "$port" "$controller_port" "$sasl_port" "$ssl_port" "$sasl_ssl_port" "$mtls_port"; do
    if listening "$p"; then
      echo "port $p is already taken (a stale Kafka?): refusing to start Kafka $version there" >&2
      return 1
    fi
  done
  mkdir -p "$run"
  certificates
  cat > "$run/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port,SASL_PLAINTEXT://127.0.0.1:$sasl_port,SSL://127.0.0.1:$ssl_port,SASL_SSL://127.0.0.1:$sasl_ssl_port,MTLS://127.0.0.1:$mtls_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port,SASL_PLAINTEXT://127.0.0.1:$sasl_port,SSL://127.0.0.1:$ssl_port,SASL_SSL://127.0.0.1:$sasl_ssl_port,MTLS://127.0.0.1:$mtls_port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL,MTLS:SSL
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_plaintext.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER
listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="broker";
listener.name.sasl_plaintext.oauthbearer.connections.max.reauth.ms=3600000
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret";
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret";
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PEM
ssl.keystore.location=$run/tls/keystore.pem
ssl.client.auth=none
listener.name.mtls.ssl.client.auth=required
listener.name.mtls.ssl.truststore.type=PEM
listener.name.mtls.ssl.truststore.location=$run/tls/ca.pem
log.dirs=$run/data
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=5
group.initial.rebalance.delay.ms=0
# The cleaner looks for compactable logs every second (15 s by default): tests/compaction.rs.
log.cleaner.backoff.ms=1000
PROPS
  if [ ! -f "$run/data/meta.properties" ]; then
    # A cluster id is 16 random bytes in URL-safe base64 without padding; like Kafka's own
    # Uuid.randomUuid, never one starting with '-', which the storage tool would read as an
    # option (1 run in 64 failed to format).
    cluster_id="-"
    while [ "${cluster_id#-}" != "$cluster_id" ]; do
      cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
    done
    timeout 120 java -cp "$cache/lib/*" kafka.tools.StorageTool format -t "$cluster_id" \
      -c "$run/server.properties" \
      --add-scram 'SCRAM-SHA-256=[name=alice,password=alice-secret]' \
      --add-scram 'SCRAM-SHA-512=[name=alice,password=alice-secret]' >"$run/format.log" 2>&1 \
      || { echo "formatting Kafka's log dir failed; see $run/format.log" >&2; return 1; }
  fi
  nohup java -Xms256m -Xmx512m -XX:+UseSerialGC -cp "$cache/lib/*" \
    kafka.Kafka "$run/server.properties" > "$run/kafka.log" 2>&1 < /dev/null &
  echo $! > "$run/pid"
  for _ in $(seq 1 240); do
    if ! kill -0 "$(cat "$run/pid")" 2>/dev/null; then
      echo "Kafka $version exited while starting; see $run/kafka.log" >&2
      rm -f "$run/pid"
      return 1
    fi
    if listening "$port" && listening "$sasl_port" && listening "$ssl_port" \
      && listening "$sasl_ssl_port" && listening "$mtls_port" \
      && grep -q 'Kafka Server started' "$run/kafka.log"; then
      echo "127.0.0.1:$port"
      return 0
    fi
    sleep 0.5
  done
  echo "Kafka $version did not start in 120 s; see $run/kafka.log" >&2
  stop
  return 1
}

stop() {
  local pid
  if pid="$(our_pid)"; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "Kafka $version (pid $pid) ignored SIGTERM for 30 s: SIGKILL" >&2
      kill -9 "$pid" 2>/dev/null || true
      for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    fi
  fi
  rm -f "$run/pid"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  status) if pid="$(our_pid)"; then echo "running (pid $pid) on 127.0.0.1:$port (SASL_PLAINTEXT on 127.0.0.1:$sasl_port, SSL on 127.0.0.1:$ssl_port, SASL_SSL on 127.0.0.1:$sasl_ssl_port, SSL with client certificates on 127.0.0.1:$mtls_port, CA $run/tls/ca.pem)"; else echo stopped; fi ;;
  ca-path) echo "$run/tls/ca.pem" ;;
  wipe) stop; rm -rf "$run" ;;
  *) echo "usage: $0 install|start|stop|restart|status|wipe|ca-path  (KAFKA_VERSION=$version PORT=$port)" >&2; exit 2 ;;
esac
