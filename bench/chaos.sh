#!/usr/bin/env bash
# Reliability scenarios against a real mesh on loopback (two instances of every stage, mutual TLS, the digits model),
# each under a `yard load` that tallies every request: a rolling restart of every stage with SIGTERM, a SIGKILLed
# inference instance, a SIGSTOPped one for 8 s with 1 s deadlines, and wrong identities (certificates calling what
# their role may not, a foreign CA's) beside legitimate traffic (closed loop: "faults"); and overload: the capacity
# measured first, then open loops at 2×, 4× and 5× of it, and at 2× with 50 ms deadlines, with the router's default
# admission ("overload"; THROTTLE=1: the load client throttles itself adaptively, `yard load --throttle`;
# MAX_QUEUE_TIME_MS=N: a fixed queue-time limit on top); and hostile peers (bench/chaos_peers.py):
# 60 slow connections claiming 16 MiB frames, 10,000 idle connections beside a good client, PNG bombs through the
# preprocess stage ("limits"). Appends tables to bench/RESULTS-reliability.md (or the file given by RESULTS=...).
#
#   bench/chaos.sh [BIN_DIR]   # default: the release build if there is one, else the debug build
#   SCENARIOS=overload bench/chaos.sh   # only some: faults, overload, limits (default all)
#   OVERLOAD_STEPS="2 5 2-50ms"          # overload steps: FACTOR (5 s deadlines) or FACTOR-50ms
#   PIN=1 bench/chaos.sh                 # the mesh on CPU 0, the load client on CPU 1 (MESH_CPUS, CLIENT_CPUS):
#                                        # the client's sends cannot take the mesh's CPU; capacity measured alike
#
# Every process it starts is stopped on exit; every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-}
if [ -z "$bin" ]; then
  bin=$(swift build -c release --show-bin-path 2>/dev/null)
  [ -x "$bin/switchyard-router" ] || bin=$(swift build --show-bin-path)
fi
scenarios=${SCENARIOS:-faults overload limits}
# 10,000 idle connections need as many descriptors in the router (its --max-connections, 4096, holds the rest off)
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
products=(switchyard-router switchyard-preprocess switchyard-inference switchyard-postprocess yard)
[[ " $scenarios " != *" faults "* ]] || products+=(switchyard-monitor)  # only the wrong-identity attempts call it
for product in "${products[@]}"; do
  [ -x "$bin/$product" ] || { echo "chaos: $bin/$product is missing; build first" >&2; exit 1; }
done
results=${RESULTS:-bench/RESULTS-reliability.md}
certs=ops/certs/out
[ -f "$certs/readonly.pem" ] || bash ops/certs/make-certs.sh "$certs" >/dev/null  # readonly.pem: certificates with roles
tls() { echo --ca "$certs/ca.pem" --cert "$certs/$1.pem" --key "$certs/$1.key"; }
logs=$(mktemp -d -t switchyard-chaos.XXXXXX)
# the models, and digits-png: the digits model behind an image pipeline (8 × 8 gray PNGs), for the PNG bombs
mkdir -p "$logs/models/digits-png"
ln -s "$PWD/models/digits" "$logs/models/digits"
ln -s "$PWD/models/digits/1" "$logs/models/digits-png/1"
python3 - "$PWD/models/digits/config.json" "$logs/models/digits-png/config.json" <<'EOF'
import json, sys
config = json.load(open(sys.argv[1]))
config["name"] = "digits-png"
config["pipeline"] = {"preprocess": [
    {"op": "image", "input": "image", "output": "X", "channels": 1, "height": 8, "width": 8, "layout": "flat"},
    {"op": "scale", "input": "X", "by": 0.0627451}]}
json.dump(config, open(sys.argv[2], "w"), indent=2)
EOF
echo "chaos: logs, load reports and the router's metrics after each step in $logs" >&2
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
  "${mesh_pin[@]}" "$bin/$product" --port "${port[$name]}" --models "$logs/models" $(tls "${product#switchyard-}") \
    "${extra[@]}" >>"$logs/$name.log" 2>&1 &
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
# PIN=1: the mesh and the load client on CPUs of their own (taskset), so that at 4× the client's 4× sends do not
# take the mesh's time; the capacity is measured the same way, so the ratios stay fair
mesh_pin=() client_pin=()
if [ -n "${PIN:-}" ]; then
  mesh_pin=(taskset -c "${MESH_CPUS:-0}") client_pin=(taskset -c "${CLIENT_CPUS:-1}")
