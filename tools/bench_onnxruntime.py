#!/usr/bin/env python3
"""onnxruntime on the same models, batch sizes and thread count as switchyard-bench-engine.

    .build/release/yard model synth --layers 784,512,512,10 --seed 1 --out bench/out/synth-784-512-512-10.onnx
    python3 tools/bench_onnxruntime.py --threads 1 --synth bench/out/synth-784-512-512-10.onnx

Measures `InferenceSession.run` per call (Python overhead included; it is a few microseconds, stated
in the output as the cost of an empty call), with intra- and inter-op threads pinned to --threads.
"""
import argparse
import json
import time

import numpy as np


def measure(function, seconds):
    end = time.perf_counter() + 0.2
    while time.perf_counter() < end:
        function()
    latencies = []
    start = time.perf_counter()
    end = start + seconds
    while time.perf_counter() < end or len(latencies) < 20:
        before = time.perf_counter()
        function()
        latencies.append(time.perf_counter() - before)
    return time.perf_counter() - start, np.array(latencies)


def main():
    import onnxruntime as ort

    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=1.5)
    parser.add_argument("--batches", default="1,8,64,256")
    parser.add_argument("--synth", default="bench/out/synth-784-512-512-10.onnx")
    parser.add_argument("--digits", default="models/digits/1/model.onnx")
    parser.add_argument("--json")
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    rng = np.random.default_rng(0)
    print(f"onnxruntime {ort.__version__}; intra_op_num_threads={args.threads}")
    print()
    print("| model | batch | onnxruntime rows/s | rows/s at p50 | p50 µs | p99 µs |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    records = []
    for name, path in [("synth 784-512-512-10", args.synth), ("digits 64-128-64-10", args.digits)]:
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        feed_name = session.get_inputs()[0].name
        features = session.get_inputs()[0].shape[1]
        for batch in batches:
            feed = {feed_name: rng.uniform(0, 16, size=(batch, features)).astype(np.float32)}
            total, latencies = measure(lambda: session.run(None, feed), args.seconds)
            rate = batch * len(latencies) / total
            p50, p99 = np.percentile(latencies, 50) * 1e6, np.percentile(latencies, 99) * 1e6
            print(f"| {name} | {batch} | {rate:.0f} | {batch / p50 * 1e6:.0f} | {p50:.1f} | {p99:.1f} |")
            records.append({"model": name, "batch": batch, "threads": args.threads, "ort_rows_per_s": rate,
                            "ort_rows_per_s_p50": batch / p50 * 1e6, "ort_p50_us": p50, "ort_p99_us": p99})
    _, empty = measure(lambda: None, 0.2)
    print(f"\n(Python call overhead of an empty call: {np.percentile(empty, 50) * 1e6:.2f} µs)")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(records, handle, indent=1)


if __name__ == "__main__":
    main()
