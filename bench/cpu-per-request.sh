#!/usr/bin/env bash
# Where the mesh's CPU goes: the synth 784-512-512-10 model behind router → preprocess → inference → postprocess on
# loopback, 64 requests in flight for 5 s (yard load), and each service's CPU time (user + system, from /proc) divided
# by the requests answered, the load client's too, and the batch sizes the router formed. ROUTER_ARGS adds router flags
# (default: --event-loops 1, as bench/run.sh). PROFILE=1 also records the router with `perf record -g` into
# bench/out/router.perf; PERF_ARGS replaces its `-F 1999` (e.g. `-e probe_libc:malloc -e probe_libc:calloc` after
# `perf probe -x <libc> malloc` and `calloc`: where the router allocates). ALLOCS=1 also counts the router's heap
# allocations per request (bench/malloc-count.c, preloaded into the router: malloc, calloc, realloc and the aligned
# forms, read before and after the measured run).
# Release build; traffic on 127.0.0.1; bounded by time.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
make_certs router preprocess inference postprocess client
mkdir -p "$work/models/synth/1" bench/out
"$bin/yard" model synth --layers 784,512,512,10 --out "$work/models/synth/1/model.onnx" >/dev/null
cat > "$work/models/synth/config.json" <<'JSON'
{"max_batch_size": 256, "inputs": [{"name": "input", "dtype": "f32", "shape": [-1, 784]}], "warmup": {"batch_sizes": [1, 8, 64]}}
JSON
start inference 7962 --models "$work/models" --threads 2
start preprocess 7964 --models "$work/models"
start postprocess 7963 --models "$work/models"
if [ -n "${ALLOCS:-}" ]; then
  cc -O2 -shared -fPIC -o "$work/malloc-count.so" bench/malloc-count.c
fi
allocations() {  # the router's allocation count and bytes so far
  kill -USR2 "${pids[3]}"
  for _ in $(seq 1 50); do [ -s "$work/allocs" ] && break; sleep 0.1; done
  cat "$work/allocs"; rm -f "$work/allocs"
}
start_router() {
  start router 7960 --models "$work/models" --preprocess 127.0.0.1:7964 --inference 127.0.0.1:7962 \
    --postprocess 127.0.0.1:7963 --metrics-port 7969 ${ROUTER_ARGS:---event-loops 1}
}
if [ -n "${ALLOCS:-}" ]; then
  LD_PRELOAD="$work/malloc-count.so" MALLOC_COUNT_FILE="$work/allocs" start_router
else
  start_router
fi
load=("$bin/yard" load --target 127.0.0.1:7960 --ca "$certs/ca.pem" --cert "$certs/client.pem" --key "$certs/client.key" --model synth
      --input-name input --shape 784 --connections 2 --concurrency 64)
"${load[@]}" --duration 2s --warmup 1s >/dev/null
ticks() { for pid in "${pids[@]}"; do awk '{print $14 + $15}' "/proc/$pid/stat"; done; }
[ -z "${ALLOCS:-}" ] || allocs_before=($(allocations))
before=($(ticks))
"${load[@]}" --duration 5s --warmup 0s --json "$work/run.json" >"$work/load.out" &
loader=$!
sleep 0.2
client=$(pgrep -n -x yard || true)
client_before=$(awk '{print $14 + $15}' "/proc/$client/stat" 2>/dev/null || echo 0)
if [ -n "${PROFILE:-}" ]; then sleep 0.5; perf record ${PERF_ARGS:--F 1999} -g -p "${pids[3]}" -o bench/out/router.perf -- sleep 3 >/dev/null 2>&1 || true; fi
client_after=$client_before
while kill -0 "$loader" 2>/dev/null; do  # the client's CPU time, read until it exits (to within 0.1 s)
  client_after=$(awk '{print $14 + $15}' "/proc/$client/stat" 2>/dev/null || echo "$client_after")
  sleep 0.1
done
wait $loader || true
after=($(ticks))
[ -z "${ALLOCS:-}" ] || allocs_after=($(allocations))
ok=$(python3 -c "import json; print(json.load(open('$work/run.json'))['steps'][0]['ok'])")
hz=$(getconf CLK_TCK)
echo "requests answered: $ok ($(tail -1 "$work/load.out" | awk '{print $3}') req/s)"
names=(inference preprocess postprocess router)
for i in 0 1 2 3; do
  echo "${names[$i]}: $(( (${after[$i]} - ${before[$i]}) * 1000000 / hz / ok )) µs CPU per request"
done
echo "load client (yard load): about $(( (client_after - client_before) * 1000000 / hz / ok )) µs CPU per request (0.2 s to the end)"
curl -s 127.0.0.1:7969/metrics | awk -F'[{}" ]+' '/^switchyard_batch_size_(sum|count)/ { v[$5, $1] = $NF }
  END { for (k in v) { split(k, p, SUBSEP); if (p[2] ~ /count/) printf "%s batches: %.1f rows each\n", p[1], v[p[1], "switchyard_batch_size_sum"] / v[k] } }' | sort
if [ -n "${ALLOCS:-}" ]; then
  echo "router: $(( (${allocs_after[0]} - ${allocs_before[0]}) / ok )) heap allocations per request ($(( (${allocs_after[1]} - ${allocs_before[1]}) / ok )) bytes)"
fi
