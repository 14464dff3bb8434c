#!/usr/bin/env bash
# Compression benchmark: every model of tools/make_compression_bench_models.py through `yard quantize` (dynamic and
# static), `yard prune` and `yard convert`, beside onnxruntime's quantizer's models (tools/compress_onnxruntime.py):
# quality and size from the tools' reports, speed of every model file from the release engine benchmark
# (switchyard-bench-engine --model, 1 thread) in one run; then bench/out/compression/tables.md (the tables of
# bench/RESULTS-compression.md).
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
# quality is deterministic: the debug yard the tests build does; timing needs the release engine benchmark
swift build --product yard >/dev/null
yard="$(swift build --show-bin-path)/yard"
swift build -c release --product switchyard-bench-engine >/dev/null
bench_engine="$(swift build -c release --show-bin-path)/switchyard-bench-engine"
if [ "$make_models" = 1 ]; then
  "$python" tools/make_compression_bench_models.py --out bench/out/compression ${only[@]:+--only "${only[@]}"}
fi
"$python" bench/compression.py --yard "$yard" --bench-engine "$bench_engine" --python "$python" --models bench/out/compression \
  ${only[@]:+--only "${only[@]}"} "${seconds[@]}"
