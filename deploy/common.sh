#!/usr/bin/env bash
# Shared helpers for deploy/run.sh and deploy/test.sh: make PostgreSQL and a local
# Kafka-protocol broker available on a fresh machine, installing what is missing.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_DIR="${SWITCHBOARD_TOOLS_DIR:-$HOME/.cache/switchboard/tools}"
TANSU_VERSION="0.6.0"

log() { printf '[switchboard] %s\n' "$*" >&2; }

# Waits until host:port accepts TCP connections, or fails after $3 seconds.
wait_for_port() {
  local host=$1 port=$2 seconds=${3:-60}
  for _ in $(seq 1 $((seconds * 5))); do
    if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  log "nothing is listening on $host:$port after ${seconds}s"
  return 1
}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# Starts the machine's PostgreSQL cluster if nothing listens on 127.0.0.1:5432.
ensure_postgres() {
  if port_open 127.0.0.1 5432; then return 0; fi
  log "PostgreSQL is not running; starting it"
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
  else
    log "no pg_ctlcluster here: start PostgreSQL yourself or set DATABASE_URL"; return 1
  fi
  wait_for_port 127.0.0.1 5432 60
}

# Creates database $1 on the local server if it does not exist.
ensure_database() {
  local name=$1
  if ! psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$name'" | grep -q 1; then
    psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE \"$name\""
  fi
}

# Prints the path of a tansu binary, installing it from crates.io once (cached in TOOLS_DIR).
ensure_tansu() {
  if [ -n "${SWITCHBOARD_TANSU:-}" ] && [ -x "$SWITCHBOARD_TANSU" ]; then echo "$SWITCHBOARD_TANSU"; return 0; fi
  local bin="$TOOLS_DIR/bin/tansu"
  if [ ! -x "$bin" ]; then
    log "installing the tansu $TANSU_VERSION broker (once; about 10 minutes on 2 cores)"
    cargo install tansu --version "$TANSU_VERSION" --locked --features libsql,dynostore --root "$TOOLS_DIR" >&2
  fi
  echo "$bin"
}

# Starts tansu on 127.0.0.1:$1 with storage URL $2, logging to $3, unless the port is taken.
start_tansu() {
  local port=$1 storage=$2 logfile=$3 bin
  if port_open 127.0.0.1 "$port"; then log "a broker already listens on 127.0.0.1:$port"; return 0; fi
  bin=$(ensure_tansu)
  log "starting tansu on 127.0.0.1:$port ($storage)"
  env -u OTEL_EXPORTER_OTLP_ENDPOINT -u CLUSTER_ID -u LISTENER_URL -u ADVERTISED_LISTENER_URL -u STORAGE_ENGINE \
    nohup "$bin" broker \
      --listener-url "tcp://127.0.0.1:$port" \
      --advertised-listener-url "tcp://127.0.0.1:$port" \
      --storage-engine "$storage" >"$logfile" 2>&1 &
  wait_for_port 127.0.0.1 "$port" 60
  if [[ $storage == sqlite://* ]]; then
    index_tansu_headers "${storage#sqlite://}" || log "tansu's header index could not be added (large topics will be slow)"
  fi
}

# tansu 0.6's SQLite schema has no index on its records' headers, so each record it serves
# scans every header it holds (quadratic: 155 records/s once it held 100,000). Adds the
# index to the database file $1 (idempotent; once the broker has created its schema). The
# first time on a large existing file, the broker's writes wait while the index is built.
index_tansu_headers() {
  if ! command -v python3 >/dev/null 2>&1; then
    log "no python3 here: tansu's header index not added (large topics will be slow)"; return 0
  fi
  python3 - "$1" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=30)
for _ in range(300):
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'header'").fetchone():
        break
    time.sleep(0.1)
db.execute("CREATE INDEX IF NOT EXISTS header_by_record ON header (topition, offset_id)")
db.commit()
PY
}
