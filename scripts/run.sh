#!/usr/bin/env bash
# `make run`: installs what is missing, builds, and starts the whole local stack —
# Temporal dev server (with its Web UI), maildev (SMTP capture), the provider fakes (every
# other channel: SMS, push, WhatsApp, Instagram, Telegram, webhooks), a local S3-compatible
# object store (uploaded files), the Pombo worker and API —
# on the embedded defaults. Data stays under .data/ between runs. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
# POMBO_DATA_DIR: another data folder (the README test runs a whole stack in its own).
DATA="${POMBO_DATA_DIR:-$ROOT/.data}"
LOGS="$DATA/logs"
mkdir -p "$LOGS" "$DATA/mail" "$DATA/objects"

API_PORT="${API_PORT:-8080}"
TEMPORAL_PORT="${TEMPORAL_PORT:-7233}"
TEMPORAL_UI_PORT="${TEMPORAL_UI_PORT:-8233}"
SMTP_PORT="${SMTP_PORT:-1025}"
MAIL_UI_PORT="${MAIL_UI_PORT:-1080}"
FAKES_PORT="${FAKES_PORT:-4010}"
S3_PORT="${S3_PORT:-9000}"

# POMBO_RUN_PREBUILT=1: the tools and binaries are there already (`make test` made them
# before running the README test, which starts the stack with this script).
if [ -z "${POMBO_RUN_PREBUILT:-}" ]; then
  bash scripts/tools.sh
  echo "==> building pombo-api, pombo-worker, pombo-render and pombo-fakes"
  cargo build --bins
fi

# A known key for scripts when POMBO_DEV_API_KEY is set; otherwise one generated on the first
# run and kept, so re-runs print the same key.
if [ -z "${POMBO_DEV_API_KEY:-}" ]; then
  if [ ! -s "$DATA/dev-api-key" ]; then
    python3 -c 'import secrets; print("pombo_dev_" + secrets.token_urlsafe(24))' > "$DATA/dev-api-key"
  fi
  POMBO_DEV_API_KEY="$(cat "$DATA/dev-api-key")"
fi

# The key that seals credentials at rest, generated on the first run and kept.
if [ ! -s "$DATA/encryption-key" ]; then
  python3 -c 'import base64, secrets; print(base64.b64encode(secrets.token_bytes(32)).decode())' > "$DATA/encryption-key"
  chmod 600 "$DATA/encryption-key"
fi

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo
  echo "==> stopping"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_for() { # name port pid log: up to 90 s (a loaded machine), and no wait for one that died
  for _ in $(seq 1 450); do
    port_open "$2" && return 0
    if ! kill -0 "$3" 2>/dev/null; then
      echo "!! $1 stopped before opening port $2; the end of $4:" >&2; tail -n 20 "$4" >&2; exit 1
    fi
    sleep 0.2
  done
  echo "!! $1 did not open port $2 within 90 s; the end of $4:" >&2; tail -n 20 "$4" >&2; exit 1
}
for port in "$API_PORT" "$TEMPORAL_PORT" "$TEMPORAL_UI_PORT" "$SMTP_PORT" "$MAIL_UI_PORT" "$FAKES_PORT" "$S3_PORT"; do
  if port_open "$port"; then echo "!! port $port is already in use; stop what uses it or set the *_PORT variables" >&2; exit 1; fi
done

echo "==> starting Temporal dev server (logs: .data/logs/temporal.log)"
source scripts/temporal-flags.sh
# WAL: the embedded server's SQLite file more than doubles its throughput (README).
.tools/venv/bin/temporal server start-dev \
  --ip 127.0.0.1 --port "$TEMPORAL_PORT" --ui-port "$TEMPORAL_UI_PORT" \
  --db-filename "$DATA/temporal.db" \
  --sqlite-pragma journal_mode=wal --sqlite-pragma synchronous=normal \
  "${TEMPORAL_FLAGS[@]}" --log-level warn >"$LOGS/temporal.log" 2>&1 &
pids+=($!)

echo "==> starting maildev (logs: .data/logs/maildev.log)"
.tools/node/node_modules/.bin/maildev --ip 127.0.0.1 --web-ip 127.0.0.1 \
  -s "$SMTP_PORT" -w "$MAIL_UI_PORT" --mail-directory "$DATA/mail" >"$LOGS/maildev.log" 2>&1 &
pids+=($!)
echo "==> starting the provider fakes (logs: .data/logs/fakes.log)"
target/debug/pombo-fakes "127.0.0.1:$FAKES_PORT" >"$LOGS/fakes.log" 2>&1 &
pids+=($!)
# Server-wide provider accounts for every channel, pointing at the fakes.
target/debug/pombo-fakes --print-config "http://127.0.0.1:$FAKES_PORT" >"$DATA/providers.toml"
echo "==> starting the object store (logs: .data/logs/s3.log)"
target/debug/pombo-s3 "127.0.0.1:$S3_PORT" "$DATA/objects" >"$LOGS/s3.log" 2>&1 &
pids+=($!)
wait_for "Temporal" "$TEMPORAL_PORT" "${pids[0]}" "$LOGS/temporal.log"
wait_for "maildev" "$SMTP_PORT" "${pids[1]}" "$LOGS/maildev.log"
wait_for "pombo-fakes" "$FAKES_PORT" "${pids[2]}" "$LOGS/fakes.log"
wait_for "pombo-s3" "$S3_PORT" "${pids[3]}" "$LOGS/s3.log"

