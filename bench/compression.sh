#!/usr/bin/env bash
# Compression benchmark: every model of tools/make_compression_bench_models.py through `yard quantize` (dynamic and
# static), `yard prune` and `yard convert`, each report holding the original, the compressed model and onnxruntime's
# quantizer's model (tools/compress_onnxruntime.py) side by side, measured in one run of our engine (release build,
# 1 thread); then bench/out/compression/tables.md from the reports (the tables of bench/RESULTS-compression.md).
#   bash bench/compression.sh [--only NAME ...] [--seconds S] [--skip-models]
set -euo pipefail
cd "$(dirname "$0")/.."
only=() seconds=() make_models=1
while [ $# -gt 0 ]; do
  case "$1" in
    --only) shift; while [ $# -gt 0 ] && [[ "$1" != --* ]]; do only+=("$1"); shift; done ;;
    --seconds) seconds=(--seconds "$2"); shift 2 ;;
    --skip-models) make_models=0; shift ;;   # reuse bench/out/compression from an earlier run
    *) echo "usage: bash bench/compression.sh [--only NAME ...] [--seconds S] [--skip-models]" >&2; exit 2 ;;
  esac
done
python=$(bash ops/python-env.sh | tail -n 1)
swift build -c release --product yard >/dev/null
yard="$(swift build -c release --show-bin-path)/yard"
if [ "$make_models" = 1 ]; then
  "$python" tools/make_compression_bench_models.py --out bench/out/compression ${only[@]:+--only "${only[@]}"}
fi
"$python" bench/compression.py --yard "$yard" --python "$python" --models bench/out/compression \
  ${only[@]:+--only "${only[@]}"} "${seconds[@]}"
