#!/usr/bin/env bash
# The router's HTTP port against its wire port, alone (the gateway part of bench/run.sh, quicker and repeatable):
# the synth 784-512-512-10 mesh on loopback, then ROUNDS rounds of, in turn, the native wire protocol (yard load),
# HTTP/2 (h2load) and HTTP/1.1 (wrk) with binary tensors and with JSON tensors, 64 in flight, SECS seconds each.
# For every run: req/s, its ratio to the native run of the same round, and CPU per request (user + system, from
# /proc) of the router, of the load client and of the whole machine (/proc/stat), requests counted by the router's
# switchyard_requests_total. Prints a table per round and the best round's ratios (the quietest moment).
# PROFILE=kind (native, h2-binary, h1-binary, h2-json, h1-json) records the router with `perf record -g` during that
# run of the first round into bench/out/router-<kind>.perf.
# ROUTER_B=path: a second router binary (e.g. a build before a change) beside the built one, on the same stages; every
# run is made against both in turn (the order alternating by round), so that a change is measured at the same moments
# of the machine's load.
# Release build; traffic on 127.0.0.1; every run bounded by time.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${SECS:-4}
rounds=${ROUNDS:-2}
for tool in h2load:nghttp2-client wrk:wrk; do
  command -v "${tool%%:*}" >/dev/null && continue
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${tool##*:}" >/dev/null
done
. bench/lib.sh
mkdir -p bench/out
make_certs router preprocess inference postprocess client
mkdir -p "$work/models/synth/1"
"$bin/yard" model synth --layers 784,512,512,10 --seed 1 --out "$work/models/synth/1/model.onnx" >/dev/null
cat > "$work/models/synth/config.json" <<'JSON'
{"max_batch_size": 256, "inputs": [{"name": "input", "dtype": "f32", "shape": [-1, 784]}],
 "warmup": {"batch_sizes": [1, 8, 64]}}
JSON
token=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
echo "$token" > "$work/tokens"
start inference 7862 --models "$work/models" --threads 2
start preprocess 7864 --models "$work/models"
start postprocess 7863 --models "$work/models"
declare -A router_pid port
start_router() {  # variant first-port: wire port, +10 HTTP, +9 metrics
  start router "$2" --models "$work/models" --preprocess 127.0.0.1:7864 --inference 127.0.0.1:7862 \
    --postprocess 127.0.0.1:7863 --event-loops 1 --http-port $(($2 + 10)) --http-tokens "$work/tokens" \
    --metrics-port $(($2 + 9))
  router_pid[$1]=${pids[-1]}
  port[$1]=$2
}
start_router A 7860
variants=(A)
if [ -n "${ROUTER_B:-}" ]; then
  mkdir -p "$work/b" && ln -s "$(realpath "$ROUTER_B")" "$work/b/switchyard-router"
  built=$bin bin=$work/b
  start_router B 7880
  bin=$built
  variants=(A B)
fi

gateway_bodies "$token"
auth=(-H "authorization: Bearer $token")
h2binary=(-d "$work/binary.body" -H "content-type: application/octet-stream" -H "inference-header-content-length: $hlen")
h2json=(-d "$work/json.body" -H "content-type: application/json")
native=("$bin/yard" load --ca "$certs/ca.pem" --cert "$certs/client.pem" --key "$certs/client.key"
        --model synth --input-name input --shape 784 --connections 2)
run() {  # kind seconds variant
  local url=https://127.0.0.1:$((port[$3] + 10))/v2/models/synth/infer
  case $1 in
    native) "${native[@]}" --target "127.0.0.1:${port[$3]}" --concurrency 64 --duration "${2}s" --warmup 0s ;;
    h2-binary) h2load -t 1 -c 2 -m 32 -D "$2" "${auth[@]}" "${h2binary[@]}" "$url" ;;
    h2-json) h2load -t 1 -c 2 -m 32 -D "$2" "${auth[@]}" "${h2json[@]}" "$url" ;;
    h1-binary) wrk -t 1 -c 64 -d "${2}s" -s "$work/binary.lua" "$url" ;;
    h1-json) wrk -t 1 -c 64 -d "${2}s" -s "$work/json.lua" "$url" ;;
  esac
}
requests() { curl -s "127.0.0.1:$((port[$1] + 9))/metrics" | awk '/^switchyard_requests_total/ && /service="router"/ { n += $NF } END { printf "%d", n }'; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
machine() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }  # user nice system irq softirq
hz=$(getconf CLK_TCK)
kinds=(native h2-binary h1-binary h2-json h1-json)
for variant in "${variants[@]}"; do  # warm-up: connections, batchers, caches
  for kind in "${kinds[@]}"; do run "$kind" 1 "$variant" >/dev/null 2>&1 || true; done
