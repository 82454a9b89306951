#!/usr/bin/env bash
# The API against its own OpenAPI description: schemathesis (pinned, from PyPI, installed once
# into the cache) generates requests for every operation of `/openapi.json` and checks every
# answer: no 5xx, status codes, content types, headers and bodies as the spec declares, invalid
# input refused, authentication enforced. ("Schema-valid data is accepted" is left out: a
# webhook is accepted only when signed with the platform's secret, credentials only when they
# match their channel's fields, an expiry only when it is in the future: no schema says so.)
# It runs against a real `switchboard serve` on a throwaway Apache Kafka node and
# database, with a workspace key of every scope, bounded by SWITCHBOARD_CONTRACT_SECS (120).
#
#   bash deploy/api-contract.sh            # after a debug build (deploy/test.sh calls it)
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT"

SCHEMATHESIS_VERSION="4.32.5"
venv="$TOOLS_DIR/schemathesis-$SCHEMATHESIS_VERSION"
bin="${SWITCHBOARD_BIN:-${CARGO_TARGET_DIR:-target}/debug/switchboard}"
work="$(mktemp -d "${TMPDIR:-/tmp}/switchboard-contract.XXXXXX")"
database="switchboard_contract_$$"
children=()

cleanup() {
  local status=$? i
  for ((i = ${#children[@]} - 1; i >= 0; i--)); do
    kill "${children[i]}" 2>/dev/null || true
    wait "${children[i]}" 2>/dev/null || true
  done
  if [ "$status" -ne 0 ] && [ -s "$work/serve.log" ]; then
    log "last lines of the service's log:"; tail -n 20 "$work/serve.log" >&2
  fi
  psql -w -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS \"$database\"" >/dev/null 2>&1 || true
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ ! -x "$venv/bin/st" ]; then
  log "installing schemathesis $SCHEMATHESIS_VERSION from PyPI (once, into $TOOLS_DIR)"
  mkdir -p "$TOOLS_DIR"
  (
    flock 9
    if [ ! -x "$venv/bin/st" ]; then
      rm -rf "$venv"
      python3 -m venv "$venv"
      "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" \
        >"$TOOLS_DIR/schemathesis-install.log" 2>&1
    fi
  ) 9>"$TOOLS_DIR/schemathesis.lock"
fi
[ -x "$bin" ] || cargo build -q -p switchboard-api

ensure_postgres
ensure_database "$database"
broker_port="$(free_port)"
start_kafka "$broker_port" "$(free_port)" "$work/kafka" "$work/broker.log"
children+=("$KAFKA_PID")
http_port="$(free_port)"
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$database"
export KAFKA_BROKERS="127.0.0.1:$broker_port"
export SWITCHBOARD_HTTP_ADDR="127.0.0.1:$http_port"
export SWITCHBOARD_TOPIC_PARTITIONS=1
SWITCHBOARD_SECRET_KEYS="$("$bin" keygen --id contract)"
export SWITCHBOARD_SECRET_KEYS
# Generated requests come fast; the credential's bucket must not turn the run into 429s.
export SWITCHBOARD_RATE_LIMIT_PER_SECOND=100000 SWITCHBOARD_RATE_LIMIT_BURST=100000
SWITCHBOARD_OPERATOR_TOKEN="contract-operator-$$-$RANDOM$RANDOM"
export SWITCHBOARD_OPERATOR_TOKEN
# Platform credentials as an operator sets them, so webhook checks have their secrets.
export SWITCHBOARD_PLATFORM_CREDENTIALS="messenger.app_id=1;messenger.app_secret=a;messenger.verify_token=v;whatsapp.app_id=1;whatsapp.app_secret=a;whatsapp.verify_token=v;zalo.app_id=z;zalo.app_secret=z;zalo.oa_secret_key=z;tiktok.client_key=t;tiktok.client_secret=t"
export RUST_LOG=warn
"$bin" topics ensure >/dev/null
SWITCHBOARD_CONTRACT_KEY="$("$bin" keys create --workspace acme --scope read,write,admin --name contract \
  | sed -E 's/.*"token":"([^"]+)".*/\1/')"
export SWITCHBOARD_CONTRACT_KEY
"$bin" serve >"$work/serve.log" 2>&1 &
children+=("$!")
wait_for_port 127.0.0.1 "$http_port" 60

# One worker: CPython 3.11 can fail compiling in several threads at once ("AST constructor
# recursion depth mismatch"), an error of the tool, not of the API.
log "schemathesis against http://127.0.0.1:$http_port/openapi.json for ${SWITCHBOARD_CONTRACT_SECS:-120} s"
"$venv/bin/st" --config-file deploy/schemathesis.toml run "http://127.0.0.1:$http_port/openapi.json" \
  --checks all \
  --exclude-checks positive_data_acceptance \
  --max-time "${SWITCHBOARD_CONTRACT_SECS:-120}" \
  --workers 1 \
  --no-color \
  "$@"