fi
stages=(pre1 pre2 inf1 inf2 post1 post2)
product_of() { case $1 in pre*) echo switchyard-preprocess ;; inf*) echo switchyard-inference ;; post*) echo switchyard-postprocess ;; esac; }
for name in "${stages[@]}"; do start "$name" "$(product_of "$name")"; done
list() { local out=""; for name in "$@"; do out+="${out:+,}127.0.0.1:${port[$name]}"; done; echo "$out"; }
metrics_port=$(free_port)
start router switchyard-router --preprocess "$(list pre1 pre2)" --inference "$(list inf1 inf2)" \
  --postprocess "$(list post1 post2)" --health-check-interval-ms 200 --metrics-port "$metrics_port"
scrape() { curl -s --max-time 5 "http://127.0.0.1:$metrics_port/metrics" >"$1" 2>/dev/null || true; }

load() {  # json duration timeout [yard load options]: closed loop, 16 in flight, one digits row per request
  "$bin/yard" load --target "127.0.0.1:${port[router]}" $(tls client) --model digits \
    --input Tests/Fixtures/engine/digits/x_test.npy --concurrency 16 --warmup 1s --duration "$2" --timeout "$3" \
    --json "$1" "${@:4}" >"$1.txt" 2>&1
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
denied=""
unhealthy=""

if [[ " $scenarios " == *" faults "* ]]; then
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
  local out="$logs/identity-$2-$3-$5"
  "$bin/yard" load --target "127.0.0.1:${port[$2]}" --method "$3" --model digits \
    --input Tests/Fixtures/engine/digits/x_test.npy --ca "$certs/ca.pem" --cert "$4/$5.pem" --key "$4/$5.key" \
    --concurrency 4 --requests 400 --warmup 0 --timeout 5s --json "$out.json" >"$out.txt" 2>&1 || true
  if [ -f "$out.json" ]; then
    rows+=("$(summary "wrong identity: $1" "$out.json")")
  else  # refused before any request: the TLS handshake failed
    rows+=("| wrong identity: $1 | 0 | 0 | 0 | 0 | 0.0 | 0.0 | 0.0 | no connection: $(grep -o 'TLSV1_ALERT_[A-Z_]*\|CERTIFICATE_VERIFY_FAILED' "$out.txt" | head -1) |")
  fi
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
fi

# overload: the capacity first, in the same run (closed loops), the unloaded p99 at a fifth of it, then
# open loops at 2×, 4× and 5× of it with 5 s deadlines and at 2× with 50 ms deadlines. Goodput counts the answers
# within the deadline (from the scheduled send); every request is tallied by status, the router's refusals apart.
overload_rows=()
capacities=""
if [[ " $scenarios " == *" overload "* ]]; then
overload_load=$(cut -d' ' -f1 /proc/loadavg)
batching() { "$bin/yard" batching "$1" --router "127.0.0.1:${port[router]}" $(tls ops) --model digits "${@:2}"; }
# the capacity and the unloaded latency without any queue-time limit, the saturated limit off (a closed loop of 1024
# in flight saturates the mesh, and refusing its excess would only spin the loop); it is set for the overload after
batching set --saturated-queue-time-us 0 >"$logs/batching-set.txt" 2>&1 \
  || { echo "chaos: yard batching set failed:" >&2; cat "$logs/batching-set.txt" >&2; exit 1; }
router_cpu() { awk '{print $14 + $15}' "/proc/${pid[router]}/stat"; }  # user + system, in clock ticks
open_load() {  # json rate timeout: also writes the router's CPU seconds during the step to json.cpu, the client's
  local before  # (user and system, from /usr/bin/time) to json.client
  before=$(router_cpu)
  /usr/bin/time -f '%U %S' -o "$1.client" "${client_pin[@]}" "$bin/yard" load --target "127.0.0.1:${port[router]}" $(tls client) --model digits \
    --input Tests/Fixtures/engine/digits/x_test.npy --rate "$2" --connections 8 --event-loops 2 --warmup 1s \
    --duration 8s \
    --timeout "$3" --json "$1" ${THROTTLE:+--throttle} >"$1.txt" 2>&1 || true
  echo "$(( $(router_cpu) - before )) $(getconf CLK_TCK)" | awk '{print $1 / $2}' >"$1.cpu"
  scrape "$1.metrics"
}
# the capacity: the most answers/s of closed loops at 64, 256 and 1024 in flight (CAPACITY_IN_FLIGHT); with few in
# flight the mesh's batches stay small and the loop measures its latency, not its throughput
capacity=0 capacity_in_flight=0
for in_flight in ${CAPACITY_IN_FLIGHT:-64 256 1024}; do
  capacity_json="$logs/capacity-$in_flight.json"
  "${client_pin[@]}" "$bin/yard" load --target "127.0.0.1:${port[router]}" $(tls client) --model digits \
    --input Tests/Fixtures/engine/digits/x_test.npy --concurrency "$in_flight" --connections 4 --warmup 2s \
    --duration 8s --timeout 5s --json "$capacity_json" >"$capacity_json.txt" 2>&1 || true
  measured=$(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["steps"][0]["throughput"]))' \
    "$capacity_json" 2>/dev/null || echo 0)
  capacities+="${capacities:+, }$measured at $in_flight"
  [ "$measured" -le "$capacity" ] || { capacity=$measured; capacity_in_flight=$in_flight; }
