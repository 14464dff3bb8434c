#!/usr/bin/env bash
# Compression benchmark: every model of tools/make_compression_bench_models.py through `yard quantize` (dynamic and
# static), `yard prune` and `yard convert`, each report holding the original, the compressed model and onnxruntime's
# quantizer's model (tools/compress_onnxruntime.py) side by side, measured in one run of our engine (release build,
# 1 thread); then bench/out/compression/tables.md from the reports (the tables of bench/RESULTS-compression.md).
#   bash bench/compression.sh [--only NAME ...] [--seconds S]
set -euo pipefail
cd "$(dirname "$0")/.."
python=$(bash ops/python-env.sh | tail -n 1)
swift build -c release --product yard >/dev/null
yard="$(swift build -c release --show-bin-path)/yard"
"$python" tools/make_compression_bench_models.py --out bench/out/compression "$@"
"$python" bench/compression.py --yard "$yard" --python "$python" --models bench/out/compression "$@"
