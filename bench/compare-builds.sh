#!/usr/bin/env bash
# The router and transport numbers of issue 17 for two release builds, side by side in one session:
#   bench/compare-builds.sh BEFORE_BIN AFTER_BIN [ROUNDS]
# Each round runs, for each build in turn (before, after, before, after, ... so that load on the machine falls on
# both): the wire echo vs bare TLS (switchyard-bench wire), the mesh of bench/run.sh (synth 784-512-512-10, router
# on one event loop) at 1 and 64 in flight with batching on, 64 in flight with batching off, the engine in-process
# one row at a time (yard load --engine), the router's peak memory over a run at 1,024 in flight, and
# bench/cpu-per-request.sh with ALLOCS=1 (router CPU and heap allocations per request at 64 in flight).
# Prints one line per build and round; raw JSON goes to bench/out/compare/. Traffic on 127.0.0.1; bounded by time.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: $0 BEFORE_BIN AFTER_BIN [ROUNDS]" >&2; exit 2; }
builds=("$1" "$2")
rounds=${3:-2}
secs=${SECS:-3}
out=bench/out/compare
mkdir -p "$out"
ulimit -n 8192 2>/dev/null || true
summary() {  # label dir: one line of the numbers
  python3 - "$1" "$2" <<'PY'
import json, sys
label, d = sys.argv[1], sys.argv[2]
def steps(name): return json.load(open(f"{d}/{name}.json"))["steps"]
wire = json.load(open(f"{d}/wire.json"))
one = next(r for r in wire if r["connections"] == 1 and r["in_flight"] == 1)
busy = next((r for r in wire if r["connections"] == 1 and r["in_flight"] == 64), None)
on = {s["concurrency"]: s for s in steps("mesh-on")}
off = steps("mesh-off")[0]
engine = steps("engine")[0]
cpu = open(f"{d}/cpu.txt").read()
router_cpu = next(l for l in cpu.splitlines() if l.startswith("router:") and "CPU" in l).split()[1]
allocs = next((l.split()[1] for l in cpu.splitlines() if "allocations" in l), "?")
rss = open(f"{d}/rss.txt").read().split()
print(f"{label}: mesh64 {on[64]['rows_per_s']:.0f} rows/s = {on[64]['rows_per_s'] / engine['rows_per_s']:.2f}x engine "
      f"({engine['rows_per_s']:.0f}); on/off {on[64]['rows_per_s'] / off['rows_per_s']:.2f}x (off {off['rows_per_s']:.0f}); "
      f"lone p50 {on[1]['latency_ms']['p50']:.3f} ms; wire p50 {one['ours_p50_us']:.0f}/{one['bare_p50_us']:.0f} us = "
      f"{one['ours_p50_us'] / one['bare_p50_us']:.2f}x"
      + (f", 1-conn x64 {busy['ours_rps'] / busy['bare_rps']:.2f}x" if busy else "")
      + f"; router {router_cpu} us CPU/req, {allocs} allocs/req; RSS at 1024: {int(rss[1]) // 1024} MiB peak")
PY
}
run_one() {  # bin dir
  local bin=$1 dir=$2
  mkdir -p "$dir"
  "$bin/switchyard-bench" wire --seconds "$secs" --warmup 1 --rounds 1 --json "$dir/wire.json" >/dev/null
  (
    export SKIP_BUILD=1 BIN=$bin
    . bench/lib.sh
    make_certs router preprocess inference postprocess client
    mkdir -p "$work/models/synth/1"
    "$bin/yard" model synth --layers 784,512,512,10 --seed 1 --out "$work/models/synth/1/model.onnx" >/dev/null
    echo '{"max_batch_size": 256, "inputs": [{"name": "input", "dtype": "f32", "shape": [-1, 784]}],
      "warmup": {"batch_sizes": [1, 8, 64]}}' > "$work/models/synth/config.json"
    start inference 7702 --models "$work/models" --threads 2
    start preprocess 7704 --models "$work/models"
    start postprocess 7703 --models "$work/models"
    stages=(--preprocess 127.0.0.1:7704 --inference 127.0.0.1:7702 --postprocess 127.0.0.1:7703)
    start router 7700 --models "$work/models" "${stages[@]}" --event-loops 1
    on=${pids[-1]}
    start router 7710 --models "$work/models" "${stages[@]}" --event-loops 1 --max-batch-size 1 --max-batches-in-flight 64
    tls=(--ca "$certs/ca.pem" --cert "$certs/client.pem" --key "$certs/client.key")
    synth=(--model synth --input-name input --shape 784 --connections 2)
    each=(--duration "${secs}s" --warmup 1s)
    "$bin/yard" load --engine "$work/models/synth" "${synth[@]}" --concurrency 1 "${each[@]}" --json "$dir/engine.json" >/dev/null
    "$bin/yard" load --target 127.0.0.1:7700 "${tls[@]}" "${synth[@]}" --concurrency 1,64 "${each[@]}" --json "$dir/mesh-on.json" >/dev/null
    "$bin/yard" load --target 127.0.0.1:7710 "${tls[@]}" "${synth[@]}" --concurrency 64 "${each[@]}" --json "$dir/mesh-off.json" >/dev/null
    "$bin/yard" load --target 127.0.0.1:7700 "${tls[@]}" "${synth[@]}" --concurrency 1024 --timeout 30s "${each[@]}" --json "$dir/mesh-1024.json" >/dev/null || true
    echo "$(awk '/VmRSS/ {print $2}' "/proc/$on/status") $(awk '/VmHWM/ {print $2}' "/proc/$on/status")" > "$dir/rss.txt"
  )
  SKIP_BUILD=1 BIN=$bin ALLOCS=1 bash bench/cpu-per-request.sh > "$dir/cpu.txt"
}
for round in $(seq 1 "$rounds"); do
  for index in 0 1; do
    label=$([ "$index" -eq 0 ] && echo before || echo after)
    dir=$out/$label-$round
    echo "compare: round $round, $label ($(cut -d' ' -f1-3 /proc/loadavg) load)" >&2
    run_one "${builds[$index]}" "$dir"
    summary "$label (round $round, load $(cut -d' ' -f1 /proc/loadavg))" "$dir"
  done
done