done
[ "${capacity:-0}" -gt 0 ] || { echo "chaos: capacity runs answered nothing; the last one's output:" >&2; cat "$capacity_json.txt" >&2; exit 1; }
open_load "$logs/unloaded.json" $((capacity / 5)) 5s
# the overload runs with the saturated limit (SATURATED_QUEUE_TIME_US, the router's default 1000 µs unless given; 0:
# off), and MAX_QUEUE_TIME_MS (a fixed limit, as an operator's SLO) and BATCHING (more `yard batching set` options)
# when given
saturated_us=${SATURATED_QUEUE_TIME_US:-1000}  # back to the router's default (--saturated-queue-time-us)
batching set --saturated-queue-time-us "$saturated_us" \
  ${MAX_QUEUE_TIME_MS:+--max-queue-time-us $((MAX_QUEUE_TIME_MS * 1000))} ${BATCHING:-} >"$logs/batching-set.txt" 2>&1 \
  || { echo "chaos: yard batching set failed:" >&2; cat "$logs/batching-set.txt" >&2; exit 1; }
batching status >"$logs/batching-overload.txt" 2>&1 || true
for step in ${OVERLOAD_STEPS:-2 4 5 2-50ms}; do  # FACTOR, or FACTOR-50ms for 50 ms deadlines
  factor=${step%-50ms}
  open_load "$logs/over$step.json" $((capacity * factor)) "$([ "$step" = "$factor" ] && echo 5s || echo 50ms)"
