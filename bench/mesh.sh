#!/usr/bin/env bash
# The mesh benchmark (issue 4): the synth 784-512-512-10 MLP behind the full chain router → preprocess →
# inference → postprocess on loopback, mutual TLS on every hop, one 784-float row per request.
#   - 64 in flight with the router's batching on, and off (--max-batch-size 1), in the same run;
#   - the engine in-process, one row at a time, on the same rows (the no-network baseline);
#   - p50 at 1 in flight; p99 at 64 in flight; the router's memory with 1,024 in flight.
# Writes bench/RESULTS-mesh.md. Needs a release build (swift build -c release). Every load is bounded by a
# row count; traffic stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${ROWS:-4096}
bin=$(swift build -c release --show-bin-path)
for tool in yard switchyard-router switchyard-inference switchyard-preprocess switchyard-postprocess; do
  [ -x "$bin/$tool" ] || { echo "bench/mesh.sh: build first: swift build -c release" >&2; exit 1; }
done
work=$(mktemp -d -t switchyard-mesh.XXXXXX)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
certs=$work/certs
bash ops/certs/make-certs.sh "$certs" router preprocess inference postprocess client >/dev/null
mkdir -p "$work/models/synth/1"
"$bin/yard" model synth --layers 784,512,512,10 --out "$work/models/synth/1/model.onnx" >/dev/null
cat > "$work/models/synth/config.json" <<'JSON'
{"max_batch_size": 256, "inputs": [{"name": "input", "dtype": "f32", "shape": [-1, 784]}],
 "warmup": {"batch_sizes": [1, 8, 64]}}
JSON
start() {  # name port args... (waits, bounded, for the listening line)
  local name=$1 port=$2; shift 2
  "$bin/switchyard-$name" --host 127.0.0.1 --port "$port" --ca "$certs/ca.pem" --cert "$certs/$name.pem" \
    --key "$certs/$name.key" "$@" >"$work/$name-$port.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 200); do
    grep -q listening "$work/$name-$port.log" && return
    sleep 0.1
  done
  echo "bench/mesh.sh: $name did not start" >&2; cat "$work/$name-$port.log" >&2; exit 1
}
start inference 7502 --models "$work/models" --threads 2
start preprocess 7504 --models "$work/models"
start postprocess 7503 --models "$work/models"
stages=(--preprocess 127.0.0.1:7504 --inference 127.0.0.1:7502 --postprocess 127.0.0.1:7503)
start router 7500 --models "$work/models" "${stages[@]}"                         # batching on
router_on=${pids[-1]}
start router 7510 --models "$work/models" "${stages[@]}" --max-batch-size 1      # batching off
client=(--ca "$certs/ca.pem" --cert "$certs/client.pem" --key "$certs/client.key" --model synth --input-name input
        --output-name probabilities --summary)
run() { "$bin/yard" infer "${client[@]}" "$@" | tee -a "$work/runs.log" | grep '^result' ; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
echo "bench/mesh.sh: warming up" >&2
run --target 127.0.0.1:7500 --input "random:512,784" --concurrency 64 >/dev/null
run --target 127.0.0.1:7510 --input "random:512,784" --concurrency 64 >/dev/null
echo "bench/mesh.sh: 64 in flight, batching on / off, and the in-process baseline" >&2
on=$(run --target 127.0.0.1:7500 --input "random:$rows,784" --concurrency 64 --offline "$work/models/synth/1/model.onnx" --baseline)
off=$(run --target 127.0.0.1:7510 --input "random:$rows,784" --concurrency 64)
echo "bench/mesh.sh: 1 in flight" >&2
one=$(run --target 127.0.0.1:7500 --input "random:1000,784" --concurrency 1)
echo "bench/mesh.sh: 1,024 in flight (router memory)" >&2
before=$(awk '/VmRSS/ {print $2}' "/proc/$router_on/status")
many=$(run --target 127.0.0.1:7500 --input "random:$((rows * 2)),784" --concurrency 1024 --timeout-ms 30000)
peak=$(awk '/VmHWM/ {print $2}' "/proc/$router_on/status")
on_rate=$(field rows_per_s "$on"); off_rate=$(field rows_per_s "$off"); base=$(field baseline_rows_per_s "$on")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
cat > bench/RESULTS-mesh.md <<MD
# Mesh benchmark (issue 4)

Command: \`swift build -c release && bench/mesh.sh\` (ROWS=$rows). Measured $(date -u +%Y-%m-%d) on $(nproc) cores
($(uname -m)), all processes on one machine: four services, the load client and, for the baseline, the engine.
Synth MLP 784-512-512-10 (\`yard model synth\`, seed 1); one f32 row of 784 per request; mutual TLS on every hop;
the inference service with 2 compute threads and 1 OpenBLAS thread each.

| measurement | result |
|---|---|
| 64 in flight, batching on | $on_rate rows/s, p50 $(field p50_ms "$on") ms, p99 $(field p99_ms "$on") ms |
| 64 in flight, batching off (\`--max-batch-size 1\`) | $off_rate rows/s, p50 $(field p50_ms "$off") ms, p99 $(field p99_ms "$off") ms |
| batching on / off | **$(ratio "$on_rate" "$off_rate")×** (target ≥ 4×) |
| engine in-process, one row at a time (same rows, same run) | $base rows/s |
| mesh with batching / in-process engine | **$(ratio "$on_rate" "$base")×** (target ≥ 0.5×) |
| 1 in flight, four hops | p50 **$(field p50_ms "$one") ms** (target ≤ 1.0 ms), p99 $(field p99_ms "$one") ms |
| 1,024 in flight | $(field rows_per_s "$many") rows/s, p99 $(field p99_ms "$many") ms, $(field failed "$many") failed |
| router memory | $((before / 1024)) MiB resident before the 1,024-in-flight run, peak $((peak / 1024)) MiB |

Full output of every run: kept in the run's temporary folder (\`runs.log\`); the lines above are its \`result\` lines.
MD
cat bench/RESULTS-mesh.md
