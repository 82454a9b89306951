#!/usr/bin/env bash
# Shared helpers for the deploy scripts: make PostgreSQL and a local Apache Kafka broker
# available on a fresh machine, installing and configuring what is missing.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_DIR="${SWITCHBOARD_CACHE_DIR:-$HOME/.cache/switchboard}"
TOOLS_DIR="${SWITCHBOARD_TOOLS_DIR:-$CACHE_DIR/tools}"
# The broker's version is pinned in deploy/kafka/pom.xml; this names its cache folder.
KAFKA_VERSION="4.1.1"
KAFKA_LIBS="$TOOLS_DIR/kafka-$KAFKA_VERSION/libs"

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

# Prints a TCP port on 127.0.0.1 that nothing listens on, below the kernel's ephemeral range:
# a port an outgoing connection holds cannot be bound although nothing listens on it, and a
# load test's clients hold thousands of them (a broker once failed to start on one that way).
free_port() {
  local ephemeral_low=32768 rest port
  read -r ephemeral_low rest </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  local low=10000 high=$((ephemeral_low - 1))
  if [ "$high" -le $((low + 1000)) ]; then low=20000 high=60000; fi
  while :; do
    port=$((low + RANDOM % (high - low)))
    if ! port_open 127.0.0.1 "$port"; then echo "$port"; return 0; fi
  done
}

postgres_answers() {
  PGCONNECT_TIMEOUT=5 psql -w -h 127.0.0.1 -U postgres -d postgres -tAc 'SELECT 1' >/dev/null 2>&1
}

# Makes postgres://postgres@127.0.0.1:5432 work: starts the machine's PostgreSQL cluster if
# nothing listens there, and, if the server asks that URL for a password, lets loopback
# connections in without one (lines marked "switchboard" at the top of the cluster's
# pg_hba.conf, then a reload). Sockets on 127.0.0.1/::1 only: nothing off the machine.
ensure_postgres() {
  if postgres_answers; then return 0; fi
  if ! command -v pg_lsclusters >/dev/null 2>&1; then
    log "PostgreSQL does not answer on 127.0.0.1:5432 and this machine has no Debian cluster tools: start it yourself or set DATABASE_URL"
    return 1
  fi
  local version cluster hba
  read -r version cluster < <(pg_lsclusters -h | sort -V | tail -n 1 | awk '{print $1, $2}')
  if [ -z "${version:-}" ]; then log "no PostgreSQL cluster on this machine (pg_createcluster makes one)"; return 1; fi
  if ! port_open 127.0.0.1 5432; then
    log "starting PostgreSQL $version/$cluster"
    pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" start
    wait_for_port 127.0.0.1 5432 60
  fi
  if postgres_answers; then return 0; fi
  hba="/etc/postgresql/$version/$cluster/pg_hba.conf"
  if ! grep -q '# switchboard' "$hba" 2>/dev/null; then
    if [ ! -w "$hba" ]; then
      log "PostgreSQL asks for a password on 127.0.0.1 and $hba is not writable here: run this as root once, or set DATABASE_URL"
      return 1
    fi
    log "letting loopback connections into PostgreSQL without a password ($hba)"
    local rules
    rules=$'# switchboard: local development, loopback only, no password\nhost all all 127.0.0.1/32 trust # switchboard\nhost all all ::1/128 trust # switchboard\n'
    printf '%s%s' "$rules" "$(cat "$hba")" >"$hba.switchboard" && cat "$hba.switchboard" >"$hba" && rm -f "$hba.switchboard"
  fi
  pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" reload
  for _ in $(seq 1 50); do if postgres_answers; then return 0; fi; sleep 0.2; done
  log "PostgreSQL still refuses postgres@127.0.0.1 without a password"
  return 1
}

# Prints the folder of the newest installed PostgreSQL server's programs (initdb, postgres).
postgres_bin_dir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$dir" ] && command -v pg_config >/dev/null 2>&1; then dir=$(pg_config --bindir); fi
  if [ -z "$dir" ] || [ ! -x "$dir/initdb" ]; then log "no PostgreSQL server programs (initdb) found"; return 1; fi
  echo "$dir"
}

# Creates database $1 on the local server if it does not exist.
ensure_database() {
  local name=$1
  if ! psql -w -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$name'" | grep -q 1; then
    psql -w -h 127.0.0.1 -U postgres -qc "CREATE DATABASE \"$name\""
  fi
}

