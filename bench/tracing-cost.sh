#!/usr/bin/env bash
# What request spans cost the router: the mesh of bench/cpu-per-request.sh (synth 784-512-512-10, router → preprocess
# → inference → postprocess, router on one event loop, yard load with 64 in flight for 5 s), started ROUNDS times
# (default 3) in each of three modes, interleaved so that host load hits all alike:
#   off      no OTLP receiver configured (the default: one flag check per request);
#   on       every service exports every request's spans to a real OTLP/HTTP receiver on loopback
#            (Tests/Fixtures/tracing/otlp_receiver.py, decoding each export);
#   sampled0 tracing configured but OTEL_TRACES_SAMPLER=always_off (spans made, none recorded or sent).
# Prints router CPU µs per request answered and the whole mesh's, per run and as the median per mode, with ratios
# against `off` of the same run, and the spans the receiver got. Release build; traffic on 127.0.0.1; bounded by time.
# PYTHON: a Python with opentelemetry-proto (default: .venv from ops/python-env.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
python=${PYTHON:-$(bash ops/python-env.sh | tail -n 1)}
rounds=${ROUNDS:-3}
make_certs router preprocess inference postprocess client
mkdir -p "$work/models/synth/1"
"$bin/yard" model synth --layers 784,512,512,10 --out "$work/models/synth/1/model.onnx" >/dev/null
cat > "$work/models/synth/config.json" <<'JSON'
{"max_batch_size": 256, "inputs": [{"name": "input", "dtype": "f32", "shape": [-1, 784]}], "warmup": {"batch_sizes": [1, 8, 64]}}
JSON
spans=$work/spans.jsonl
"$python" Tests/Fixtures/tracing/otlp_receiver.py "$spans" < <(sleep 86400) > "$work/receiver.out" &
pids+=($!)
for _ in $(seq 1 100); do grep -qs listening "$work/receiver.out" && break; sleep 0.1; done
receiver="http://$(awk '{print $2}' "$work/receiver.out")"
hz=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run() {  # mode: starts the mesh in that mode, loads it, prints "router_us mesh_us requests"
  local mode=$1
  case $mode in
    off) unset OTEL_EXPORTER_OTLP_ENDPOINT OTEL_TRACES_SAMPLER ;;
    on) export OTEL_EXPORTER_OTLP_ENDPOINT=$receiver; unset OTEL_TRACES_SAMPLER ;;
    sampled0) export OTEL_EXPORTER_OTLP_ENDPOINT=$receiver OTEL_TRACES_SAMPLER=always_off ;;
  esac
  local first=${#pids[@]}
  start inference 7962 --models "$work/models" --threads 2
  start preprocess 7964 --models "$work/models"
  start postprocess 7963 --models "$work/models"
  start router 7960 --models "$work/models" --preprocess 127.0.0.1:7964 --inference 127.0.0.1:7962 \
    --postprocess 127.0.0.1:7963 --event-loops 1
  local mesh=("${pids[@]:$first}")
  local load=("$bin/yard" load --target 127.0.0.1:7960 --ca "$certs/ca.pem" --cert "$certs/client.pem"
    --key "$certs/client.key" --model synth --input-name input --shape 784 --connections 2 --concurrency 64)
  "${load[@]}" --duration 2s --warmup 1s >/dev/null
  local before=() after=()
  for pid in "${mesh[@]}"; do before+=($(ticks "$pid")); done
  "${load[@]}" --duration 5s --warmup 0s --json "$work/run.json" >/dev/null
  for pid in "${mesh[@]}"; do after+=($(ticks "$pid")); done
  local ok; ok=$(python3 -c "import json; print(json.load(open('$work/run.json'))['steps'][0]['ok'])")
  local total=0
  for i in 0 1 2 3; do total=$(( total + ${after[$i]} - ${before[$i]} )); done
  echo "$(( (${after[3]} - ${before[3]}) * 1000000 / hz / ok )) $(( total * 1000000 / hz / ok )) $ok"
  for pid in "${mesh[@]}"; do kill -TERM "$pid"; done
  for pid in "${mesh[@]}"; do
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
  pids=("${pids[@]:0:$first}")
  unset OTEL_EXPORTER_OTLP_ENDPOINT OTEL_TRACES_SAMPLER
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A router mesh
for round in $(seq 1 "$rounds"); do
  for mode in off on sampled0; do
    before_spans=$(wc -l < "$spans" 2>/dev/null || echo 0)
    read -r r m n < <(run "$mode")
    after_spans=$(wc -l < "$spans" 2>/dev/null || echo 0)
    router[$mode]+="$r "; mesh[$mode]+="$m "
    echo "round $round $mode: router $r µs CPU/request, mesh $m µs, $n requests, $(( after_spans - before_spans )) spans received, load $(cut -d' ' -f1 /proc/loadavg)"
  done
done
blas=$(grep -o 'blas.core=[A-Za-z0-9]*' "$work"/inference-7962.log | head -1 | cut -d= -f2)
echo "host: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, OpenBLAS core ${blas:-unknown}"
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
off_r=$(echo "${router[off]}" | median); off_m=$(echo "${mesh[off]}" | median)
for mode in off on sampled0; do
  r=$(echo "${router[$mode]}" | median); m=$(echo "${mesh[$mode]}" | median)
  echo "median $mode: router $r µs ($(python3 -c "print(f'{$r / $off_r:.2f}')")× off), mesh $m µs ($(python3 -c "print(f'{$m / $off_m:.2f}')")× off)"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