done
echo "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(nproc) cores;" \
  "OpenBLAS $(dpkg-query -W -f '${Version}' libopenblas0-pthread 2>/dev/null || echo '?')" \
  "($(grep -m1 -o 'blas.core[=": ]*[A-Za-z0-9]*' "$work"/inference-*.log || echo 'blas.core ?'))"
printf '%-5s %-10s %-7s %8s %6s %12s %12s %13s %8s\n' round client router req/s ratio "router µs" "client µs" \
  "machine µs" load
for round in $(seq 1 "$rounds"); do
  order=("${variants[@]}")
  [ $((round % 2)) = 1 ] || order=($(printf '%s\n' "${variants[@]}" | tac))
  for kind in "${kinds[@]}"; do
   for variant in "${order[@]}"; do
    router=${router_pid[$variant]}
    r0=$(requests "$variant"); t0=$(ticks "$router"); m0=$(machine)
    run "$kind" "$secs" "$variant" > "$work/$kind.out" 2>&1 &
    loader=$!
    sleep 0.1
    client=$loader  # the load tool: the background job itself, or its child
    grep -qxE 'yard|h2load|wrk' "/proc/$loader/comm" 2>/dev/null || client=$(pgrep -n -P "$loader" || echo 0)
    c0=$(ticks "${client:-0}"); c1=$c0
    if [ "$round" = 1 ] && [ "${PROFILE:-}" = "$kind" ]; then
      perf record -F 999 -g -p "$router" -o "bench/out/router-$kind.perf" -- sleep $((secs - 1)) >/dev/null 2>&1 || true
    fi
    while kill -0 "$loader" 2>/dev/null; do c1=$(ticks "${client:-0}"); sleep 0.1; done
    wait "$loader" || true
    r1=$(requests "$variant"); t1=$(ticks "$router"); m1=$(machine)
    n=$((r1 - r0)); [ "$n" -gt 0 ] || n=1
    cost=$(( (t1 - t0) * 1000000 / hz / n ))
    rate=$(awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.0f", n / s }')
    [ "$kind" = native ] && declare "base_$variant=$rate"
    base="base_$variant"
    echo "$round $kind $variant $rate $cost" >> "$work/rows"
    printf '%-5s %-10s %-7s %8s %6s %12s %12s %13s %8s\n' "$round" "$kind" "$variant" "$rate" \
      "$(awk -v a="$rate" -v b="${!base}" 'BEGIN { printf "%.2f", a / b }')" \
      "$cost" "$( [ "$c1" -gt "$c0" ] && echo $(( (c1 - c0) * 1000000 / hz / n )) || echo '?')" \
      "$(( (m1 - m0) * 1000000 / hz / n ))" "$(cut -d' ' -f1 /proc/loadavg)"
   done
  done
done
python3 - "$work/rows" "${ROUTER_B:+B = $ROUTER_B}" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
print("median over rounds: router CPU per request, and req/s against the same round's native run of the same router"
      + (f"; A = the build, {sys.argv[2]}" if sys.argv[2] else ""))
for variant in dict.fromkeys(r[2] for r in rows):
    mine = [r for r in rows if r[2] == variant]
    native = {r[0]: float(r[3]) for r in mine if r[1] == "native"}
    cpu = {}
    for kind in dict.fromkeys(r[1] for r in mine):
        runs = [r for r in mine if r[1] == kind]
        cpu[kind] = statistics.median(float(r[4]) for r in runs)
        ratio = statistics.median(float(r[3]) / native[r[0]] for r in runs)
        best = max(float(r[3]) / native[r[0]] for r in runs)
        print(f"{variant} {kind:10s} router {cpu[kind]:5.0f} µs ({cpu[kind] / cpu['native']:.2f}× native)"
              f"  req/s vs native: median {ratio:.2f}×, best round {best:.2f}×")
PY
