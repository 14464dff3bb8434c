"""onnxruntime's time per operator type for a model (SessionOptions.enable_profiling), to set beside a `perf` profile
of the engine on the same model:

    python tools/ort_op_profile.py --threads 1 --batch 1 --runs 20 bench/out/zoo/resnet18/model.onnx
"""
import argparse
import collections
import json
import os
import tempfile

import numpy as np
import onnxruntime as ort

from bench_models import feeds


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.enable_profiling = True
    options.profile_file_prefix = os.path.join(tempfile.mkdtemp(), "ort")
    session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    inputs = feeds(session, args.batch)
    for _ in range(3):
        session.run(None, inputs)
    path = session.end_profiling()
    # The warm-up runs are profiled too; a second session profiles only the measured runs.
    session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    session.run(None, inputs)
    for _ in range(args.runs):
        session.run(None, inputs)
    path = session.end_profiling()
    with open(path) as handle:
        events = json.load(handle)
    per_op = collections.defaultdict(float)
    count = collections.defaultdict(int)
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            op = event["args"].get("op_name", "?")
            per_op[op] += event["dur"]
            count[op] += 1
    total = sum(per_op.values())
    runs = args.runs + 1
    print(f"onnxruntime {ort.__version__}, {args.model}, batch {args.batch}, {args.threads} thread(s): "
          f"{total / runs / 1e3:.2f} ms of kernels per run")
    for op, micros in sorted(per_op.items(), key=lambda item: -item[1]):
        print(f"  {op:28s} {micros / runs / 1e3:8.2f} ms  {100 * micros / total:5.1f}%  ({count[op] // runs} nodes)")


if __name__ == "__main__":
    main()
