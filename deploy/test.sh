#!/usr/bin/env bash
# Runs the whole test suite: unit tests, given/when/then aggregate tests, and integration
# tests against real PostgreSQL and Kafka (librdkafka's mock cluster in-process, plus
# end-to-end and fault tests against real Apache Kafka nodes that the tests start, kill and
# restart themselves through deploy/kafka/node.sh; the e-mail channel's against dovecot and
# aiosmtpd, installed here and started by the tests through deploy/dovecot/node.sh); then the API contract run
# (deploy/api-contract.sh: schemathesis against a real `switchboard serve`) and the web chat
# widget in headless Chromium (deploy/webchat-browser.sh).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT"

ensure_postgres
ensure_kafka >/dev/null
# The e-mail channel's tests start their own dovecot IMAP and aiosmtpd SMTP servers.
export SWITCHBOARD_TEST_DOVECOT="$(ensure_dovecot)"
export SWITCHBOARD_TEST_SMTPD_PYTHON="$(ensure_aiosmtpd)"
export SWITCHBOARD_TEST_DATABASE_URL="${SWITCHBOARD_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

cargo test --workspace --all-targets "$@"
# The running service against its own OpenAPI description (schemathesis, bounded in time).
bash "$REPO_ROOT/deploy/api-contract.sh"
# The web chat widget end to end in headless Chromium (bounded in time).
bash "$REPO_ROOT/deploy/webchat-browser.sh"
# The deploy files (Dockerfile, compose file, Kubernetes manifests, dashboard), checked offline.
bash "$REPO_ROOT/deploy/manifests-check.sh"
