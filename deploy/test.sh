#!/usr/bin/env bash
# Runs the whole test suite: unit tests, given/when/then aggregate tests, and integration
# tests against real PostgreSQL and Kafka (librdkafka's mock cluster in-process, plus an
# end-to-end test against a real tansu broker process that the tests start themselves).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT"

ensure_postgres
SWITCHBOARD_TANSU="$(ensure_tansu)"
export SWITCHBOARD_TANSU
export SWITCHBOARD_TEST_DATABASE_URL="${SWITCHBOARD_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

cargo test --workspace --all-targets "$@"