done
mapfile -t overload_rows < <(python3 - "$capacity" "$logs" <<'EOF2'
import json, sys
capacity, logs = float(sys.argv[1]), sys.argv[2]
def step(name): return json.load(open(f"{logs}/{name}.json"))["steps"][0]
def within(s, ms):  # answers within ms of their scheduled send, from the histogram
    return sum(count for value, count in s.get("latency_histogram_us", []) if value <= ms * 1000)
base = step("unloaded")["latency_ms"]["p99"]
u = step("unloaded")
ucpu = float(open(f"{logs}/unloaded.json.cpu").read()) * 1e6 / (u["sent"] * (1 + 1 / 8))
def client_cpu(name, s):  # the load client's CPU (its whole run: start, warm-up, step) per request it sent
    try:
        user, system = map(float, open(f"{logs}/{name}.json.client").read().split()[-2:])
    except (FileNotFoundError, ValueError):
        return 0
    return (user + system) * 1e6 / (s["sent"] * (1 + 1 / 8))
print(f"| unloaded (capacity / 5), 5 s deadlines, no queue-time limit | {u['rate']:.0f} | {u['sent']} "
      f"| {u['throughput']:.0f} | {base:.1f} | 1× | {u.get('service_time_ms', {}).get('p99', 0):.1f} | {ucpu:.0f} "
      f"| {client_cpu('unloaded', u):.0f} | {'none' if not u['errors'] else u['errors']} "
      f"| {u.get('max_send_lag_ms', 0):.0f} |")
fit = []  # (answered, refused at the router, router CPU s) per overload step, for the cost of each
for name, label, deadline in [("over2", "2× capacity, 5 s deadlines", 5000), ("over4", "4× capacity, 5 s deadlines", 5000),
                              ("over5", "5× capacity, 5 s deadlines", 5000), ("over2-50ms", "2× capacity, 50 ms deadlines", 50)]:
    try:
        s = step(name)
    except FileNotFoundError:
        continue  # not in OVERLOAD_STEPS
    good = within(s, deadline) / s["elapsed_s"]
    p99 = s.get("latency_ms", {}).get("p99", 0)
    errors = "; ".join(f"{e.get('source', 'server')} {e['status']}: {e['count']}" for e in s["errors"]) or "none"
    # the router's CPU over the whole step (warm-up included) per request sent in it
    cpu = float(open(f"{logs}/{name}.json.cpu").read())
    sent_all = s["sent"] * (1 + 1 / 8)  # 1 s of warm-up at the same rate
    lag = s.get("max_send_lag_ms", 0)
    service = s.get("service_time_ms", {}).get("p99", 0)
    refused = sum(e["count"] for e in s["errors"] if e.get("source", "server") == "server"
                  and e["status"] in ("resource exhausted", "deadline exceeded"))
    if deadline == 5000:  # with 50 ms deadlines, admitted requests fail late with the same status
        fit.append((s["ok"] * (1 + 1 / 8), refused * (1 + 1 / 8), cpu))
    print(f"| {label} | {s['rate']:.0f} | {s['sent']} | {good:.0f} ({good / capacity:.2f}×) | {p99:.1f} "
          f"| {p99 / base if base else 0:.1f}× | {service:.1f} | {cpu * 1e6 / sent_all:.0f} "
          f"| {client_cpu(name, s):.0f} | {errors} | {lag:.0f} |")
# router CPU = a × answered + b × refused over the overload steps (least squares): the cost of each kind
if len(fit) >= 2:
    saa = sum(a * a for a, _, _ in fit); sab = sum(a * b for a, b, _ in fit); sbb = sum(b * b for _, b, _ in fit)
    sac = sum(a * c for a, _, c in fit); sbc = sum(b * c for _, b, c in fit)
    det = saa * sbb - sab * sab
    if det > 0:
        served = (sac * sbb - sbc * sab) / det
        refusal = (saa * sbc - sab * sac) / det
        print(f"COST router CPU per answered request {served * 1e6:.0f} µs, per request refused at arrival "
              f"{refusal * 1e6:.0f} µs ({refusal / served if served > 0 else 0:.2f}×; least squares over {len(fit)} steps)")
EOF2
)
fi

