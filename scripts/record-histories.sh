#!/usr/bin/env bash
# `make histories`: records the workflow histories that the replay tests of pombo-workflows
# replay (workflows/tests/histories/<workflow>/<case>.json). It runs the integration tests
# that drive the representative runs (each calls `support::histories::record` at its end)
# against a fresh Temporal dev server and maildev, on SQLite, with POMBO_RECORD_HISTORIES
# set. Files that exist are kept, never regenerated: they are the compatibility contract
# (README, "Upgrades"). To record a case under new code, give it a new name.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

# The integration tests that record a history (test names, as nextest filters them).
RECORDING_TESTS=(
  delivery::an_email_is_rendered_delivered_and_reported_sent
  delivery::an_smtp_outage_is_retried_until_the_third_attempt_sends
  channels::failover_moves_to_the_next_account_when_retries_are_exhausted
  channels::a_permanent_provider_refusal_fails_at_once_with_the_provider_code
  lifecycle::reports_move_the_status_forward_and_end_the_workflow
  lifecycle::undelivered_or_failed_notifications_fall_back_to_another_channel_once
  scheduling::a_scheduled_notification_is_sent_at_its_time_and_not_before
  scheduling::a_scheduled_notification_cancelled_before_its_time_is_never_sent
  operations::a_pending_notification_is_cancelled_and_never_sent
  provider_rate_limits::a_rate_limited_account_retries_through_its_slots
  batches::recipients_failing_with_5xx_are_retried_alone_and_sent
  batches::a_large_batch_continues_as_new_and_loses_no_one
  batches::a_scheduled_batch_cancelled_while_waiting_sends_to_no_one
  retention::a_run_purges_old_finished_notifications_once_and_keeps_the_rest
)

[ -x .tools/venv/bin/temporal ] || bash scripts/tools.sh
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_for() {
  for _ in $(seq 1 300); do port_open "$2" && return 0; sleep 0.2; done
  echo "!! $1 did not start" >&2; exit 1
}

LOGS="${CARGO_TARGET_DIR:-$ROOT/target}/histories-logs"
mkdir -p "$LOGS"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

source scripts/temporal-flags.sh
TEMPORAL_PORT=$(free_port); SMTP_PORT=$(free_port); MAIL_WEB_PORT=$(free_port)
.tools/venv/bin/temporal server start-dev --headless --ip 127.0.0.1 --port "$TEMPORAL_PORT" \
  --http-port "$(free_port)" --metrics-port "$(free_port)" "${TEMPORAL_FLAGS[@]}" \
  --log-level warn >"$LOGS/temporal.log" 2>&1 &
pids+=($!)
.tools/node/node_modules/.bin/maildev --ip 127.0.0.1 --web-ip 127.0.0.1 \
  -s "$SMTP_PORT" -w "$MAIL_WEB_PORT" >"$LOGS/maildev.log" 2>&1 &
pids+=($!)

echo "==> building"
cargo build --workspace --bins --tests --locked
wait_for Temporal "$TEMPORAL_PORT"; wait_for maildev "$SMTP_PORT"; wait_for maildev-web "$MAIL_WEB_PORT"

export POMBO_TEST_TEMPORAL="http://127.0.0.1:$TEMPORAL_PORT"
export POMBO_TEST_SMTP_PORT="$SMTP_PORT"
export POMBO_TEST_MAILDEV="http://127.0.0.1:$MAIL_WEB_PORT"
export POMBO_TEST_DB=sqlite
export POMBO_TEST_BINARIES_BUILT=1
export POMBO_RECORD_HISTORIES="$ROOT/workflows/tests/histories"
export RUST_LOG="${RUST_LOG:-warn}"

filter="package(pombo-api) & binary(it) & ("
for t in "${RECORDING_TESTS[@]}"; do filter+="test(=$t) | "; done
filter="${filter% | })"
echo "==> recording into $POMBO_RECORD_HISTORIES"
cargo nextest run --workspace --locked --no-fail-fast -E "$filter"
echo "==> replaying them against the current code"
cargo nextest run --workspace --locked -E 'package(pombo-workflows) & binary(replay)'
