#!/usr/bin/env bash
# `make totp`: the current sign-in code of the development operator that `make run` made
# (.data/dev-operator), computed as an authenticator app would (RFC 6238: SHA-1, 6 digits,
# 30 s). For local development only: a real operator's secret lives in their app.
set -euo pipefail
cd "$(dirname "$0")/.."
FILE=.data/dev-operator
[ -s "$FILE" ] || { echo "!! no $FILE: start the stack once with \`make run\`" >&2; exit 1; }
SECRET="$(awk -F'\t' '$1 == "totp_secret" {print $2}' "$FILE" | tail -1)"
python3 - "$SECRET" <<'PY'
import base64, hmac, struct, sys, time
secret = base64.b32decode(sys.argv[1] + "=" * (-len(sys.argv[1]) % 8))
digest = hmac.new(secret, struct.pack(">Q", int(time.time()) // 30), "sha1").digest()
offset = digest[-1] & 0x0F
code = (struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF) % 1_000_000
print(f"{code:06d}  (valid for {30 - int(time.time()) % 30} s more)")
PY
