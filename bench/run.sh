#!/usr/bin/env bash
# The benchmark suite in one command. Builds in release mode, then measures, each against a baseline in the same run:
#   1. the wire protocol's echo RPC vs a bare TLS echo (switchyard-bench wire);
#   2. the engine vs bare cblas_sgemm of the same shapes (switchyard-bench-engine);
#   3. per hop: yard load against the echo service and against the inference service directly;
#   4. the mesh end to end (router → preprocess → inference → postprocess, synth 784-512-512-10) vs the engine
#      in-process, batching on vs off, and router memory at 1,024 in flight;
#   5. latency against throughput: open-loop rate sweeps (yard load --rate) with batching on and off;
#   6. the Python client (clients/python) against the echo service vs the Swift client (bench/python-client.sh).
# Writes bench/RESULTS.md and bench/latency-throughput.svg (switchyard-bench report); raw JSON stays in bench/out/.
# Traffic stays on 127.0.0.1; every load is bounded by time; every wait for a service is bounded.
# QUICK=1 shortens every measurement (a smoke run, not for publishing).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${QUICK:+1}; secs=${secs:-3}
warm=${QUICK:+0.5}; warm=${warm:-1}
out=bench/out
mkdir -p "$out"
rm -f "$out"/*.json "$out"/commands.txt
echo "bench: building (release)..." >&2
for tool in h2load:nghttp2-client wrk:wrk python3:python3; do  # the HTTP load tools (Debian packages)
  command -v "${tool%%:*}" >/dev/null && continue
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${tool##*:}" >/dev/null
done
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)"  # 1,000 held connections on both ends
. bench/lib.sh
log() {  # runs a command and records it (with the paths as written) for RESULTS.md
  local line="$*"
  line=${line//$bin/\$bin}; line=${line//$work/\$work}; line=${line//$out/\$out}
  [ -z "${token:-}" ] || line=${line//$token/\$token}
  echo "$line" >> "$out/commands.txt"
  echo "bench: $line" >&2
  "$@"
}
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u +"%Y-%m-%d %H:%M UTC")

# 1. Wire protocol vs bare TLS (in one process), alternating short rounds.
log "$bin/switchyard-bench" wire --seconds "$secs" --warmup "$warm" --rounds 2 --json "$out/wire.json" >/dev/null
# 2. Engine vs bare sgemm, one OpenBLAS thread.
log "$bin/switchyard-bench-engine" --threads 1 --seconds "$secs" --batches 1,8,64,256 --json "$out/engine.json" >/dev/null

# The mesh on loopback: certificates, the synth model, four services and a second router without batching.
make_certs router preprocess inference postprocess echo client
mkdir -p "$work/models/synth/1"
log "$bin/yard" model synth --layers 784,512,512,10 --seed 1 --out "$work/models/synth/1/model.onnx" >/dev/null
cat > "$work/models/synth/config.json" <<'JSON'
{"max_batch_size": 256, "inputs": [{"name": "input", "dtype": "f32", "shape": [-1, 784]}],
 "warmup": {"batch_sizes": [1, 8, 64]}}
JSON
start_recorded() {  # name port args...: start (bench/lib.sh), with the command recorded for RESULTS.md
  echo "$bin/switchyard-$1 --host 127.0.0.1 --port $2 --ca \$work/certs/ca.pem ... ${*:3}" | sed "s|$bin|\$bin|; s|$work|\$work|g" >> "$out/commands.txt"
  start "$@"
}
start_recorded echo 7601
start_recorded inference 7602 --models "$work/models" --threads 2
start_recorded preprocess 7604 --models "$work/models"
start_recorded postprocess 7603 --models "$work/models"
stages=(--preprocess 127.0.0.1:7604 --inference 127.0.0.1:7602 --postprocess 127.0.0.1:7603)
# one event loop per router: five processes and the load client share two cores (README, "Tuning")
token=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
echo "$token" > "$work/tokens"
# the router with batching on also serves the Open Inference Protocol (TLS and a bearer token: h2load and wrk
# present no client certificate)
start_recorded router 7600 --models "$work/models" "${stages[@]}" --event-loops 1 --http-port 7620 --http-tokens "$work/tokens"
router_on=${pids[-1]}
# without batching: every request forwarded alone and at once, as many in flight as the clients send
start_recorded router 7610 --models "$work/models" "${stages[@]}" --event-loops 1 --max-batch-size 1 --max-batches-in-flight 64

tls=(--ca "$work/certs/ca.pem" --cert "$work/certs/client.pem" --key "$work/certs/client.key")
# a stage answers only routers: the per-hop run against the inference service uses the router's certificate
router_tls=(--ca "$work/certs/ca.pem" --cert "$work/certs/router.pem" --key "$work/certs/router.key")
synth=(--model synth --input-name input --shape 784 --connections 2)
each=(--duration "${secs}s" --warmup "${warm}s")
# 3. One hop at a time.
log "$bin/yard" load --target 127.0.0.1:7601 "${tls[@]}" --method echo --shape 784 --connections 2 --concurrency 1,64 "${each[@]}" --json "$out/hop-echo.json" >/dev/null
log "$bin/yard" load --target 127.0.0.1:7602 "${router_tls[@]}" "${synth[@]}" --concurrency 1,64 "${each[@]}" --json "$out/hop-inference.json" >/dev/null
# 4. The engine in this process, one row at a time (no network), then the mesh.
log "$bin/yard" load --engine "$work/models/synth" "${synth[@]}" --concurrency 1 "${each[@]}" --json "$out/engine-inprocess.json" >/dev/null
log "$bin/yard" load --target 127.0.0.1:7600 "${tls[@]}" "${synth[@]}" --concurrency 1,64 "${each[@]}" --json "$out/mesh-on.json" >/dev/null
log "$bin/yard" load --target 127.0.0.1:7610 "${tls[@]}" "${synth[@]}" --concurrency 64 "${each[@]}" --json "$out/mesh-off.json" >/dev/null
rss_before=$(awk '/VmRSS/ {print $2}' "/proc/$router_on/status")
log "$bin/yard" load --target 127.0.0.1:7600 "${tls[@]}" "${synth[@]}" --concurrency 1024 --timeout 30s "${each[@]}" --json "$out/mesh-1024.json" >/dev/null || true
rss_peak=$(awk '/VmHWM/ {print $2}' "/proc/$router_on/status")
echo "Router memory (batching on): $((rss_before / 1024)) MiB resident before a run at 1,024 in flight, peak $((rss_peak / 1024)) MiB." > "$out/router-memory.txt"
# 5. Latency against throughput: open loop from 10% to 115% of each router's closed-loop throughput at 64 in flight.
# Past saturation requests time out or are shed; those runs exit 1 by design and their failures are in the report.
rates_on=$("$bin/switchyard-bench" rates --from "$out/mesh-on.json")
rates_off=$("$bin/switchyard-bench" rates --from "$out/mesh-off.json")
log "$bin/yard" load --target 127.0.0.1:7600 "${tls[@]}" "${synth[@]}" --rate "$rates_on" --timeout 2s "${each[@]}" --json "$out/sweep-on.json" >/dev/null || true
log "$bin/yard" load --target 127.0.0.1:7610 "${tls[@]}" "${synth[@]}" --rate "$rates_off" --timeout 2s "${each[@]}" --json "$out/sweep-off.json" >/dev/null || true

# 6. The HTTP port against the wire protocol of the same router on the same model, side by side.
gateway_bodies "$token"
url=https://127.0.0.1:7620/v2/models/synth/infer
auth=(-H "authorization: Bearer $token")
binary=(-d "$work/binary.body" -H "content-type: application/octet-stream" -H "inference-header-content-length: $hlen")
json=(-d "$work/json.body" -H "content-type: application/json")
h2=(-t 1 -D "$secs" --warm-up-time="$(awk -v w="$warm" 'BEGIN { printf "%d", w * 1000 }')ms")
# the router's own CPU time over each run (user + system, from /proc), for its CPU per request: robust where
# throughput moves with whatever else the machine runs
echo "seconds $secs $warm" > "$out/gw-cpu.txt"  # measured and warm-up seconds of each run (wrk has no warm-up)
measured() {  # name command...: runs the command, records the router's CPU seconds it took
  local name=$1; shift
  local before; before=$(awk '{print $14 + $15}' "/proc/$router_on/stat")
  "$@"
  awk -v name="$name" -v before="$before" -v hz="$(getconf CLK_TCK)" '{print name, ($14 + $15 - before) / hz}' \
    "/proc/$router_on/stat" >> "$out/gw-cpu.txt"
}
measured native log "$bin/yard" load --target 127.0.0.1:7600 "${tls[@]}" "${synth[@]}" --concurrency 64 "${each[@]}" --json "$out/gw-native.json" >/dev/null
measured h2-binary log h2load "${h2[@]}" -c 2 -m 32 "${auth[@]}" "${binary[@]}" "$url" > "$out/gw-h2-binary.txt"
wrk -t 1 -c 64 -d "$(awk -v w="$warm" 'BEGIN { printf "%d", w < 1 ? 1 : w }')s" -s "$work/binary.lua" "$url" >/dev/null  # warm-up
measured h1-binary log wrk -t 1 -c 64 -d "${secs}s" --latency -s "$work/binary.lua" "$url" > "$out/gw-h1-binary.txt"
measured h2-json log h2load "${h2[@]}" -c 2 -m 32 "${auth[@]}" "${json[@]}" "$url" > "$out/gw-h2-json.txt"
measured h1-json log wrk -t 1 -c 64 -d "${secs}s" --latency -s "$work/json.lua" "$url" > "$out/gw-h1-json.txt"
log "$bin/yard" load --target 127.0.0.1:7600 "${tls[@]}" "${synth[@]}" --concurrency 1 "${each[@]}" --json "$out/gw-native-1.json" >/dev/null
log wrk -t 1 -c 1 -d "${secs}s" --latency -s "$work/binary.lua" "$url" > "$out/gw-h1-binary-1.txt"
log h2load "${h2[@]}" -c 1 -m 1 "${auth[@]}" "${binary[@]}" "$url" > "$out/gw-h2-binary-1.txt"
# idle keep-alive connections: a fresh router (no traffic yet), its resident memory before and while 1,000 are held
start_recorded router 7630 --models "$work/models" "${stages[@]}" --event-loops 1 --http-port 7631 --http-tokens "$work/tokens"
fresh=${pids[-1]}
sleep 1
before=$(awk '/VmRSS/ {print $2}' "/proc/$fresh/status")
log "$bin/switchyard-bench" hold --target 127.0.0.1:7631 --tls --token "$token" --count 1000 --seconds 4 > "$work/hold.txt" &
holder=$!
for _ in $(seq 1 600); do grep -q holding "$work/hold.txt" && break; kill -0 "$holder" 2>/dev/null || break; sleep 0.1; done
sleep 1
held=$(sed -n 's/holding \([0-9]*\) connections/\1/p' "$work/hold.txt")
after=$(awk '/VmRSS/ {print $2}' "/proc/$fresh/status")
wait "$holder"
printf 'before %s\nheld %s\nafter %s\n' "$before" "${held:-0}" "$after" > "$out/gw-memory.txt"
log "$bin/switchyard-bench" oip-json --floats 784,100000 --json "$out/oip-json.json" >/dev/null

{
  echo "Run: $started, $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "$(swift --version 2>/dev/null | head -1); release build; OpenBLAS $(dpkg-query -W -f '${Version}' libopenblas0-pthread 2>/dev/null || echo '?')"
  echo "Load average (1, 5, 15 min) before: $load_before; after: $(cut -d' ' -f1-3 /proc/loadavg) — the load client, the services and anything else on the machine share its cores"
  awk -v n="$(nproc)" '$1 > n { print "**The machine was busy** (load average above its core count while the suite ran): absolute numbers, and ratios whose two sides ran at different moments, move with that load; ratios measured side by side (wire, engine) hold up best" }' /proc/loadavg
  echo "Measured ${secs} s per step after ${warm} s of warm-up; the mesh's inference service has 2 compute threads; one 784-float row per request; routers on one event loop, batching off = \`--max-batch-size 1 --max-batches-in-flight 64\` (each request forwarded alone, at once)"
} > "$out/machine.txt"
"$bin/switchyard-bench" report --directory "$out" --out bench/RESULTS.md --plot bench/latency-throughput.svg
# 6. The Python client against the echo service; adds its own section to RESULTS.md
bash bench/python-client.sh >/dev/null
