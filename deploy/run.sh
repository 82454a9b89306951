#!/usr/bin/env bash
# Runs Switchboard locally from a fresh clone: PostgreSQL (started if needed), a durable local
# Kafka-protocol broker (tansu with SQLite storage, installed once) unless KAFKA_BROKERS is
# set, a secret key (generated once into var/), migrations, topics, then `switchboard serve`.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT"
mkdir -p var

if [ -z "${DATABASE_URL:-}" ]; then
  ensure_postgres
  ensure_database switchboard
  export DATABASE_URL="postgres://postgres@127.0.0.1:5432/switchboard"
fi

if [ -z "${KAFKA_BROKERS:-}" ]; then
  start_tansu 9092 "sqlite://var/broker.db" var/broker.log
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

cargo build -q --release -p switchboard-api
bin=target/release/switchboard
"$bin" migrate
"$bin" topics ensure
log "serving on ${SWITCHBOARD_HTTP_ADDR:-127.0.0.1:8080}; watch events with: $bin tail integrations.lifecycle"
exec "$bin" serve