export POMBO_DEV_API_KEY
export POMBO_LISTEN="127.0.0.1:$API_PORT"
export POMBO_DATABASE_URL="${POMBO_DATABASE_URL:-sqlite://$DATA/pombo.db?mode=rwc}"
export POMBO_TEMPORAL__ADDRESS="http://127.0.0.1:$TEMPORAL_PORT"
export POMBO_TEMPORAL__UI_URL="http://127.0.0.1:$TEMPORAL_UI_PORT"
export POMBO_SMTP__HOST=127.0.0.1 POMBO_SMTP__PORT="$SMTP_PORT"
export POMBO_CONFIG="${POMBO_CONFIG:-$DATA/providers.toml}"
export POMBO_ENCRYPTION__CURRENT_KEY=local
POMBO_ENCRYPTION__KEYS__LOCAL="$(cat "$DATA/encryption-key")"
export POMBO_ENCRYPTION__KEYS__LOCAL
# Tenants' provider accounts and webhooks may target the local fakes (loopback, plain
# http), and nothing else private; a value given in the environment is kept.
export POMBO_OUTBOUND__ALLOWED_PRIVATE_TARGETS="${POMBO_OUTBOUND__ALLOWED_PRIVATE_TARGETS:-127.0.0.1:$FAKES_PORT}"
# Uploaded files go to pombo-s3 (its keys are the defaults of [storage]).
export POMBO_STORAGE__ENDPOINT="http://127.0.0.1:$S3_PORT"
# The same configuration for `pombo-admin` in another terminal (`source .data/env`): its
# database and encryption key. Mode 600: it holds that key.
( umask 077
  for name in $(compgen -e | grep '^POMBO_' | grep -v -e '^POMBO_TEST' -e '^POMBO_RUN_PREBUILT$' -e '^POMBO_DATA_DIR$'); do
    printf 'export %s=%q\n' "$name" "${!name}"
  done >"$DATA/env" )

echo "==> starting pombo-worker (logs: .data/logs/worker.log)"
target/debug/pombo-worker >"$LOGS/worker.log" 2>&1 &
pids+=($!)
echo "==> starting pombo-api (logs: .data/logs/api.log)"
target/debug/pombo-api >"$LOGS/api.log" 2>&1 &
pids+=($!)
wait_for "pombo-api" "$API_PORT" "$!" "$LOGS/api.log"

# An operator for the admin page, made on the first run and kept in .data/dev-operator
# (mode 600: password, TOTP secret, recovery codes). `make totp` prints its current code.
DEV_OPERATOR="dev@pombo.local"
if [ ! -s "$DATA/dev-operator" ]; then
  umask 077
  if ! target/debug/pombo-admin operator create "$DEV_OPERATOR" --tenant dev >"$DATA/dev-operator.new" 2>>"$LOGS/admin.log"; then
    # It exists (the file was removed, the database kept): new credentials for it.
    target/debug/pombo-admin operator reset-password "$DEV_OPERATOR" >"$DATA/dev-operator.new" 2>>"$LOGS/admin.log"
    target/debug/pombo-admin operator reset-mfa "$DEV_OPERATOR" >>"$DATA/dev-operator.new" 2>>"$LOGS/admin.log"
  fi
  mv "$DATA/dev-operator.new" "$DATA/dev-operator"
  umask 022
fi
DEV_OPERATOR_PASSWORD="$(awk -F'\t' '$1 == "password" {print $2}' "$DATA/dev-operator")"

cat <<INFO

  Pombo is running.
    API            http://127.0.0.1:$API_PORT
    Swagger UI     http://127.0.0.1:$API_PORT/docs/
    Admin page     http://127.0.0.1:$API_PORT/admin
    OpenAPI        http://127.0.0.1:$API_PORT/openapi.json
    Temporal UI    http://127.0.0.1:$TEMPORAL_UI_PORT
    Mail (maildev) http://127.0.0.1:$MAIL_UI_PORT
    Provider fakes http://127.0.0.1:$FAKES_PORT   (what SMS, push, WhatsApp… "sent")
    Object store   http://127.0.0.1:$S3_PORT   (S3-compatible, files in .data/objects/)
    Logs           .data/logs/

  Dev API key:     $POMBO_DEV_API_KEY
  Admin sign-in:   $DEV_OPERATOR / $DEV_OPERATOR_PASSWORD
                   code: \`make totp\` prints the current one (or add the otpauth URI
                   in .data/dev-operator to an authenticator app)

  Try it:
    curl -s http://127.0.0.1:$API_PORT/v1/notifications \\
      -H "Authorization: Bearer $POMBO_DEV_API_KEY" -H 'Content-Type: application/json' \\
      -d '{"channel":"email","to":"ana@example.com","content":{"subject":"Hello {{ name }}","text":"Welcome, {{ name }}!"},"data":{"name":"Ana"}}'
    curl -s http://127.0.0.1:$API_PORT/v1/notifications \\
      -H "Authorization: Bearer $POMBO_DEV_API_KEY" -H 'Content-Type: application/json' \\
      -d '{"channel":"sms","to":"+5511987654321","content":{"text":"Your code is {{ code }}"},"data":{"code":"4242"}}'

    printf 'hello' > /tmp/hello.txt
    curl -s http://127.0.0.1:$API_PORT/v1/files -H "Authorization: Bearer $POMBO_DEV_API_KEY" \\
      -F 'file=@/tmp/hello.txt;type=text/plain'

  Press Ctrl-C to stop.
INFO

# Exit (and stop the rest) as soon as any of the services dies.
wait -n "${pids[@]}"
echo "!! a service exited; see .data/logs/" >&2
exit 1
