#!/usr/bin/env bash
# The engine benchmark in one command: the engine against bare cblas_sgemm of the same shapes (same
# process, same run), then onnxruntime on the same models when it is installed (pip install onnxruntime).
#
#   bash tools/bench_engine.sh            # 1 thread
#   THREADS=2 bash tools/bench_engine.sh  # 2 threads for OpenBLAS and for onnxruntime
#
# Writes bench/out/engine-t<N>.json and bench/out/onnxruntime-t<N>.json.
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${THREADS:-1}"
seconds="${SECONDS_PER_CASE:-2}"
scratch="${SCRATCH:-.build}"
swift build -c release --scratch-path "$scratch" --product switchyard-bench-engine >&2
swift build -c release --scratch-path "$scratch" --product yard >&2
mkdir -p bench/out
"$scratch/release/yard" model synth --layers 784,512,512,10 --seed 1 --out bench/out/synth-784-512-512-10.onnx >&2
echo "## switchyard engine ($(date -u +%Y-%m-%dT%H:%MZ), load average $(cut -d' ' -f1-3 /proc/loadavg))"
"$scratch/release/switchyard-bench-engine" --threads "$threads" --seconds "$seconds" --json "bench/out/engine-t$threads.json"
if python3 -c "import onnxruntime" 2>/dev/null; then
    echo
    echo "## onnxruntime (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    python3 tools/bench_onnxruntime.py --threads "$threads" --seconds "$seconds" \
        --synth bench/out/synth-784-512-512-10.onnx --json "bench/out/onnxruntime-t$threads.json"
else
    echo "onnxruntime is not installed: skipped (pip install onnxruntime)"
fi
