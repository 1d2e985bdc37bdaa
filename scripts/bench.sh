#!/usr/bin/env bash
# `make bench`: starts the same real servers as `make test` (Temporal dev server in memory,
# maildev) and runs the pipeline benchmark in release mode. Figures only; nothing asserted.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/tools.sh
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_for() { for _ in $(seq 1 300); do port_open "$1" && return 0; sleep 0.2; done; echo "!! port $1 did not open" >&2; exit 1; }
pids=(); trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT INT TERM
TEMPORAL_PORT=$(free_port); SMTP_PORT=$(free_port); WEB_PORT=$(free_port)
sa=(); for a in PomboTenant PomboChannel PomboPriority PomboStatus; do sa+=(--search-attribute "$a=Keyword"); done
.tools/venv/bin/temporal server start-dev --headless --ip 127.0.0.1 --port "$TEMPORAL_PORT" \
  --http-port "$(free_port)" --metrics-port "$(free_port)" "${sa[@]}" --log-level error >/dev/null 2>&1 &
pids+=($!)
.tools/node/node_modules/.bin/maildev --ip 127.0.0.1 --web-ip 127.0.0.1 -s "$SMTP_PORT" -w "$WEB_PORT" >/dev/null 2>&1 &
pids+=($!)
wait_for "$TEMPORAL_PORT"; wait_for "$SMTP_PORT"; wait_for "$WEB_PORT"
POMBO_TEST_TEMPORAL="http://127.0.0.1:$TEMPORAL_PORT" POMBO_TEST_SMTP_PORT="$SMTP_PORT" \
POMBO_TEST_MAILDEV="http://127.0.0.1:$WEB_PORT" RUST_LOG=error \
  cargo bench -p pombo-api --bench pipeline
