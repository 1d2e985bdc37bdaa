#!/usr/bin/env bash
# Validates the Kubernetes manifests of deploy/k8s against Kubernetes' own schemas (PyPI
# kubernetes-validate, strict: an unknown field fails), and checks that every file a
# kustomization.yaml lists exists. Part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
KV=.tools/k8s/bin/kubernetes-validate
[ -x "$KV" ] || bash scripts/tools.sh
[ -x "$KV" ] || { echo "!! kubernetes-validate is not installed (scripts/tools.sh)" >&2; exit 1; }

# Resources, not kustomizations (those are Kustomize's, which kubernetes-validate does not know).
mapfile -t manifests < <(find deploy/k8s -name '*.yaml' ! -name kustomization.yaml | sort)
[ "${#manifests[@]}" -gt 0 ] || { echo "!! no manifests under deploy/k8s" >&2; exit 1; }
"$KV" --strict --quiet "${manifests[@]}"

# Every resource and patch a kustomization lists is there.
python3 - <<'PY'
import pathlib, re, sys
bad = []
for k in pathlib.Path("deploy/k8s").rglob("kustomization.yaml"):
    listed, section = [], None
    for line in k.read_text().splitlines():
        m = re.match(r"^(\w+):", line)
        if m:
            section = m.group(1)
            continue
        item = re.match(r"^\s+- (\S+)$", line)
        if item and section in ("resources", "patches", "components"):
            listed.append(item.group(1))
    for entry in listed:
        if not (k.parent / entry).exists():
            bad.append(f"{k}: {entry} does not exist")
if bad:
    print("\n".join(bad), file=sys.stderr)
    sys.exit(1)
PY
echo "deploy/k8s: ${#manifests[@]} manifest files valid"
