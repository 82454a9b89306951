#!/usr/bin/env bash
# Runs one local Apache Kafka node in the foreground (the JVM replaces this shell, so its pid is
# this script's): KRaft with process.roles=broker,controller, listeners on 127.0.0.1 only,
# replication factors 1, data in DIR/data (formatted on first use, kept across restarts).
#
#   bash deploy/kafka/node.sh DIR PORT CONTROLLER_PORT
#
# Installs the broker first if it is not cached (see ensure_kafka in deploy/common.sh).
# SWITCHBOARD_KAFKA_HEAP sets the heap (default 512m).
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"

dir=$1 port=$2 controller_port=$3
libs="$(ensure_kafka)"
mkdir -p "$dir/data"
dir="$(cd "$dir" && pwd)"
heap="${SWITCHBOARD_KAFKA_HEAP:-512m}"

cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
PROPS

java_cmd=(java "-Xms$heap" "-Xmx$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true
  "-Dlog4j2.configurationFile=$REPO_ROOT/deploy/kafka/log4j2.properties" -cp "$libs/*")

if [ ! -f "$dir/data/meta.properties" ]; then
  # A KRaft cluster id is 16 random bytes in URL-safe base64 without padding; one that starts
  # with "-" would be read as an option, so draw again.
  cluster_id=-
  while [[ $cluster_id == -* ]]; do
    cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
  done
  "${java_cmd[@]}" kafka.tools.StorageTool format --config "$dir/server.properties" \
    --cluster-id "$cluster_id" --ignore-formatted >&2
fi
exec "${java_cmd[@]}" kafka.Kafka "$dir/server.properties"
