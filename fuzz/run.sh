#!/usr/bin/env bash
# `make fuzz`: every fuzz target (callback parsers, request validators; see src/lib.rs) for a
# bounded time each, FUZZ_SECONDS (default 20), on the stable toolchain: libFuzzer through
# cargo-fuzz with `--sanitizer none` (the sanitizers need nightly; Rust's own checks, debug
# assertions and overflow checks included, still turn a bug into a crash). Starts from the
# committed seeds (seeds/<target>) and grows corpus/<target>. A crash, a timeout (over 10 s
# for one input) or an out-of-memory fails the run and leaves the input in
# artifacts/<target>; `cargo fuzz run -s none <target> <that file>` replays it.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.2
TOOLS="$PWD/.tools/cargo"
if ! "$TOOLS/bin/cargo-fuzz" --version 2>/dev/null | grep -qx "cargo-fuzz $CARGO_FUZZ_VERSION"; then
  echo "==> installing cargo-fuzz $CARGO_FUZZ_VERSION into .tools/cargo"
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --root "$TOOLS"
fi
export PATH="$TOOLS/bin:$PATH"

SECONDS_EACH="${FUZZ_SECONDS:-20}"
cd fuzz
echo "==> building the fuzz targets (instrumented, release)"
cargo fuzz build -s none

failed=()
summary=()
for target in $(cargo fuzz list); do
  mkdir -p "corpus/$target"
  log="$(mktemp)"
  echo "==> $target: ${SECONDS_EACH}s"
  if cargo fuzz run -s none "$target" "corpus/$target" "seeds/$target" -- \
      -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 >"$log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed+=("$target")
    tail -40 "$log"
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  summary+=("$(printf '%-22s %-6s %10s runs in %ss' "$target" "$status" "${runs:-?}" "$SECONDS_EACH")")
  rm -f "$log"
done

echo "==> fuzzing summary"
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "!! crashed: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
echo "0 panics in ${#summary[@]} targets"
