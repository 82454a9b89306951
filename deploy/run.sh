#!/usr/bin/env bash
# Runs Switchboard locally from a fresh clone: PostgreSQL (started and opened to loopback if
# needed), a durable local Apache Kafka node (installed once from Maven Central, data in
# var/kafka) unless KAFKA_BROKERS is set, a secret key (generated once into var/), migrations,
# topics, then `switchboard serve`.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT"
mkdir -p var

if [ -z "${DATABASE_URL:-}" ]; then
  ensure_postgres
  ensure_database switchboard
  export DATABASE_URL="postgres://postgres@127.0.0.1:5432/switchboard"
fi

if [ -z "${KAFKA_BROKERS:-}" ]; then
  # The broker outlives this script (stop it with: kill "$(cat var/kafka.pid)").
  start_kafka 9092 9093 var/kafka var/kafka.log
  if [ -n "$KAFKA_PID" ]; then echo "$KAFKA_PID" >var/kafka.pid; fi
  export KAFKA_BROKERS="127.0.0.1:9092"
fi

if [ -z "${SWITCHBOARD_SECRET_KEYS:-}" ]; then
  if [ ! -s var/secret-keys ]; then
    log "generating a secret key into var/secret-keys (keep it: it opens the stored credentials)"
    (umask 077; cargo run -q --release -p switchboard-api -- keygen > var/secret-keys)
  fi
  SWITCHBOARD_SECRET_KEYS="$(cat var/secret-keys)"
  export SWITCHBOARD_SECRET_KEYS
fi

if [ -z "${SWITCHBOARD_OPERATOR_TOKEN:-}" ]; then
  if [ ! -s var/operator-token ]; then
    log "generating the operator credential into var/operator-token (for /v1/keys and /metrics)"
    (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > var/operator-token)
  fi
  SWITCHBOARD_OPERATOR_TOKEN="$(cat var/operator-token)"
  export SWITCHBOARD_OPERATOR_TOKEN
fi

cargo build -q --release -p switchboard-api
bin="${CARGO_TARGET_DIR:-target}/release/switchboard"
"$bin" migrate
"$bin" topics ensure
log "serving on ${SWITCHBOARD_HTTP_ADDR:-127.0.0.1:8080}; make a workspace key with: $bin keys create --workspace acme --scope read,write,admin"
log "watch events with: $bin tail integrations.lifecycle"
exec "$bin" serve
