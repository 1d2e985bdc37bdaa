# Sourced by scripts that run some integration tests on their own (record-histories.sh,
# upgrade-test.sh): starts a Temporal dev server and maildev on free ports, stopped when the
# script exits, and exports the POMBO_TEST_* variables the tests read (SQLite databases).
# `make test` starts its own (scripts/test.sh).
[ -x .tools/venv/bin/temporal ] || bash scripts/tools.sh
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_for() {
  for _ in $(seq 1 300); do port_open "$2" && return 0; sleep 0.2; done
  echo "!! $1 did not start" >&2; exit 1
}

LOGS="${CARGO_TARGET_DIR:-$PWD/target}/test-servers-logs"
mkdir -p "$LOGS"
server_pids=()
stop_servers() { for pid in "${server_pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap stop_servers EXIT INT TERM

source scripts/temporal-flags.sh
TEMPORAL_PORT=$(free_port); SMTP_PORT=$(free_port); MAIL_WEB_PORT=$(free_port)
.tools/venv/bin/temporal server start-dev --headless --ip 127.0.0.1 --port "$TEMPORAL_PORT" \
  --http-port "$(free_port)" --metrics-port "$(free_port)" "${TEMPORAL_FLAGS[@]}" \
  --log-level warn >"$LOGS/temporal.log" 2>&1 &
server_pids+=($!)
.tools/node/node_modules/.bin/maildev --ip 127.0.0.1 --web-ip 127.0.0.1 \
  -s "$SMTP_PORT" -w "$MAIL_WEB_PORT" >"$LOGS/maildev.log" 2>&1 &
server_pids+=($!)

# Call after building (the servers start meanwhile).
servers_ready() {
  wait_for Temporal "$TEMPORAL_PORT"; wait_for maildev "$SMTP_PORT"; wait_for maildev-web "$MAIL_WEB_PORT"
  export POMBO_TEST_TEMPORAL="http://127.0.0.1:$TEMPORAL_PORT"
  export POMBO_TEST_SMTP_PORT="$SMTP_PORT"
  export POMBO_TEST_MAILDEV="http://127.0.0.1:$MAIL_WEB_PORT"
  export POMBO_TEST_DB=sqlite
  export POMBO_TEST_BINARIES_BUILT=1
  export RUST_LOG="${RUST_LOG:-warn}"
}
