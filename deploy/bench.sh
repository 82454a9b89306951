#!/usr/bin/env bash
# The benchmarks, one command each (`ingest` by default, `projections`, `outbound`). Ingest: signed Messenger webhooks through the real
# `switchboard serve` into a real Kafka-protocol broker, next to three ceilings (bare axum,
# HMAC + JSON only, the producer alone) measured in the same run; see api/benches/ingest.rs.
#
# It starts PostgreSQL if needed and creates a fresh database, starts a throwaway Apache Kafka
# node on free ports with its data in a temporary directory (what `deploy/run.sh` users run),
# builds the release binary, applies migrations, creates the topics, starts `switchboard serve`
# (its default configuration, RUST_LOG=warn, JSON logs; other SWITCHBOARD_* settings in the
# environment reach it), runs the benchmark and stops and deletes everything at the end.
# The results are printed as Markdown on stdout; progress goes to stderr.
#
# Tunables (environment): SWITCHBOARD_BENCH_SECS (8), SWITCHBOARD_BENCH_WARMUP_SECS (2),
# SWITCHBOARD_BENCH_CONNECTIONS (16,64,256), SWITCHBOARD_BENCH_HALF_RATE_CONNECTIONS (those of the best point),
# SWITCHBOARD_BENCH_BODIES (200000), SWITCHBOARD_BENCH_PRODUCER_WINDOW (10000);
# SWITCHBOARD_BENCH_KEEP=1 keeps the service's and the broker's logs.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT"

work="$(mktemp -d "${TMPDIR:-/tmp}/switchboard-bench.XXXXXX")"
database="switchboard_bench_$$"
children=()

# Stops what this script started, drops its database and removes its files.
cleanup() {
  local status=$?
  local i
  # Newest first: the service stops before the broker it talks to.
  for ((i = ${#children[@]} - 1; i >= 0; i--)); do
    kill "${children[i]}" 2>/dev/null || true
    wait "${children[i]}" 2>/dev/null || true
  done
  if [ "$status" -ne 0 ]; then
    for file in serve.log broker.log; do
      if [ -s "$work/$file" ]; then log "last lines of $file:"; tail -n 20 "$work/$file" >&2; fi
    done
  fi
  psql -w -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS \"$database\"" >/dev/null 2>&1 || true
  if [ -n "${SWITCHBOARD_BENCH_KEEP:-}" ]; then log "logs and broker data kept in $work"; else rm -rf "$work"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ensure_postgres

# `bash deploy/bench.sh projections` and `bash deploy/bench.sh outbound` run those benchmarks
# against the same kind of throwaway broker; they create their own databases and topics.
case "${1:-ingest}" in
  ingest) ;;
  projections | outbound)
    broker_port="$(free_port)"
    # With SWITCHBOARD_BENCH_BROKER=mock the benchmark brings its own in-process broker;
    # otherwise a throwaway Apache Kafka node.
    if [ "${SWITCHBOARD_BENCH_BROKER:-}" != mock ]; then
      start_kafka "$broker_port" "$(free_port)" "$work/kafka" "$work/broker.log"
      children+=("$KAFKA_PID")
      export SWITCHBOARD_BENCH_BROKER_LABEL="Apache Kafka $KAFKA_VERSION, one KRaft node, over loopback"
      export SWITCHBOARD_BENCH_BROKER_PID="$KAFKA_PID"
    fi
    KAFKA_BROKERS="127.0.0.1:$broker_port" \
    DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres" \
    RUST_LOG="${RUST_LOG:-warn}" \
      cargo bench -q -p switchboard-api --bench "$1"
    exit 0
    ;;
  *) log "usage: deploy/bench.sh [ingest|projections|outbound]"; exit 2 ;;
esac

psql -w -h 127.0.0.1 -U postgres -qc "CREATE DATABASE \"$database\""

log "building the release binary and the benchmark"
cargo build -q --release -p switchboard-api --bin switchboard
cargo bench -q -p switchboard-api --bench ingest --no-run
bin="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/switchboard"

broker_port="$(free_port)"
start_kafka "$broker_port" "$(free_port)" "$work/kafka" "$work/broker.log"
broker_pid=$KAFKA_PID
children+=("$broker_pid")

http_port="$(free_port)"
app_secret="bench-app-secret-$RANDOM$RANDOM"
operator_token="bench-operator-$RANDOM$RANDOM"
serve_env=(
  -u OTEL_EXPORTER_OTLP_ENDPOINT
  DATABASE_URL="postgres://postgres@127.0.0.1:5432/$database"
  KAFKA_BROKERS="127.0.0.1:$broker_port"
  SWITCHBOARD_TOPIC_PREFIX=
  SWITCHBOARD_HTTP_ADDR="127.0.0.1:$http_port"
  SWITCHBOARD_SECRET_KEYS="$("$bin" keygen --id bench)"
  SWITCHBOARD_OPERATOR_TOKEN="$operator_token"
  # The benchmark sets the Meta app's credentials itself, Graph played by a fake on loopback.
  SWITCHBOARD_EGRESS_ALLOW=127.0.0.0/8
  SWITCHBOARD_LOG_FORMAT=json
  RUST_LOG=warn
)
# The service settings this run takes from the environment, named in the report.
serve_settings="$(env | grep -E '^SWITCHBOARD_' \
  | grep -vE '^SWITCHBOARD_(BENCH_|SECRET_KEYS|PLATFORM_CREDENTIALS|OPERATOR_TOKEN|EGRESS_ALLOW|HTTP_ADDR|TOPIC_PREFIX|LOG_FORMAT|TOOLS_DIR|CACHE_DIR|KAFKA_HEAP)' \
  | sort | paste -sd ' ' - || true)"
env "${serve_env[@]}" "$bin" migrate >&2
env "${serve_env[@]}" "$bin" topics ensure >&2
# The workspace key the benchmark creates its integration with (shown once, as JSON).
api_key="$(env "${serve_env[@]}" "$bin" keys create --workspace bench --scope read,admin --name ingest-benchmark \
  | sed -E 's/.*"token":"([^"]+)".*/\1/')"
log "starting switchboard serve on 127.0.0.1:$http_port"
env "${serve_env[@]}" "$bin" serve >"$work/serve.log" 2>&1 &
serve_pid=$!
children+=("$serve_pid")
wait_for_port 127.0.0.1 "$http_port" 60

SWITCHBOARD_BENCH_ADDR="127.0.0.1:$http_port" \
SWITCHBOARD_BENCH_SERVER_PID="$serve_pid" \
SWITCHBOARD_BENCH_BROKER_PID="$broker_pid" \
SWITCHBOARD_BENCH_APP_SECRET="$app_secret" \
SWITCHBOARD_BENCH_API_KEY="$api_key" \
SWITCHBOARD_BENCH_OPERATOR_TOKEN="$operator_token" \
SWITCHBOARD_BENCH_BROKER="Apache Kafka $KAFKA_VERSION, one KRaft node, data in a temporary directory" \
SWITCHBOARD_BENCH_SERVE_SETTINGS="${serve_settings:-defaults}" \
KAFKA_BROKERS="127.0.0.1:$broker_port" \
  cargo bench -q -p switchboard-api --bench ingest

log "the service logged $(grep -c . "$work/serve.log" || true) lines at warn or above during the run"
log "the broker logged $(grep -c ' ERROR ' "$work/broker.log" || true) errors during the run"
