#!/usr/bin/env bash
# `make upgrade-test [REF=…]`: the upgrade test (api/tests/it/upgrade.rs) with a real older
# worker binary. Builds `pombo-worker` at REF (default: the newest tag, the last release,
# else `main`) in a worktree and target directory of its own under target/upgrade/, then
# runs the test with POMBO_TEST_OLD_WORKER pointing at it: notifications that build started
# and left waiting for reports and for their `send_at` must complete on the current build.
# POMBO_TEST_OLD_WORKER set beforehand skips the build. Not part of `make test`: building a
# second tree takes minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"

if [ -z "${POMBO_TEST_OLD_WORKER:-}" ]; then
  REF="${REF:-$(git describe --tags --abbrev=0 2>/dev/null || echo main)}"
  SRC="$TARGET/upgrade/src"
  echo "==> building pombo-worker at $REF ($(git rev-parse --short "$REF")) in $SRC"
  git worktree remove --force "$SRC" 2>/dev/null || true
  git worktree add --detach "$SRC" "$REF" >/dev/null
  (cd "$SRC" && CARGO_TARGET_DIR="$TARGET/upgrade/target" cargo build --locked -p pombo-worker --bin pombo-worker)
  export POMBO_TEST_OLD_WORKER="$TARGET/upgrade/target/debug/pombo-worker"
fi

source scripts/test-servers.sh
echo "==> building the current tree"
cargo build --workspace --bins --tests --locked
servers_ready
cargo nextest run --workspace --locked --no-capture -E 'package(pombo-api) & binary(it) & test(upgrade::)'
