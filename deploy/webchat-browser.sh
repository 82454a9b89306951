#!/usr/bin/env bash
# The web chat widget end to end in headless Chromium (Debian's chromium, driven by
# playwright-core): a real `switchboard serve` with its outbound adapters on a throwaway
# Apache Kafka node and database, a workspace key, and a connected web chat integration
# whose allow-list is the service's own origin (the demo page is served from it). Checks
# first that the committed widget build matches its TypeScript source. The screenshot is
# left in var/webchat-browser/. Fails at once, saying so, when Chromium is missing.
#
#   bash deploy/webchat-browser.sh     # after a debug build (deploy/test.sh calls it)
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT"

bin="${SWITCHBOARD_BIN:-${CARGO_TARGET_DIR:-target}/debug/switchboard}"
work="$(mktemp -d "${TMPDIR:-/tmp}/switchboard-webchat.XXXXXX")"
database="switchboard_webchat_$$"
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

ensure_chromium || { log "the web chat browser test needs Chromium at /usr/bin/chromium"; exit 1; }
modules="$(ensure_webchat_npm)"
export SWITCHBOARD_WEBCHAT_NODE_MODULES="$modules"
node api/webchat/check-build.mjs
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
export SWITCHBOARD_OUTBOUND_ADAPTERS=true
SWITCHBOARD_SECRET_KEYS="$("$bin" keygen --id webchat)"
export SWITCHBOARD_SECRET_KEYS
export RUST_LOG=warn
"$bin" topics ensure >/dev/null
key="$("$bin" keys create --workspace acme --scope read,write,admin --name webchat \
  | sed -E 's/.*"token":"([^"]+)".*/\1/')"
"$bin" serve >"$work/serve.log" 2>&1 &
children+=("$!")
wait_for_port 127.0.0.1 "$http_port" 60
url="http://127.0.0.1:$http_port"

created="$(curl -sf -XPOST "$url/v1/workspaces/acme/integrations" \
  -H "authorization: Bearer $key" -H 'content-type: application/json' \
  -d "{\"channel\":\"webchat\",\"name\":\"Site\",\"auth\":{\"allowed_origin\":\"$url\",\"widget_title\":\"Support\"}}")"
integration="$(printf '%s' "$created" | sed -E 's/.*"id":"([^"]+)".*/\1/')"
curl -sf -XPOST "$url/v1/workspaces/acme/integrations/$integration/connect" \
  -H "authorization: Bearer $key" -H 'content-type: application/json' -d '{}' >/dev/null

log "web chat browser test against $url (Chromium $(/usr/bin/chromium --version 2>/dev/null | awk '{print $2}'))"
SWITCHBOARD_URL="$url" SWITCHBOARD_KEY="$key" SWITCHBOARD_WEBCHAT_INTEGRATION="$integration" \
  SWITCHBOARD_WEBCHAT_ARTIFACTS="$REPO_ROOT/var/webchat-browser" \
  timeout 180 node api/webchat/browser-test.mjs
