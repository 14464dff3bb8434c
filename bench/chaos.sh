#!/usr/bin/env bash
# Reliability scenarios against a real mesh on loopback (two instances of every stage, mutual TLS, the digits model),
# each under a closed-loop `yard load` that tallies every request: a rolling restart of every stage with SIGTERM, a
# SIGKILLed inference instance, a SIGSTOPped one for 8 s with 1 s deadlines, and wrong identities (certificates
# calling what their role may not, a foreign CA's) beside legitimate traffic. Appends a table to
# bench/RESULTS-reliability.md (or the file given by RESULTS=...).
#
#   bench/chaos.sh [BIN_DIR]   # default: the release build if there is one, else the debug build
#
# Every process it starts is stopped on exit; every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-}
if [ -z "$bin" ]; then
  bin=$(swift build -c release --show-bin-path 2>/dev/null)
  [ -x "$bin/switchyard-router" ] || bin=$(swift build --show-bin-path)
fi
for product in switchyard-router switchyard-preprocess switchyard-inference switchyard-postprocess switchyard-monitor yard; do
  [ -x "$bin/$product" ] || { echo "chaos: $bin/$product is missing; build first" >&2; exit 1; }
done
results=${RESULTS:-bench/RESULTS-reliability.md}
certs=ops/certs/out
[ -f "$certs/readonly.pem" ] || bash ops/certs/make-certs.sh "$certs" >/dev/null  # readonly.pem: certificates with roles
tls() { echo --ca "$certs/ca.pem" --cert "$certs/$1.pem" --key "$certs/$1.key"; }
logs=$(mktemp -d -t switchyard-chaos.XXXXXX)
declare -A pid port
cleanup() {
  for name in "${!pid[@]}"; do kill -CONT "${pid[$name]}" 2>/dev/null || true; kill -KILL "${pid[$name]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
start() {  # name product: start (or restart, on the same port) and wait, bounded, until it listens
  local name=$1 product=$2 extra=("${@:3}")
  [ -n "${port[$name]:-}" ] || port[$name]=$(free_port)
  touch "$logs/$name.log"
  local from
  from=$(wc -l <"$logs/$name.log")  # a restart appends to the log: look for its own "listening"
  "$bin/$product" --port "${port[$name]}" --models models $(tls "${product#switchyard-}") "${extra[@]}" \
    >>"$logs/$name.log" 2>&1 &
  pid[$name]=$!
  for _ in $(seq 1 300); do
    tail -n +"$((from + 1))" "$logs/$name.log" | grep -q listening && return
    kill -0 "${pid[$name]}" 2>/dev/null || break
    sleep 0.1
  done
  echo "chaos: $name did not start; its log:" >&2
  cat "$logs/$name.log" >&2
  exit 1
}
stop_wait() {  # name: wait (bounded) for its process to exit
  for _ in $(seq 1 600); do kill -0 "${pid[$1]}" 2>/dev/null || { wait "${pid[$1]}" 2>/dev/null || true; return; }; sleep 0.1; done
  echo "chaos: $1 did not exit within 60 s" >&2
  kill -KILL "${pid[$1]}" 2>/dev/null || true
}
stages=(pre1 pre2 inf1 inf2 post1 post2)
product_of() { case $1 in pre*) echo switchyard-preprocess ;; inf*) echo switchyard-inference ;; post*) echo switchyard-postprocess ;; esac; }
for name in "${stages[@]}"; do start "$name" "$(product_of "$name")"; done
list() { local out=""; for name in "$@"; do out+="${out:+,}127.0.0.1:${port[$name]}"; done; echo "$out"; }
start router switchyard-router --preprocess "$(list pre1 pre2)" --inference "$(list inf1 inf2)" \
  --postprocess "$(list post1 post2)" --health-check-interval-ms 200

load() {  # json duration timeout: closed loop, 16 in flight, one digits row per request
  "$bin/yard" load --target "127.0.0.1:${port[router]}" $(tls client) --model digits \
    --input Tests/Fixtures/engine/digits/x_test.npy --concurrency 16 --warmup 1s --duration "$2" --timeout "$3" \
    --json "$1" >"$1.txt" 2>&1
}
summary() {  # scenario json: one table row
  python3 - "$1" "$2" <<'EOF'
import json, sys
scenario, path = sys.argv[1], sys.argv[2]
step = json.load(open(path))["steps"][0]
errors = "; ".join(f"{e.get('source', 'server')} {e['status']}: {e['count']}" for e in step["errors"]) or "none"
latency = step.get("latency_ms", {})
print(f"| {scenario} | {step['sent']} | {step['ok']} | {step['sent'] - step['ok']} | {step.get('retries', 0)} "
      f"| {latency.get('p99', 0):.1f} | {latency.get('p999', 0):.1f} | {latency.get('max', 0):.1f} | {errors} |")
EOF
}
rows=()

