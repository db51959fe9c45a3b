#!/usr/bin/env bash
# A real single-node Apache Kafka 4.x broker (KRaft, broker+controller) from Maven Central
# jars, run with the machine's Java 17. Idempotent: `start` returns at once when the broker
# already answers. Usage: scripts/kafka.sh start|stop|status|reset|logs
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/kafka/pom.xml")"
STATE="${GATI_STATE_DIR:-$HOME/.local/state/gati}/kafka"
JARS="${XDG_CACHE_HOME:-$HOME/.cache}/gati/kafka-$KAFKA_VERSION"
PORT="${GATI_KAFKA_PORT:-9092}"
CPORT="${GATI_KAFKA_CONTROLLER_PORT:-9093}"
PIDFILE="$STATE/kafka.pid"
LOGDIR="$STATE/logs"

die() { echo "kafka.sh: $*" >&2; exit 1; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
running_pid() { [[ -f $PIDFILE ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null && cat "$PIDFILE"; }

need_tools() {
  command -v java >/dev/null || die "java not found: install OpenJDK 17 (apt-get install -y openjdk-17-jre-headless)"
  command -v mvn >/dev/null || die "mvn not found: install Maven (apt-get install -y maven)"
}

fetch_jars() {
  [[ -f $JARS/.complete ]] && return 0
  need_tools
  echo "kafka.sh: resolving Kafka $KAFKA_VERSION jars from Maven Central into $JARS" >&2
  mkdir -p "$JARS"
  mvn -q -B -f "$here/kafka/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$JARS" -DincludeScope=runtime >&2 \
    || die "could not resolve org.apache.kafka:kafka_2.13:$KAFKA_VERSION from Maven Central"
  ls "$JARS"/kafka_2.13-*.jar >/dev/null 2>&1 || die "Maven finished but no kafka_2.13 jar in $JARS"
  touch "$JARS/.complete"
}

write_config() {
  mkdir -p "$STATE/data" "$LOGDIR"
  cat > "$STATE/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=localhost:$CPORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT
advertised.listeners=PLAINTEXT://localhost:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$STATE/data
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
PROPS
}

start() {
  if port_open "$PORT"; then echo "kafka: already running on localhost:$PORT"; return 0; fi
  fetch_jars
  write_config
  local cp="$JARS/*"
  if [[ ! -f $STATE/data/meta.properties ]]; then
    local cid
    cid="$(java -Dlog4j2.configurationFile="$here/kafka/tools-log4j2.properties" -cp "$cp" kafka.tools.StorageTool random-uuid)"
    java -Dlog4j2.configurationFile="$here/kafka/tools-log4j2.properties" -cp "$cp" \
      kafka.tools.StorageTool format --standalone -t "$cid" -c "$STATE/server.properties" >"$LOGDIR/format.log" 2>&1 \
      || { cat "$LOGDIR/format.log" >&2; die "formatting $STATE/data failed"; }
  fi
  : > "$LOGDIR/stdout.log"
  # setsid: the broker outlives the process group that (re)started it (a test, a CI step).
  setsid nohup java -Xms512m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$here/kafka/log4j2.properties" -Dkafka.logs.dir="$LOGDIR" \
    -cp "$cp" kafka.Kafka "$STATE/server.properties" >"$LOGDIR/stdout.log" 2>&1 &
  echo $! > "$PIDFILE"
  local deadline=$((SECONDS + ${GATI_KAFKA_START_TIMEOUT:-90}))
  while (( SECONDS < deadline )); do
    if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
      tail -n 40 "$LOGDIR/server.log" "$LOGDIR/stdout.log" >&2 || true
      die "broker process exited during start (logs above, full logs in $LOGDIR)"
    fi
    if port_open "$PORT" && grep -q "Kafka Server started" "$LOGDIR/server.log" 2>/dev/null; then
      echo "kafka: started on localhost:$PORT (pid $(cat "$PIDFILE"), logs $LOGDIR/server.log)"
      return 0
    fi
    sleep 0.5
  done
  tail -n 40 "$LOGDIR/server.log" >&2 || true
  die "broker did not accept connections on $PORT within the start timeout"
}

stop() {
  local pid
  if ! pid="$(running_pid)"; then
    port_open "$PORT" && die "something listens on $PORT but was not started by this script (no pid in $PIDFILE)"
    echo "kafka: not running"; return 0
  fi
  kill -TERM "$pid"
  for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || { rm -f "$PIDFILE"; echo "kafka: stopped"; return 0; }; sleep 0.25; done
  echo "kafka: did not stop within 30 s, sending SIGKILL" >&2
  kill -KILL "$pid" 2>/dev/null || true; rm -f "$PIDFILE"
}

status() {
  if port_open "$PORT"; then echo "kafka: running on localhost:$PORT${PIDFILE:+ (pid $(cat "$PIDFILE" 2>/dev/null || echo '?'))}"; return 0; fi
  echo "kafka: not running"; return 3
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  reset) stop; rm -rf "$STATE"; echo "kafka: data removed" ;;
  logs) tail -n "${2:-100}" "$LOGDIR/server.log" ;;
  fetch) fetch_jars ;;
  *) echo "usage: $0 start|stop|status|reset|logs [N]|fetch" >&2; exit 2 ;;
esac
