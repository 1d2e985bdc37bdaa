#!/usr/bin/env bash
# `make clean-data`: deletes .data/ (the SQLite databases, Temporal's file, captured mail,
# the dev encryption key, operator and API key, logs), so the next `make run` starts clean.
# Refuses while `make run` is running: its processes hold those files open.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="$PWD/.data"
if [ ! -d "$DATA" ]; then
  echo "==> nothing to delete: .data/ does not exist"
  exit 0
fi
# Any process with a file open under .data/ (make run's servers, API, worker, logs).
holders=$(python3 - "$DATA" <<'PY'
import os, sys
data = os.path.realpath(sys.argv[1])
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            if os.path.realpath(f"/proc/{pid}/fd/{fd}").startswith(data + "/"):
                print(pid)
                break
    except OSError:
        pass
PY
)
if [ -n "$holders" ]; then
  echo "!! processes still use .data/ (make run? stop it with Ctrl-C first): $(echo $holders)" >&2
  exit 1
fi
rm -rf "$DATA"
echo "==> deleted .data/: the next make run starts with new databases, keys and dev credentials"