# Prints the folder of the Apache Kafka jars, copying them from Maven Central once
# (deploy/kafka/pom.xml; the Maven repository is kept in CACHE_DIR/m2 too). Concurrent
# callers wait for one install.
ensure_kafka() {
  if [ -f "$KAFKA_LIBS/.complete" ]; then echo "$KAFKA_LIBS"; return 0; fi
  mkdir -p "$TOOLS_DIR"
  (
    flock 9
    if [ ! -f "$KAFKA_LIBS/.complete" ]; then
      log "installing Apache Kafka $KAFKA_VERSION from Maven Central (once, into $TOOLS_DIR)"
      rm -rf "$KAFKA_LIBS"
      if ! mvn -B -q --no-transfer-progress -Dstyle.color=never -f "$REPO_ROOT/deploy/kafka/pom.xml" \
        -Dmaven.repo.local="$CACHE_DIR/m2" dependency:copy-dependencies \
        -DoutputDirectory="$KAFKA_LIBS" >"$TOOLS_DIR/kafka-install.log" 2>&1; then
        log "the install failed; the last lines of $TOOLS_DIR/kafka-install.log:"
        tail -n 20 "$TOOLS_DIR/kafka-install.log" >&2
        exit 1
      fi
      touch "$KAFKA_LIBS/.complete"
    fi
  ) 9>"$TOOLS_DIR/kafka.lock"
  echo "$KAFKA_LIBS"
}

# Starts a Kafka node on 127.0.0.1:$1 (controller on $2) with its data in $3, logging to $4,
# unless something already listens on $1; waits until it serves. KAFKA_PID is its pid.
start_kafka() {
  local port=$1 controller_port=$2 dir=$3 logfile=$4
  KAFKA_PID=
  if port_open 127.0.0.1 "$port"; then log "a broker already listens on 127.0.0.1:$port"; return 0; fi
  ensure_kafka >/dev/null
  log "starting Apache Kafka $KAFKA_VERSION on 127.0.0.1:$port (data in $dir)"
  nohup bash "$REPO_ROOT/deploy/kafka/node.sh" "$dir" "$port" "$controller_port" >"$logfile" 2>&1 &
  KAFKA_PID=$!
  for _ in $(seq 1 600); do
    if grep -q 'Kafka Server started' "$logfile" 2>/dev/null && port_open 127.0.0.1 "$port"; then return 0; fi
    if ! kill -0 "$KAFKA_PID" 2>/dev/null; then
      log "the broker exited; the last lines of $logfile:"; tail -n 20 "$logfile" >&2; return 1
    fi
    sleep 0.2
  done
  log "the broker did not start within 120 s; see $logfile"
  return 1
}

# Makes Debian's dovecot IMAP server available for the e-mail channel's tests (which start
# their own instances through deploy/dovecot/node.sh, never the machine's service); installs
# dovecot-imapd once. Prints the dovecot binary.
ensure_dovecot() {
  if ! command -v dovecot >/dev/null 2>&1 && [ ! -x /usr/sbin/dovecot ]; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
      log "dovecot is missing and cannot be installed here: install dovecot-imapd (Debian) as root"
      return 1
    fi
    log "installing dovecot-imapd (once)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q dovecot-imapd >&2 \
      || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q dovecot-imapd >&2; }
  fi
  command -v dovecot 2>/dev/null || echo /usr/sbin/dovecot
}

# The SMTP server the e-mail channel's reply tests send to: aiosmtpd (pinned, from PyPI),
# installed once into a virtual environment in TOOLS_DIR. Prints that environment's python.
AIOSMTPD_VERSION="1.4.6"
ensure_aiosmtpd() {
  local venv="$TOOLS_DIR/aiosmtpd-$AIOSMTPD_VERSION"
  if [ ! -x "$venv/bin/aiosmtpd" ]; then
    mkdir -p "$TOOLS_DIR"
    (
      flock 9
      if [ ! -x "$venv/bin/aiosmtpd" ]; then
        log "installing aiosmtpd $AIOSMTPD_VERSION from PyPI (once, into $TOOLS_DIR)"
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q --disable-pip-version-check "aiosmtpd==$AIOSMTPD_VERSION" \
          >"$TOOLS_DIR/aiosmtpd-install.log" 2>&1
      fi
    ) 9>"$TOOLS_DIR/aiosmtpd.lock"
  fi
  echo "$venv/bin/python"
}

# Makes Debian's Chromium available at /usr/bin/chromium for the web chat browser test:
# installed with apt-get when missing (as root), otherwise a clear failure.
ensure_chromium() {
  if [ -x /usr/bin/chromium ]; then return 0; fi
  if [ "$(id -u)" -ne 0 ]; then
    log "Chromium is missing and this is not root: run 'apt-get install -y chromium' first"
    return 1
  fi
  log "installing Debian's chromium package (once)"
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
      >"$TOOLS_DIR/chromium-install.log" 2>&1 || [ ! -x /usr/bin/chromium ]; then
    log "installing Chromium failed; the last lines of $TOOLS_DIR/chromium-install.log:"
    tail -n 20 "$TOOLS_DIR/chromium-install.log" >&2
    return 1
  fi
}

