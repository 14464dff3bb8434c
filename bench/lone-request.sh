#!/usr/bin/env bash
# Where a lone request's time goes: the mesh of bench/run.sh (synth 784-512-512-10, router on one event loop) at 1
# in flight, against each stage called directly (router → preprocess, inference, postprocess alone) and through the
# router (four hops). The gap between the router's p50 and the sum of the stages' is the router's own share.
# TRACE=1 also records one second of lone requests with `strace -f -tt -T` on the router (bench/out/router.strace,
# deleted by the next run): the syscalls of each request in order, with the waits between them.
# Release build; traffic on 127.0.0.1; bounded by time.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
secs=${SECS:-3}
make_certs router preprocess inference postprocess client
mkdir -p "$work/models/synth/1" bench/out
"$bin/yard" model synth --layers 784,512,512,10 --seed 1 --out "$work/models/synth/1/model.onnx" >/dev/null
cat > "$work/models/synth/config.json" <<'JSON'
{"max_batch_size": 256, "inputs": [{"name": "input", "dtype": "f32", "shape": [-1, 784]}], "warmup": {"batch_sizes": [1, 8, 64]}}
JSON
start inference 7762 --models "$work/models" --threads 2
start preprocess 7764 --models "$work/models"
start postprocess 7763 --models "$work/models"
# the router's heap allocations are counted (bench/malloc-count.c, preloaded; read on SIGUSR2)
cc -O2 -shared -fPIC -o "$work/malloc-count.so" bench/malloc-count.c
LD_PRELOAD="$work/malloc-count.so" MALLOC_COUNT_FILE="$work/allocs" \
  start router 7760 --models "$work/models" --preprocess 127.0.0.1:7764 --inference 127.0.0.1:7762 \
  --postprocess 127.0.0.1:7763 --event-loops 1 ${ROUTER_ARGS:-}
router=${pids[-1]}
allocations() {  # the router's allocation count so far
  kill -USR2 "$router"
  for _ in $(seq 1 50); do [ -s "$work/allocs" ] && break; sleep 0.1; done
  cut -d' ' -f1 "$work/allocs"; rm -f "$work/allocs"
}
as_router=(--ca "$certs/ca.pem" --cert "$certs/router.pem" --key "$certs/router.key")
as_client=(--ca "$certs/ca.pem" --cert "$certs/client.pem" --key "$certs/client.key")
one=(--model synth --input-name input --shape 784 --concurrency 1 --duration "${secs}s" --warmup 1s)
p50() {  # name target method tls...: the p50 of lone requests, in ms
  local name=$1 target=$2 method=$3; shift 3
  "$bin/yard" load --target "$target" "$@" "${one[@]}" --method "$method" --json "$work/$name.json" >/dev/null
  python3 -c "import json; s = json.load(open('$work/$name.json'))['steps'][0]; print('%.3f' % s['latency_ms']['p50'])"
}
pre=$(p50 preprocess 127.0.0.1:7764 preprocess "${as_router[@]}")
inf=$(p50 inference 127.0.0.1:7762 infer "${as_router[@]}")
post=$("$bin/yard" load --target 127.0.0.1:7763 "${as_router[@]}" --model synth --input-name input --shape 10 \
  --concurrency 1 --duration "${secs}s" --warmup 1s --method postprocess --json "$work/post.json" >/dev/null;
  python3 -c "import json; s = json.load(open('$work/post.json'))['steps'][0]; print('%.3f' % s['latency_ms']['p50'])")
ticks() { awk '{print $14 + $15}' "/proc/$router/stat"; }
# what the idle router allocates (health checks, metrics), to take out of the per-request count
idle_allocs=$(allocations); sleep 2; idle_allocs=$(( $(allocations) - idle_allocs ))
before=$(ticks)
allocs_before=$(allocations)
started=$(date +%s.%N)
mesh=$(p50 mesh 127.0.0.1:7760 infer "${as_client[@]}")
elapsed=$(python3 -c "print($(date +%s.%N) - $started)")
allocs_after=$(allocations)
after=$(ticks)
# requests: the measured ones and about as many per second in the 1 s warm-up
count=$(python3 -c "import json; s = json.load(open('$work/mesh.json'))['steps'][0]; print(s['ok'] + s['ok'] / $secs)")
cpu=$(python3 -c "print(round(($after - $before) / $(getconf CLK_TCK) * 1e6 / $count))")
allocs=$(python3 -c "print(round(($allocs_after - $allocs_before - $idle_allocs / 2 * $elapsed) / $count))")
echo "lone p50 (ms): preprocess $pre, inference $inf, postprocess $post (sum $(python3 -c "print('%.3f' % ($pre + $inf + $post))")); four hops through the router $mesh; router CPU ${cpu} µs and ${allocs} heap allocations per lone request; load $(cut -d' ' -f1 /proc/loadavg)"
idle_before=$(ticks); sleep 2; idle_after=$(ticks)
echo "router idle: $(( (idle_after - idle_before) * 1000 / $(getconf CLK_TCK) / 2 )) ms CPU per second"
if [ -n "${PROFILE:-}" ]; then  # the router's CPU during lone requests, into bench/out/router-lone.perf
  "$bin/yard" load --target 127.0.0.1:7760 "${as_client[@]}" "${one[@]/${secs}s/3s}" --method infer >/dev/null &
  loader=$!
  sleep 1.5
  perf record -F 1999 -g -p "$router" -o bench/out/router-lone.perf -- sleep 2 >/dev/null 2>&1 || true
  wait "$loader" || true
fi
if [ -n "${TRACE:-}" ]; then
  "$bin/yard" load --target 127.0.0.1:7760 "${as_client[@]}" "${one[@]/${secs}s/3s}" --method infer >/dev/null &
  loader=$!
  sleep 1.5
  timeout 2 strace -f -tt -T -p "$router" -o bench/out/router.strace 2>/dev/null || true
  wait "$loader" || true
  echo "strace of the router: bench/out/router.strace ($(wc -l < bench/out/router.strace) lines)"
fi