# hostile peers: the router's memory under slow connections claiming 16 MiB frames, a good client beside 10,000 idle
# connections and beside PNG bombs, each with the host's load next to it
limit_rows=()
if [[ " $scenarios " == *" limits "* ]]; then
rss_mb() { awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/${pid[$1]}/status"; }
fds() { ls "/proc/${pid[router]}/fd" 2>/dev/null | wc -l; }
load1() { cut -d' ' -f1 /proc/loadavg; }
peers() { python3 bench/chaos_peers.py "$1" --port "${port[router]}" --ca "$certs/ca.pem" --cert "$certs/client.pem" \
  --key "$certs/client.key" "${@:2}"; }
p99() { python3 -c 'import json,sys; print("%.1f" % json.load(open(sys.argv[1]))["steps"][0]["latency_ms"]["p99"])' "$1"; }
failed() { python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["steps"][0]; print(s["sent"] - s["ok"])' "$1"; }
watch_peak() {  # pid name...: the highest RSS (MB) of each named process while pid runs, space-separated
  local watched=$1; shift
  declare -A peak
  for name in "$@"; do peak[$name]=$(rss_mb "$name"); done
  while kill -0 "$watched" 2>/dev/null; do
    for name in "$@"; do r=$(rss_mb "$name"); [ "$r" -le "${peak[$name]}" ] || peak[$name]=$r; done
    sleep 0.2
  done
  for name in "$@"; do printf '%s ' "${peak[$name]}"; done
}

# 60 slow connections, each claiming a 16 MiB frame and sending it at 1.3 MB/s for 20 s
before=$(rss_mb router); load_at=$(load1)
peers slow --connections 60 --seconds 20 >"$logs/slow.json" 2>"$logs/slow.err" &
peer=$!
peak=$(watch_peak $peer router)
wait $peer || true
sleep 2
after=$(rss_mb router)
outcome=$(python3 bench/chaos_peers.py summary "$logs/slow.json")
limit_rows+=("| 60 slow connections claiming 16 MiB frames (20 s) | router RSS ${before} → peak ${peak% } → ${after} MB after (growth $(( ${peak% } - before )) MB; target ≤ 128) | $outcome | $load_at |")

# a good client's p99 alone, then beside 10,000 idle connections (TLS and HELLO done, answering PINGs): the good
# client is connected first (past the cap, a new connection is closed at accept, whoever makes it); its 30 s
# include the flood's handshakes
load "$logs/good-alone.json" 8s 5s || true
load_at=$(load1)
before=$(rss_mb router)
load "$logs/good-idle.json" 30s 5s --request-log "$logs/good-idle.csv" &
loader=$!
sleep 2
peers idle --connections 10000 --seconds 45 --parallel 128 >"$logs/idle.json" 2>"$logs/idle.err" &
peer=$!
flood_start=$SECONDS
held=0
held_since=""  # when the flood's connections were all open: from then on they only sit there
while kill -0 $loader 2>/dev/null; do
  f=$(fds)
  if [ "$f" -gt "$held" ]; then held=$f; held_since=""; elif [ "$f" -ge 4000 ] && [ -z "$held_since" ]; then held_since=$(date +%s.%N); fi
  sleep 0.5
done
peak=$(rss_mb router)
wait $loader || true
# a client connecting while the cap is full: it gets in by draining a connection idle for 30 s (the first of the
# flood's), so it comes 33 s after the flood began, while the flood still holds its connections
while [ $((SECONDS - flood_start)) -lt 33 ]; do sleep 0.5; done
load "$logs/good-late.json" 3s 5s || true
wait $peer || true
late_outcome=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["steps"][0]; print("%d of %d answered" % (s["ok"], s["sent"]))' "$logs/good-late.json" 2>/dev/null || echo "could not connect: $(grep -o 'cannot reach.*' "$logs/good-late.json.txt" 2>/dev/null | head -c 120)")
# the good client's p99 over requests sent while the flood opened its connections, and while they were held
windows=$(python3 - "$logs/good-idle.csv" "${held_since:-0}" <<'EOF2'
import csv, sys
held_since = float(sys.argv[2])
opening, holding = [], []
for row in csv.DictReader(open(sys.argv[1])):
    if row["measured"] != "1" or row["code"] != "ok":
        continue
    (holding if held_since and float(row["sent_unix_s"]) >= held_since else opening).append(float(row["latency_ms"]))
def p99(values):
    return f"{sorted(values)[int(0.99 * (len(values) - 1))]:.1f} ms ({len(values)} answers)" if values else "none"
print(f"{p99(opening)} while the flood opened its connections, {p99(holding)} while they were held")
EOF2
)
ratio=$(python3 -c 'import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); print(f"{b / a:.2f}" if a else "n/a")' \
  "$(p99 "$logs/good-alone.json")" "$(p99 "$logs/good-idle.json")")
idle_outcome=$(python3 bench/chaos_peers.py summary "$logs/idle.json")
limit_rows+=("| 10,000 idle connections beside a good client connected before them (16 in flight, 30 s) | good client p99 $(p99 "$logs/good-alone.json") ms alone, $(p99 "$logs/good-idle.json") ms beside them (${ratio}×; target ≤ 2×): ${windows}; $(failed "$logs/good-idle.json") failed; router descriptors at most ${held}, RSS ${before} → ${peak} MB; a client connecting 33 s into the flood (the cap full): ${late_outcome:-not run} | $idle_outcome | $load_at |")

# PNG bombs: 2,000 requests of 4 PNGs of 67 bytes each claiming 16384 × 16384 pixels, beside a good client
load_at=$(load1)
pre_before="$(rss_mb pre1)/$(rss_mb pre2)"
load "$logs/good-bomb.json" 12s 5s &  # connected before the bombs
loader=$!
sleep 2
peers bomb --model digits-png --requests 2000 --images 4 --parallel 32 --seconds 60 >"$logs/bomb.json" 2>"$logs/bomb.err" &
peer=$!
peak=$(watch_peak $peer pre1 pre2 router)
wait $peer || true
wait $loader || true
bomb_outcome=$(python3 bench/chaos_peers.py summary "$logs/bomb.json")
read -r pre1_peak pre2_peak router_peak <<<"$peak"
limit_rows+=("| PNG bombs through the preprocess stage (2,000 requests × 4 PNGs claiming 16384² pixels) | preprocess RSS ${pre_before} → peak ${pre1_peak}/${pre2_peak} MB, router peak ${router_peak} MB; good client p99 $(p99 "$logs/good-bomb.json") ms, $(failed "$logs/good-bomb.json") failed | $bomb_outcome | $load_at |")
fi



{
  echo
  echo "### Run of $(date -u +%Y-%m-%dT%H:%MZ) ($(basename "$(dirname "$bin")")/$(basename "$bin") binaries)"
  echo
  blas=$(grep -o 'blas.core=[A-Za-z0-9]*' "$logs/inf1.log" | head -1 | cut -d= -f2)
  echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, OpenBLAS core ${blas:-unknown}; load average at"
  echo "the end: $(cut -d' ' -f1-3 /proc/loadavg) (other engineers' builds share the machine)."
  if [ ${#rows[@]} -gt 0 ]; then
    echo "Closed loop, 16 in flight, one digits row per request, \`yard load --retries 3\` (the default)."
    echo "Stage logs: $(cat "$logs"/{pre,inf,post}*.log | grep -c ' draining') drains, $(cat "$logs"/{pre,inf,post}*.log | grep -c ' listening') starts."
    echo "Wrong identities: $denied refusals logged (the first of each kind per service, then one in a thousand);"
    echo "health afterwards: ${unhealthy:+NOT answered by$unhealthy}${unhealthy:-every stage instance, the router and the monitor answered}."
    echo
    echo "| scenario | sent | ok | failed | client retries | p99 ms | p99.9 ms | max ms | errors |"
    echo "|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
  fi
  if [ ${#limit_rows[@]} -gt 0 ]; then
    echo
    echo "Hostile peers (bench/chaos_peers.py) against the router's defaults (--max-connections 4096,"
    echo "--max-buffered-bytes 64 MiB); good client: closed loop, 16 in flight, 5 s deadlines."
    echo
    echo "| scenario | measured | peers saw | load average (1 min) at its start |"
    echo "|---|---|---|---|"
    printf '%s\n' "${limit_rows[@]}"
  fi
  if [ ${#overload_rows[@]} -gt 0 ]; then
    echo
    echo "Overload: capacity $capacity answers/s (the best closed loop, 4 connections: $capacities in flight) and the unloaded p99 measured"
    echo "without a queue-time limit (\`--saturated-queue-time-us 0\`); then admission with a saturated queue"
    echo "time ${saturated_us} µs${MAX_QUEUE_TIME_MS:+, \`--max-queue-time-us $((MAX_QUEUE_TIME_MS * 1000))\`}${BATCHING:+, \`$BATCHING\`} and"
    echo "open loops of 8 s (8 connections, 2 client event loops); goodput = answers within the deadline (from the"
    echo "scheduled send) per second; accepted p99 from the scheduled send (the client's own lag included: max"
    echo "send lag in the last column); router CPU over the step (warm-up included) per request offered."
    if [ -n "${THROTTLE:-}" ]; then
      echo "Load client: adaptive throttling on (\`yard load --throttle\`, K = 2; its own refusals count as \`throttled\`)."
    else
      echo "Load client: no client throttling (the router's admission alone)."
    fi
    echo
    if [ -n "${PIN:-}" ]; then
      echo "Pinned: the mesh (router and six stage instances) on CPU ${MESH_CPUS:-0}, the load client on CPU ${CLIENT_CPUS:-1}"
      echo "(taskset), capacity included."
    else
      echo "Not pinned: the load client and the mesh share both CPUs."
    fi
    echo "Every process at the nice level the script was started with; load average (1 min) at the overload start: $overload_load."
    echo
    echo "| load | offered/s | sent | goodput/s (× capacity) | accepted p99 ms | × unloaded p99 | p99 from the actual send ms | router CPU µs/request | client CPU µs/request sent | errors | max send lag ms |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${overload_rows[@]}" | grep -v '^COST'
    printf '%s\n' "${overload_rows[@]}" | sed -n 's/^COST /\n/p'
  fi
} | tee -a "$results"