# The web chat widget's npm packages (typescript, playwright-core, pinned by
# api/webchat/package-lock.json), installed with `npm ci` once per lock file into the cache;
# prints the node_modules folder.
ensure_webchat_npm() {
  local lock="$REPO_ROOT/api/webchat/package-lock.json" hash dir
  hash="$(sha256sum "$lock" | cut -c1-16)"
  dir="$TOOLS_DIR/webchat-npm-$hash"
  mkdir -p "$TOOLS_DIR"
  (
    flock 9
    if [ ! -f "$dir/.complete" ]; then
      log "installing the web chat widget's npm packages (once, into $dir)"
      rm -rf "$dir"; mkdir -p "$dir"
      cp "$REPO_ROOT/api/webchat/package.json" "$lock" "$dir/"
      if ! (cd "$dir" && npm ci --no-audit --no-fund --ignore-scripts) >"$dir.log" 2>&1; then
        log "npm ci failed; the last lines of $dir.log:"; tail -n 20 "$dir.log" >&2; exit 1
      fi
      touch "$dir/.complete"
    fi
  ) 9>"$TOOLS_DIR/webchat-npm.lock" || return 1
  echo "$dir/node_modules"
}

# The deploy files' validators (deploy/manifests-check.sh), pinned, from PyPI, installed once
# into a virtual environment in TOOLS_DIR: kubernetes-validate (which bundles the Kubernetes
# JSON schemas, so validating needs no network) and check-jsonschema. Prints that
# environment's bin folder.
KUBERNETES_VALIDATE_VERSION="1.37.0"
CHECK_JSONSCHEMA_VERSION="0.39.0"
ensure_manifest_tools() {
  local venv="$TOOLS_DIR/manifest-tools-$KUBERNETES_VALIDATE_VERSION-$CHECK_JSONSCHEMA_VERSION"
  if [ ! -x "$venv/bin/kubernetes-validate" ] || [ ! -x "$venv/bin/check-jsonschema" ]; then
    mkdir -p "$TOOLS_DIR"
    (
      flock 9
      if [ ! -x "$venv/bin/kubernetes-validate" ] || [ ! -x "$venv/bin/check-jsonschema" ]; then
        log "installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION and check-jsonschema $CHECK_JSONSCHEMA_VERSION from PyPI (once, into $TOOLS_DIR)"
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q --disable-pip-version-check \
          "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" \
          "check-jsonschema==$CHECK_JSONSCHEMA_VERSION" \
          >"$TOOLS_DIR/manifest-tools-install.log" 2>&1
      fi
    ) 9>"$TOOLS_DIR/manifest-tools.lock"
  fi
  echo "$venv/bin"
}

# The compose specification's JSON schema, as the Go module github.com/compose-spec/compose-go/v2
# ships it (schema/compose-spec.json), fetched once from the Go module proxy into TOOLS_DIR.
# Prints the schema's path.
COMPOSE_GO_VERSION="v2.17.0"
ensure_compose_schema() {
  local dir="$TOOLS_DIR/compose-spec-$COMPOSE_GO_VERSION" proxy
  proxy="${GOPROXY:-https://proxy.golang.org}"
  proxy="${proxy%%,*}"
  if [ ! -s "$dir/compose-spec.json" ]; then
    mkdir -p "$dir"
    (
      flock 9
      if [ ! -s "$dir/compose-spec.json" ]; then
        log "fetching compose-go $COMPOSE_GO_VERSION's compose-spec.json from the Go module proxy (once, into $TOOLS_DIR)"
        curl -fsSL --max-time 120 -o "$dir/module.zip" \
          "$proxy/github.com/compose-spec/compose-go/v2/@v/$COMPOSE_GO_VERSION.zip"
        unzip -q -o -j "$dir/module.zip" \
          "github.com/compose-spec/compose-go/v2@$COMPOSE_GO_VERSION/schema/compose-spec.json" -d "$dir"
        rm -f "$dir/module.zip"
      fi
    ) 9>"$dir.lock"
  fi
  echo "$dir/compose-spec.json"
}

# kustomize, pinned, built once from the Go module proxy into TOOLS_DIR (`kubectl kustomize`
# is not on every machine). Prints the binary's path.
KUSTOMIZE_VERSION="v5.5.0"
ensure_kustomize() {
  local dir="$TOOLS_DIR/kustomize-$KUSTOMIZE_VERSION"
  if [ ! -x "$dir/bin/kustomize" ]; then
    mkdir -p "$dir"
    (
      flock 9
      if [ ! -x "$dir/bin/kustomize" ]; then
        log "building kustomize $KUSTOMIZE_VERSION from the Go module proxy (once, into $TOOLS_DIR; about 2 minutes)"
        GOBIN="$dir/bin" GOPATH="$dir/gopath" GOCACHE="$dir/gocache" GOFLAGS=-mod=mod \
          go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION" \
          >"$dir/install.log" 2>&1
        chmod -R u+w "$dir/gopath" "$dir/gocache" 2>/dev/null || true
        rm -rf "$dir/gopath" "$dir/gocache"
      fi
    ) 9>"$dir.lock"
  fi
  echo "$dir/bin/kustomize"
}
