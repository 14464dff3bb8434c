#!/usr/bin/env python3
"""int8 against f32 on the engine: a transformer feed-forward stack (768 → 3072 → 768, GELU-free so the engine on
main runs it) in f32 and as onnxruntime's `quantize_dynamic` writes it (DynamicQuantizeLinear + MatMulInteger).
Both models through `yard model bench` and onnxruntime, same run, same threads; batch = tokens (sequence rows).

    bash bench/int8.sh                 # THREADS=2 for two threads
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tabular import onnxruntime_rates  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def ffn(layers, width, hidden):
    rng = np.random.default_rng(0)
    nodes, inits = [], []
    current = "x"
    for layer in range(layers):
        w1 = (rng.normal(size=(width, hidden)) / np.sqrt(width)).astype(np.float32)
        w2 = (rng.normal(size=(hidden, width)) / np.sqrt(hidden)).astype(np.float32)
        b1 = (rng.normal(size=hidden) * 0.1).astype(np.float32)
        b2 = (rng.normal(size=width) * 0.1).astype(np.float32)
        p = f"l{layer}_"
        inits += [numpy_helper.from_array(w1, p + "w1"), numpy_helper.from_array(b1, p + "b1"),
                  numpy_helper.from_array(w2, p + "w2"), numpy_helper.from_array(b2, p + "b2")]
        nodes += [helper.make_node("MatMul", [current, p + "w1"], [p + "h"]),
                  helper.make_node("Add", [p + "h", p + "b1"], [p + "hb"]),
                  helper.make_node("Relu", [p + "hb"], [p + "a"]),
                  helper.make_node("MatMul", [p + "a", p + "w2"], [p + "o"]),
                  helper.make_node("Add", [p + "o", p + "b2"], [p + "ob"]),
                  helper.make_node("Add", [p + "ob", current], [p + "y"])]
        current = p + "y"
    graph = helper.make_graph(nodes, "ffn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", width])],
                              [helper.make_tensor_value_info(current, TensorProto.FLOAT, ["N", width])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--yard", default=os.path.join(ROOT, ".build", "release", "yard"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--batches", default="1,128")
    parser.add_argument("--layers", type=int, default=2)
    args = parser.parse_args()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out = os.path.join(ROOT, "bench", "out", "int8")
    os.makedirs(out, exist_ok=True)
    f32 = os.path.join(out, "ffn-f32.onnx")
    i8 = os.path.join(out, "ffn-int8-dynamic.onnx")
    onnx.save(ffn(args.layers, 768, 3072), f32)
    quantize_dynamic(f32, i8, weight_type=QuantType.QInt8)
    batches = [int(b) for b in args.batches.split(",")]
    rates = {}
    for name, path in [("f32", f32), ("int8", i8)]:
        report = os.path.join(out, f"{name}-engine.json")
        run = subprocess.run([args.yard, "model", "bench", path, "--batch", args.batches, "--threads",
                              str(args.threads), "--seconds", str(args.seconds), "--json", report],
                             capture_output=True, text=True)
        if run.returncode != 0:
            print(f"engine failed on {name}: {run.stderr.strip()}")
            return 1
        core = run.stdout.splitlines()[0]
        engine = {entry["batch"]: entry["rows_per_s_p50"] for entry in json.load(open(report))}
        version, theirs = onnxruntime_rates(path, batches, args.threads, args.seconds)
        rates[name] = (engine, {b: theirs[b]["rows_per_s_p50"] for b in batches})
    print(f"{args.layers} feed-forward layers 768-3072-768 (residual), onnxruntime {version}, {args.threads} thread(s)")
    print(core.split(": ", 1)[1])
    print()
    print("| batch (tokens) | engine f32 rows/s | engine int8 rows/s | engine int8 / f32 | onnxruntime f32 | onnxruntime int8 |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for batch in batches:
        f, q = rates["f32"][0][batch], rates["int8"][0][batch]
        print(f"| {batch} | {f:.0f} | {q:.0f} | {q / f:.2f} | {rates['f32'][1][batch]:.0f} | {rates['int8'][1][batch]:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