# rolling restart: every stage instance in turn gets SIGTERM (drain, exit) and comes back on its port
load "$logs/rolling.json" 40s 5s &
loader=$!
sleep 4
for name in "${stages[@]}"; do
  kill -TERM "${pid[$name]}"
  stop_wait "$name"
  start "$name" "$(product_of "$name")"
  sleep 2
done
wait $loader || true
rows+=("$(summary "rolling restart of all 6 stage instances (SIGTERM), 5 s deadlines" "$logs/rolling.json")")

# SIGKILL: one inference instance dies under load, comes back 4 s later
load "$logs/sigkill.json" 15s 5s &
loader=$!
sleep 4
kill -KILL "${pid[inf2]}"
stop_wait inf2
sleep 4
start inf2 switchyard-inference
wait $loader || true
rows+=("$(summary "SIGKILL of one of two inference instances, 5 s deadlines" "$logs/sigkill.json")")

# SIGSTOP: one inference instance hangs for 8 s under load with 1 s deadlines
load "$logs/sigstop.json" 15s 1s &
loader=$!
sleep 4
kill -STOP "${pid[inf2]}"
sleep 8
kill -CONT "${pid[inf2]}"
wait $loader || true
rows+=("$(summary "SIGSTOP of one of two inference instances for 8 s, 1 s deadlines" "$logs/sigstop.json")")

# wrong identities: beside legitimate app traffic, certificates call what their role may not, and a foreign CA's
# admin certificate calls the router; every attempt must be refused (permission denied, or no TLS), the legitimate
# traffic must not notice, and every service must answer health afterwards
start monitor switchyard-monitor --http-port 0 --exposition-port 0
bash ops/certs/make-certs.sh "$logs/foreign" intruder:admin >/dev/null
attempt() {  # label target method cert-dir cert-name: 400 calls, 4 in flight, tallied
  "$bin/yard" load --target "127.0.0.1:${port[$2]}" --method "$3" --model digits \
    --input Tests/Fixtures/engine/digits/x_test.npy --ca "$certs/ca.pem" --cert "$4/$5.pem" --key "$4/$5.key" \
    --concurrency 4 --requests 400 --warmup 0 --timeout 5s --json "$logs/identity-$1.json" >"$logs/identity-$1.txt" 2>&1 || true
  rows+=("$(summary "wrong identity: $1" "$logs/identity-$1.json")")
}
load "$logs/identities.json" 20s 5s &
loader=$!
sleep 3
attempt "app → inference infer" inf1 infer "$certs" client
attempt "app → preprocess preprocess" pre1 preprocess "$certs" client
attempt "app → monitor report" monitor report "$certs" client
attempt "readonly → router batching.set" router batching.set "$certs" readonly
attempt "router → router rollout.abort" router rollout.abort "$certs" router
attempt "reporter (echo) → router infer" router infer "$certs" echo
attempt "foreign CA's admin → router infer" router infer "$logs/foreign" intruder
wait $loader || true
rows+=("$(summary "legitimate app traffic during the wrong-identity attempts, 5 s deadlines" "$logs/identities.json")")
unhealthy=""
for name in "${stages[@]}" router monitor; do
  "$bin/yard" load --target "127.0.0.1:${port[$name]}" --method health --shape 1 --requests 3 --concurrency 1 \
    --warmup 0 $(tls readonly) --json "$logs/health-$name.json" >/dev/null 2>&1 || true
  python3 -c 'import json, sys; s = json.load(open(sys.argv[1]))["steps"][0]; sys.exit(s["ok"] != s["sent"])' \
    "$logs/health-$name.json" 2>/dev/null || unhealthy+=" $name"
done
denied=$(cat "$logs"/{pre,inf,post}*.log "$logs"/router.log "$logs"/monitor.log | grep -c 'request refused: permission denied' || true)

{
  echo
  echo "### Run of $(date -u +%Y-%m-%dT%H:%MZ) ($(basename "$(dirname "$bin")")/$(basename "$bin") binaries)"
  echo
  blas=$(grep -o 'blas.core=[A-Za-z0-9]*' "$logs/inf1.log" | head -1 | cut -d= -f2)
  echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, OpenBLAS core ${blas:-unknown}; load average at"
  echo "the end: $(cut -d' ' -f1-3 /proc/loadavg) (other engineers' builds share the machine)."
  echo "Closed loop, 16 in flight, one digits row per request, \`yard load --retries 3\` (the default)."
  echo "Stage logs: $(cat "$logs"/{pre,inf,post}*.log | grep -c ' draining') drains, $(cat "$logs"/{pre,inf,post}*.log | grep -c ' listening') starts."
  echo "Wrong identities: $denied refusals logged (the first of each kind per service, then one in a thousand);"
  echo "health afterwards: ${unhealthy:+NOT answered by$unhealthy}${unhealthy:-every stage instance, the router and the monitor answered}."
  echo
  echo "| scenario | sent | ok | failed | client retries | p99 ms | p99.9 ms | max ms | errors |"
  echo "|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} | tee -a "$results"
