#!/usr/bin/env bash
# Latency of real models, the engine against onnxruntime in the same run with the same thread count:
# switchyard-bench-engine --model and tools/bench_models.py on the same ONNX files and inputs, interleaved
# (engine, onnxruntime, engine, onnxruntime, ... ROUNDS times per model and thread count) so that load from other
# processes hits both sides. Each line carries the load average at its start.
# The models come from bench/zoo.sh (bench/out/zoo/<name>/model.onnx).
#   bash bench/models.sh [MODEL ...]          (default: resnet18 mobilenet_v2 bert_base_like)
# ROUNDS (2), SECONDS_PER_CASE (3), THREADS ("1 2"), BATCHES (1,8).
# BEFORE=path/to/an/older/switchyard-bench-engine also times that binary in each round (before/after in one run).
# CONV_BASELINE=yes also times the engine with its convolutions on im2col over OpenBLAS (--conv im2col).
# REALTIME=yes runs every timed command at SCHED_FIFO priority (chrt -f 10; needs root): on a host shared with builds
# both sides then see an almost idle machine (the kernel still leaves others 5% of each second).
set -euo pipefail
cd "$(dirname "$0")/.."
models=("$@")
[ $# -eq 0 ] && models=(resnet18 mobilenet_v2 bert_base_like)
python=${PYTHON:-bench/out/zoo-venv/bin/python}
[ -x "$python" ] || python=.venv/bin/python
swift build -c release --product switchyard-bench-engine >/dev/null
bin=$(swift build -c release --show-bin-path)
seconds=${SECONDS_PER_CASE:-3}
batches=${BATCHES:-1,8}
load() { cut -d' ' -f1-3 /proc/loadavg; }
rt=()
[ "${REALTIME:-no}" = yes ] && rt=(chrt -f 10)
echo "# $(lscpu | grep 'Model name' | sed 's/ \+/ /g'); $(nproc) CPUs; $(date -u +%FT%TZ)"
"$bin/switchyard-bench-engine" --model "bench/out/zoo/${models[0]}/model.onnx" --batches 1 --seconds 0.1 | head -1
for threads in ${THREADS:-1 2}; do
  for model in "${models[@]}"; do
    path=bench/out/zoo/$model/model.onnx
    for round in $(seq 1 "${ROUNDS:-2}"); do
      tag="$model t$threads r$round"
      echo "## $tag engine (load $(load))"
      "${rt[@]}" "$bin/switchyard-bench-engine" --model "$path" --threads "$threads" --batches "$batches" --seconds "$seconds" \
        --json "bench/out/engine-$model-t$threads-r$round.json" | tail -n +5
      if [ -n "${BEFORE:-}" ]; then
        echo "## $tag before (load $(load))"
        "${rt[@]}" "$BEFORE" --model "$path" --threads "$threads" --batches "$batches" --seconds "$seconds" \
          --json "bench/out/before-$model-t$threads-r$round.json" | tail -n +5
      fi
      if [ "${CONV_BASELINE:-no}" = yes ]; then
        echo "## $tag engine --conv im2col (load $(load))"
        "${rt[@]}" "$bin/switchyard-bench-engine" --model "$path" --threads "$threads" --batches "$batches" --conv im2col \
          --seconds "$seconds" --json "bench/out/engine-im2col-$model-t$threads-r$round.json" | tail -n +5
      fi
      echo "## $tag onnxruntime (load $(load))"
      "${rt[@]}" "$python" tools/bench_models.py --threads "$threads" --batches "$batches" --seconds "$seconds" "$path" \
        --json "bench/out/onnxruntime-$model-t$threads-r$round.json" | tail -n +3
    done
  done
done
