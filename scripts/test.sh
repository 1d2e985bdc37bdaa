#!/usr/bin/env bash
# `make test`: the whole suite against real servers — one Temporal dev server and one
# maildev for the run (each test uses its own task queue and recipients), and a fresh
# database per test: PostgreSQL (127.0.0.1:5432) for the full run, then the integration
# tests again on SQLite, the embedded default. Then schemathesis holds a running API to its
# OpenAPI document (scripts/schemathesis.sh), and the Kubernetes manifests are validated
# (scripts/validate-deploy.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

bash scripts/tools.sh

POSTGRES="${POMBO_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432}"
if ! python3 - "$POSTGRES" <<'PY'
import socket, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
socket.create_connection((u.hostname or "127.0.0.1", u.port or 5432), timeout=3).close()
PY
then
  echo "!! PostgreSQL is not reachable at $POSTGRES (set POMBO_TEST_POSTGRES)" >&2
  exit 1
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# wait_for NAME PORT [PID]: until PORT opens; with PID, fails (returns 1) once PID has exited.
wait_for() {
  for _ in $(seq 1 300); do
    port_open "$2" && return 0
    [ -n "${3:-}" ] && ! kill -0 "$3" 2>/dev/null && return 1
    sleep 0.2
  done
  echo "!! $1 did not start" >&2; exit 1
}

LOGS="$ROOT/target/test-logs"
mkdir -p "$LOGS"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

SMTP_PORT=$(free_port); MAIL_WEB_PORT=$(free_port)
source scripts/temporal-flags.sh
start_temporal() {
  TEMPORAL_PORT=$(free_port)
  # In memory: nothing to clean up, and faster than a file.
  .tools/venv/bin/temporal server start-dev --headless --ip 127.0.0.1 --port "$TEMPORAL_PORT" \
    --http-port "$(free_port)" --metrics-port "$(free_port)" "${TEMPORAL_FLAGS[@]}" \
    --log-level warn >"$LOGS/temporal.log" 2>&1 &
  TEMPORAL_PID=$!
  pids+=("$TEMPORAL_PID")
}
start_temporal
.tools/node/node_modules/.bin/maildev --ip 127.0.0.1 --web-ip 127.0.0.1 \
  -s "$SMTP_PORT" -w "$MAIL_WEB_PORT" >"$LOGS/maildev.log" 2>&1 &
pids+=($!)

echo "==> building"
cargo build --workspace --bins --tests --locked
# The dev server picks its internal services' ports itself, and one of them can be a port
# picked here but not yet bound (it then exits at once): started again on new ports.
for try in 1 2 3; do
  wait_for Temporal "$TEMPORAL_PORT" "$TEMPORAL_PID" && break
  [ "$try" = 3 ] && { echo "!! Temporal exited while starting (see $LOGS/temporal.log)" >&2; exit 1; }
  echo "==> Temporal exited while starting (see $LOGS/temporal.log); starting it again"
  start_temporal
done
wait_for maildev "$SMTP_PORT"; wait_for maildev-web "$MAIL_WEB_PORT"

export POMBO_TEST_TEMPORAL="http://127.0.0.1:$TEMPORAL_PORT"
export POMBO_TEST_SMTP_PORT="$SMTP_PORT"
export POMBO_TEST_MAILDEV="http://127.0.0.1:$MAIL_WEB_PORT"
export POMBO_TEST_POSTGRES="$POSTGRES"
export RUST_LOG="${RUST_LOG:-warn}"
# The crash test runs the pombo-worker binary built above.
export POMBO_TEST_BINARIES_BUILT=1

echo "==> all tests, on PostgreSQL"
POMBO_TEST_DB=postgres cargo nextest run --workspace --locked --no-fail-fast
echo "==> integration tests, on SQLite"
# Same `--workspace` build as above (with `-p` cargo unifies features differently and
# rebuilds half the tree), narrowed to the integration binary.
POMBO_TEST_DB=sqlite cargo nextest run --workspace --locked --no-fail-fast \
  -E 'package(pombo-api) & binary(it)'

echo "==> schemathesis: the OpenAPI document against a running pombo-api"
bash scripts/schemathesis.sh

echo "==> deploy/k8s: the Kubernetes manifests against Kubernetes' schemas"
bash scripts/validate-deploy.sh

# Each test made its own database; drop them so runs do not pile up.
python3 - "$POSTGRES" <<'PY' || true
import subprocess, sys
url = sys.argv[1] + "/postgres"
names = subprocess.run(["psql", url, "-Atc", "select datname from pg_database where datname like 'pombo_test_%'"],
                       capture_output=True, text=True).stdout.split()
for n in names:
    subprocess.run(["psql", url, "-qc", f"drop database if exists {n} with (force)"], capture_output=True)
PY
