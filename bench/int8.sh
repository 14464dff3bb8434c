#!/usr/bin/env bash
# int8 (onnxruntime quantize_dynamic) against f32 on the engine, and both on onnxruntime, same run.
#   bash bench/int8.sh            THREADS=2 BATCHES=1,32,128 bash bench/int8.sh
set -euo pipefail
cd "$(dirname "$0")/.."
python=$(bash ops/python-env.sh | tail -n 1)
swift build -c release --product yard >&2
"$python" bench/int8.py --threads "${THREADS:-1}" --batches "${BATCHES:-1,128}" --seconds "${SECONDS_PER_CASE:-2}"
