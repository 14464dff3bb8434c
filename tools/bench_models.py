"""onnxruntime's side of the model benchmark: the same ONNX files, inputs made the same way as
`switchyard-bench-engine --model` makes them, same thread count, p50 latency per batch size.

    python tools/bench_models.py --threads 1 --batches 1,8 --seconds 3 bench/out/zoo/resnet18/model.onnx ...
"""
import argparse
import json
import time

import numpy as np
import onnxruntime as ort


def feeds(session, batch):
    result = {}
    rng = np.random.default_rng(1)
    for info in session.get_inputs():
        dims = [batch if i == 0 else (d if isinstance(d, int) else 128) for i, d in enumerate(info.shape)]
        if info.type == "tensor(int64)":
            result[info.name] = np.ones(dims, np.int64) if "mask" in info.name.lower() else rng.integers(0, 100, dims).astype(np.int64)
        else:
            result[info.name] = rng.uniform(-1, 1, dims).astype(np.float32)
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("models", nargs="+")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--json")
    args = parser.parse_args()
    records = []
    print("| model | batch | onnxruntime p50 ms | onnxruntime mean ms |")
    print("| --- | ---: | ---: | ---: |")
    for path in args.models:
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        name = path.rstrip("/").split("/")[-2]
        for batch in [int(b) for b in args.batches.split(",")]:
            inputs = feeds(session, batch)
            warm = time.perf_counter() + 0.3
            while time.perf_counter() < warm:
                session.run(None, inputs)
            latencies = []
            end = time.perf_counter() + args.seconds
            while time.perf_counter() < end or len(latencies) < 10:
                start = time.perf_counter()
                session.run(None, inputs)
                latencies.append(time.perf_counter() - start)
            p50 = float(np.median(latencies)) * 1e3
            mean = float(np.mean(latencies)) * 1e3
            print(f"| {name} | {batch} | {p50:.2f} | {mean:.2f} |", flush=True)
            records.append({"model": name, "batch": batch, "threads": args.threads, "onnxruntime_p50_ms": p50, "onnxruntime_mean_ms": mean})
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(records, handle, indent=1)


if __name__ == "__main__":
    main()
