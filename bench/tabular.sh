#!/usr/bin/env bash
# Tree ensembles (300 trees, depth 8: scikit-learn, XGBoost, LightGBM exports) through the engine and through
# onnxruntime in the same run with the same threads. Needs the ML Python packages (ops/python-env.sh).
#
#   bash bench/tabular.sh                  # 1 thread, batches 1 and 64
#   THREADS=2 BATCHES=1,8,64,256 bash bench/tabular.sh
set -euo pipefail
cd "$(dirname "$0")/.."
python=$(bash ops/python-env.sh | tail -n 1)
swift build -c release --product yard >&2
"$python" bench/tabular.py --threads "${THREADS:-1}" --batches "${BATCHES:-1,64}" --seconds "${SECONDS_PER_CASE:-2}"
