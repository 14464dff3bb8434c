#!/usr/bin/env bash
# The Python client (clients/python) against the echo service: 64 calls in flight on one connection from one
# process, 784-float tensors; calls/s, the client's CPU per call, the server's CPU per call. The baseline, measured in
# the same run against the same echo process with the same load: the Swift client (`yard load`, one connection).
# Rounds alternate (Swift, Python on asyncio's loop, Python on uvloop) so that the machine's load hits all alike.
# Writes bench/out/python-client.json and the section "Python client" of bench/RESULTS.md (bench/run.sh calls this
# script after writing the rest of that file; run alone, it replaces only its own section).
# QUICK=1 shortens every measurement (a smoke run, not for publishing). Traffic stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${QUICK:+1}; secs=${secs:-5}
warm=${QUICK:+0.5}; warm=${warm:-1}
rounds=${QUICK:+1}; rounds=${rounds:-3}
out=bench/out
mkdir -p "$out"
py=$(bash ops/python-env.sh | tail -n 1)
. bench/lib.sh
make_certs echo client
start echo 7651 --event-loops 1
echo_pid=${pids[-1]}
tls=(--ca "$certs/ca.pem" --cert "$certs/client.pem" --key "$certs/client.key")
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u +"%Y-%m-%d %H:%M UTC")
rm -f "$out"/python-client-*.json
for round in $(seq 1 "$rounds"); do
  echo "bench: round $round of $rounds" >&2
  # the Swift client's CPU (user + system, the whole process) from bash's `time`
  { TIMEFORMAT='%U %S'; time "$bin/yard" load --target 127.0.0.1:7651 "${tls[@]}" --method echo --shape 784 \
    --connections 1 --concurrency 64 --duration "${secs}s" --warmup "${warm}s" \
    --json "$out/python-client-swift-$round.json" >/dev/null; } 2> "$out/python-client-swift-$round.cpu"
  for loop in asyncio uvloop; do
    "$py" bench/python-client.py --port 7651 --server-pid "$echo_pid" "${tls[@]}" --loop "$loop" --in-flight 64 \
      --floats 784 --seconds "$secs" --warmup "$warm" > "$out/python-client-$loop-$round.json"
  done
done
"$py" - "$out" "$started" "$load_before" "$(cut -d' ' -f1-3 /proc/loadavg)" "$rounds" "$secs" "$warm" <<'PY'
import glob, json, os, re, statistics, sys

out, started, before, after, rounds, secs, warm = sys.argv[1:8]
def load(pattern):
    return [json.load(open(p)) for p in sorted(glob.glob(os.path.join(out, pattern)))]
swift = [r["steps"][0] for r in load("python-client-swift-*.json")]
swift_cpu = []
for step, path in zip(swift, sorted(glob.glob(os.path.join(out, "python-client-swift-*.cpu")))):
    user, system = open(path).read().split()[-2:]
    calls = step["ok"] * (float(secs) + float(warm)) / float(secs)  # warm-up calls at the measured rate
    swift_cpu.append((float(user) + float(system)) / calls * 1e6)
runs = {loop: load(f"python-client-{loop}-*.json") for loop in ("asyncio", "uvloop")}
swift_rate = statistics.median(s["throughput"] for s in swift)
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
cores = os.cpu_count()
busy = float(after.split()[0]) > cores or float(before.split()[0]) > cores
lines = [
    "## Python client",
    "",
    "Written by `bench/python-client.sh`. The Python client (`clients/python`, `AsyncClient`) against the echo "
    "service (`switchyard-echo --event-loops 1`): 64 calls in flight on one connection from one process, a 784-float "
    "f32 tensor each way. Baseline in the same run, against the same echo process: the Swift client (`yard load "
    "--method echo --shape 784 --connections 1 --concurrency 64`). Rounds alternate Swift, Python on asyncio's loop, "
    f"Python on uvloop; {rounds} rounds of {secs} s each, medians below.",
    "",
    f"- Run: {started}, {cores} cores ({cpu}); Python {runs['asyncio'][0]['python']}, numpy "
    f"{runs['asyncio'][0]['numpy']}; client and server share the cores",
    f"- Load average before: {before}; after: {after}" + (" — **the machine was busy**: absolute numbers move with "
    "that load; the ratios compare rounds taken side by side" if busy else ""),
    "",
    "| client | calls/s | vs Swift client | client CPU per call | client CPU | server CPU per call "
    "| calls per client CPU-second | p50 | p99 |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
]
lines.append(f"| Swift (`yard load`), baseline | {swift_rate:,.0f} | 1.00× | ≈ {statistics.median(swift_cpu):.1f} µs | "
             f"| | {1e6 / statistics.median(swift_cpu):,.0f} | "
             f"{statistics.median(s['latency_ms']['p50'] for s in swift):.2f} ms | "
             f"{statistics.median(s['latency_ms']['p99'] for s in swift):.2f} ms |")
summary = {"swift_calls_per_second": swift_rate, "swift_cpu_us_per_call": statistics.median(swift_cpu),
           "rounds": int(rounds)}
for loop, results in runs.items():
    rate = statistics.median(r["calls_per_second"] for r in results)
    med = lambda key: statistics.median(r[key] for r in results)
    summary[loop] = {"calls_per_second": rate, "client_cpu_us_per_call": med("client_cpu_us_per_call"),
                     "server_cpu_us_per_call": med("server_cpu_us_per_call"), "all_rounds": results}
    lines.append(f"| Python, {'asyncio' + chr(39) + 's loop' if loop == 'asyncio' else 'uvloop'} | {rate:,.0f} | {rate / swift_rate:.2f}× | {med('client_cpu_us_per_call'):.1f} µs | "
                 f"{med('client_cpu_cores'):.2f} cores | {med('server_cpu_us_per_call'):.1f} µs | "
                 f"{1e6 / med('client_cpu_us_per_call'):,.0f} | {med('p50_ms'):.2f} ms | "
                 f"{med('p99_ms'):.2f} ms |")
best = max(summary["asyncio"]["calls_per_second"], summary["uvloop"]["calls_per_second"])
lines += ["", f"Target: ≥ 15,000 calls/s from one Python process (issue #12): best {best:,.0f} calls/s "
          f"({'met' if best >= 15000 else 'not met'}). Client CPU per call is this process's user + system time "
          "(`getrusage`) over the calls answered; the Swift client's is its whole process's (bash `time`) over its "
          "calls, warm-up calls counted at the measured rate (≈); server CPU per call is the echo process's "
          "(`/proc/PID/stat`). Calls per client CPU-second (1 / client CPU per call) is what the client could do with "
          "a core to itself: on a busy machine the client gets less than that, and calls/s follows.",
          "Each round's numbers: `bench/out/python-client.json`.", ""]
json.dump(summary, open(os.path.join(out, "python-client.json"), "w"), indent=2)
section = "\n".join(lines)
path = "bench/RESULTS.md"
text = open(path).read() if os.path.exists(path) else "# Benchmark results\n"
marker = re.compile(r"## Python client\n.*?(?=\n## |\Z)", re.S)
text = marker.sub(lambda _: section.rstrip("\n"), text) if marker.search(text) else text.rstrip("\n") + "\n\n" + section
open(path, "w").write(text.rstrip("\n") + "\n")
print(section)
PY
