#!/usr/bin/env bash
# The demo: installs what is missing, builds in release mode, makes development certificates, starts the mesh
# (router, preprocess, inference, postprocess) on loopback with mutual TLS and the bundled digits model, all reporting
# to the monitor (dashboard at https://127.0.0.1:7406/#token=...), and sends the digits test split through the router with the
# load client (`yard load`): accuracy (equal to the engine run offline), throughput and latency. Serves until Ctrl-C;
# `--exit` stops after the run.
set -euo pipefail
cd "$(dirname "$0")/.."
exit_after=false
for arg in "$@"; do
  case "$arg" in
    --exit) exit_after=true ;;
    *) echo "usage: ops/demo.sh [--exit]" >&2; exit 2 ;;
  esac
done
bash ops/setup.sh
echo "demo: building (release; the first build takes several minutes)..."
swift build -c release >/dev/null
bin=$(swift build -c release --show-bin-path)
certs=ops/certs/out
[ -f "$certs/readonly.pem" ] || bash ops/certs/make-certs.sh "$certs" >/dev/null  # readonly.pem: certificates with roles
port_of() { sed -n 's/^port: *//p' "ops/demo/$1.yaml"; }
ROUTER_PORT=$(port_of router)
logs=$(mktemp -d -t switchyard-demo.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
start() {  # name: start a service from ops/demo/NAME.yaml and wait (bounded) until it listens
  local name=$1 port
  port=$(port_of "$name")
  "$bin/switchyard-$name" --config "ops/demo/$name.yaml" >"$logs/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 150); do
    grep -q listening "$logs/$name.log" && { echo "demo: $name listening on 127.0.0.1:$port"; return; }
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  echo "demo: $name did not start; its log:" >&2
  cat "$logs/$name.log" >&2
  exit 1
}
split=Tests/Fixtures/engine/digits
# the drift reference: the repository has no training split of the digits model, so the demo profiles the test split
[ -f models/digits/1/profile.json ] || "$bin/yard" profile --model models/digits/1 --data "$split/x_test.npy"
# the dashboard's bearer token (kept with the development certificates, never committed)
[ -s "$certs/dashboard.tokens" ] || (umask 077 && openssl rand -hex 24 > "$certs/dashboard.tokens")
start monitor
monitor_port() { sed -n "s/^$1: *\([0-9]*\).*/\1/p" ops/demo/monitor.yaml; }
DASHBOARD="https://127.0.0.1:$(monitor_port http-port)/#token=$(head -n 1 "$certs/dashboard.tokens")"
echo "demo: dashboard at $DASHBOARD (trust $certs/ca.pem, or accept the warning);" \
  "Prometheus metrics at http://127.0.0.1:$(monitor_port exposition-port)/metrics"
start inference
start preprocess
start postprocess
start router
client=(--target "127.0.0.1:$ROUTER_PORT" --ca "$certs/ca.pem" --cert "$certs/client.pem" --key "$certs/client.key")
rows=(--model digits --input "$split/x_test.npy" --output-name label --requests 450 --warmup 0)
echo
echo "== the digits test split through the router, one row per request, 1 in flight; accuracy against the labels =="
"$bin/yard" load "${client[@]}" "${rows[@]}" --validate "$split/y_test.npy" --concurrency 1
echo
echo "== the same rows through the engine in this process (the offline answer) =="
"$bin/yard" load --engine models/digits "${rows[@]}" --validate "$split/y_test.npy" --concurrency 1
echo
echo "== 64 in flight (the router batches toward every stage); answers against the offline engine's =="
"$bin/yard" predict --model models/digits --input "$split/x_test.npy" --output "$logs/offline-labels.npy" >/dev/null
"$bin/yard" load "${client[@]}" "${rows[@]}" --validate "$logs/offline-labels.npy" --concurrency 64
echo
echo "logs: $logs"
echo "dashboard: $DASHBOARD"
if $exit_after; then
  exit 0
fi
HTTP_PORT=$(sed -n 's/^http-port: *//p' ops/demo/router.yaml)
echo "demo: the mesh serves on 127.0.0.1:$ROUTER_PORT (wire) and http://127.0.0.1:$HTTP_PORT/v2 (HTTP) until Ctrl-C. Try:"
echo "  $bin/yard load ${client[*]} --model digits --input $split/x_test.npy --concurrency 1,4,16,64 --duration 5s"
echo "  curl -s http://127.0.0.1:$HTTP_PORT/v2/models/digits"
wait
