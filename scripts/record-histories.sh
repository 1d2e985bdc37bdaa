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
  lifecycle::a_report_failed_notification_keeps_the_providers_reason_when_it_falls_back
  scheduling::a_scheduled_notification_is_sent_at_its_time_and_not_before
  scheduling::a_scheduled_notification_cancelled_before_its_time_is_never_sent
  operations::a_pending_notification_is_cancelled_and_never_sent
  provider_rate_limits::a_rate_limited_account_retries_through_its_slots
  batches::recipients_failing_with_5xx_are_retried_alone_and_sent
  batches::a_large_batch_continues_as_new_and_loses_no_one
  batches::a_scheduled_batch_cancelled_while_waiting_sends_to_no_one
  retention::a_run_purges_old_finished_notifications_once_and_keeps_the_rest
  inbound_media::a_persons_files_are_fetched_into_storage_byte_for_byte
  inbound_media::a_file_the_provider_lost_leaves_a_media_error_and_a_provider_down_is_retried
  webhooks::failures_are_retried_on_the_schedule_until_one_succeeds
  webhooks::a_failing_endpoint_pauses_then_is_disabled_and_its_tenant_is_told
  webhooks::recover_sends_exactly_the_failed_deliveries_again
  hub::users_rooms_and_messages_reach_the_other_platforms_in_the_sources_shapes
  hub::a_platform_that_is_down_gets_what_it_missed_in_order_and_none_twice_when_back
  preferences::an_opted_out_channel_or_category_is_skipped_with_its_reason_and_others_go_out
  preferences::quiet_hours_hold_a_notification_until_they_end_in_the_recipients_zone_and_alerts_pass
)

source scripts/test-servers.sh

echo "==> building"
cargo build --workspace --bins --tests --locked
servers_ready
export POMBO_RECORD_HISTORIES="$ROOT/workflows/tests/histories"

filter="package(pombo-api) & binary(it) & ("
for t in "${RECORDING_TESTS[@]}"; do filter+="test(=$t) | "; done
filter="${filter% | })"
echo "==> recording into $POMBO_RECORD_HISTORIES"
cargo nextest run --workspace --locked --no-fail-fast -E "$filter"
echo "==> replaying them against the current code"
cargo nextest run --workspace --locked -E 'package(pombo-workflows) & binary(replay)'
