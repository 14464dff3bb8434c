#!/usr/bin/env bash
# Latency of real models, the engine against onnxruntime in the same run with the same thread count:
# switchyard-bench-engine --model and tools/bench_models.py on the same ONNX files and inputs.
# The models come from bench/zoo.sh (bench/out/zoo/<name>/model.onnx).
#   bash bench/models.sh [MODEL ...]          (default: resnet18 mobilenet_v2 bert_base_like)
# CONV_BASELINE=yes also times the engine with its convolutions on im2col over OpenBLAS (--conv im2col), in the
# same run, for the measurement behind running them on oneDNN.
set -euo pipefail
cd "$(dirname "$0")/.."
models=("${@:-resnet18 mobilenet_v2 bert_base_like}")
[ $# -eq 0 ] && models=(resnet18 mobilenet_v2 bert_base_like)
python=${PYTHON:-bench/out/zoo-venv/bin/python}
swift build -c release --product switchyard-bench-engine >/dev/null
bin=$(swift build -c release --show-bin-path)
echo "# $(lscpu | grep 'Model name' | sed 's/ \+/ /g'); load average $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%FT%TZ)"
for threads in 1 2; do
  for model in "${models[@]}"; do
    path=bench/out/zoo/$model/model.onnx
    "$bin/switchyard-bench-engine" --model "$path" --threads "$threads" --batches 1,8 --seconds "${SECONDS_PER_CASE:-3}" \
      --json "bench/out/engine-$model-t$threads.json" | tail -n +2
    if [ "${CONV_BASELINE:-no}" = yes ]; then
      "$bin/switchyard-bench-engine" --model "$path" --threads "$threads" --batches 1,8 --conv im2col \
        --seconds "${SECONDS_PER_CASE:-3}" --json "bench/out/engine-im2col-$model-t$threads.json" | tail -n +3
    fi
    "$python" tools/bench_models.py --threads "$threads" --batches 1,8 --seconds "${SECONDS_PER_CASE:-3}" "$path" \
      --json "bench/out/onnxruntime-$model-t$threads.json"
  done
done
