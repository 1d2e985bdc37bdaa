#!/usr/bin/env bash
# `make bench`: starts a Temporal dev server (in memory, the same flags as `make run`) and
# runs the benchmark (bench/): Pombo's release binaries against baselines in the same run —
# bare Temporal workflows on the same server and a RabbitMQ priority queue
# (POMBO_BENCH_AMQP, default 127.0.0.1:5672, guest/guest). Figures only; nothing asserted.
# Sizes: POMBO_BENCH_N (500), POMBO_BENCH_RATE (200 req/s) for POMBO_BENCH_RATE_SECS (10),
# POMBO_BENCH_LOW (5000) then POMBO_BENCH_HIGH (100), POMBO_BENCH_BATCH (10000);
# POMBO_BENCH_DB=postgres for PostgreSQL (POMBO_TEST_POSTGRES); POMBO_BENCH_ONLY
# (a comma list of latency, inbound, priority, batch, fairness, render, stream, webhooks, hub) runs those after the first
# one; POMBO_BENCH_RENDERS (5000) renders in process and in the render children;
# POMBO_BENCH_ONLY=eager compares eager and normal workflow starts of bare workflows.
# POMBO_BENCH_LOG (a RUST_LOG filter, default error) is what the API and worker log.
# POMBO_BENCH_TEMPORAL_FLAGS (space-separated) adds dev-server flags, to compare settings.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/tools.sh
source scripts/temporal-flags.sh
read -r -a extra_flags <<< "${POMBO_BENCH_TEMPORAL_FLAGS:-}"
TEMPORAL_FLAGS+=("${extra_flags[@]}")
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_for() { for _ in $(seq 1 300); do port_open "$1" && return 0; sleep 0.2; done; echo "!! port $1 did not open" >&2; exit 1; }
pids=(); trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT INT TERM
echo "==> building (release)"
cargo build --release --locked -p pombo-api -p pombo-worker -p pombo-renderer -p pombo-bench
TEMPORAL_PORT=$(free_port); METRICS_PORT=$(free_port)
.tools/venv/bin/temporal server start-dev --headless --ip 127.0.0.1 --port "$TEMPORAL_PORT" \
  --http-port "$(free_port)" --metrics-port "$METRICS_PORT" "${TEMPORAL_FLAGS[@]}" \
  --log-level error >/dev/null 2>&1 &
pids+=($!)
# Its CPU time per notification is one of the figures.
export POMBO_BENCH_TEMPORAL_PID=$!
# Its persistence calls per notification are another.
export POMBO_BENCH_TEMPORAL_METRICS="http://127.0.0.1:$METRICS_PORT/metrics"
wait_for "$TEMPORAL_PORT"
POMBO_TEST_TEMPORAL="http://127.0.0.1:$TEMPORAL_PORT" target/release/pombo-bench
