#!/usr/bin/env python3
"""onnxruntime's side of the compression tools: its quantizer on the same model, and runs of any model in onnxruntime.

    # onnxruntime's quantizer, to compare with `yard quantize` (same options as far as they map)
    python3 tools/compress_onnxruntime.py quantize --mode dynamic --model M.onnx --out ORT.onnx [--per-tensor]
    python3 tools/compress_onnxruntime.py quantize --mode static --model M.onnx --out ORT.onnx --calibration X.npy

    # run a model (ours or onnxruntime's) in onnxruntime: top-1 classes, accuracy against labels, agreement with
    # another model's classes; prints and writes JSON
    python3 tools/compress_onnxruntime.py run --model M.onnx --x X.npy [--y Y.npy] [--output NAME] [--json OUT]
        [--save-outputs OUT.npy]   (the output's values for every row, for tests that compare values)

The Swift tests call `run` to check that what `yard quantize`/`prune`/`convert` write is standard ONNX that
onnxruntime loads and answers with the same classes. The product never needs Python.
"""
import argparse
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort


def session(path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def classes(path, x, output):
    s = session(path)
    name = s.get_inputs()[0].name
    outputs = [o.name for o in s.get_outputs()]
    if output is None:
        labels = [o for o in s.get_outputs() if o.type in ("tensor(int64)", "tensor(int32)") and len(o.shape) == 1]
        floats = [o for o in s.get_outputs() if o.type == "tensor(float)"]
        output = (labels or floats)[0].name
    result = []
    for start in range(0, len(x), 64):
        value = s.run([output], {name: x[start:start + 64]})[0]
        value = np.asarray(value)
        result.append(value.reshape(len(value)) if value.ndim == 1 else value.reshape(len(value), -1).argmax(axis=1))
    return np.concatenate(result).astype(np.int64), output, outputs


def run(args):
    x = np.load(args.x).astype(np.float32)
    predicted, output, outputs = classes(args.model, x, args.output)
    report = {"model": args.model, "output": output, "outputs": outputs, "rows": int(len(x)),
              "onnxruntime": ort.__version__, "classes": predicted.tolist()}
    if args.y:
        y = np.load(args.y).astype(np.int64)
        report["accuracy"] = float(np.mean(predicted == y))
    if args.reference:
        reference, _, _ = classes(args.reference, x, args.output)
        report["agreement"] = float(np.mean(predicted == reference))
    if args.save_outputs:
        s = session(args.model)
        name = s.get_inputs()[0].name
        values = [s.run([output], {name: x[start:start + 64]})[0] for start in range(0, len(x), 64)]
        np.save(args.save_outputs, np.concatenate(values))
    summary = {k: v for k, v in report.items() if k != "classes"}
    print(json.dumps(summary))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f)


class Rows:
    """A CalibrationDataReader over the rows of one .npy file, 64 at a time."""

    def __init__(self, model, path):
        self.name = session(model).get_inputs()[0].name
        self.x = np.load(path).astype(np.float32)
        self.start = 0

    def get_next(self):
        if self.start >= len(self.x):
            return None
        batch = self.x[self.start:self.start + 64]
        self.start += 64
        return {self.name: batch}

    def rewind(self):
        self.start = 0


def quantize(args):
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType, quantize_dynamic,
                                          quantize_static)
    per_channel = not args.per_tensor
    if args.mode == "dynamic":
        # Conv becomes ConvInteger (onnxruntime writes one weight scale per Conv whatever per_channel says)
        quantize_dynamic(args.model, args.out, weight_type=QuantType.QInt8, per_channel=per_channel,
                         op_types_to_quantize=["MatMul", "Gemm", "Conv"])
    else:
        if not args.calibration:
            sys.exit("--mode static needs --calibration X.npy")
        method = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
                  "entropy": CalibrationMethod.Entropy}[args.method]
        quantize_static(args.model, args.out, Rows(args.model, args.calibration), quant_format=QuantFormat.QDQ,
                        per_channel=per_channel, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        op_types_to_quantize=["MatMul", "Gemm", "Conv"], calibrate_method=method)
    onnx.checker.check_model(onnx.load(args.out))
    print(json.dumps({"wrote": args.out, "mode": args.mode, "per_channel": per_channel,
                      "onnxruntime": ort.__version__}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    q = commands.add_parser("quantize")
    q.add_argument("--mode", choices=["dynamic", "static"], required=True)
    q.add_argument("--model", required=True)
    q.add_argument("--out", required=True)
    q.add_argument("--calibration")
    q.add_argument("--method", choices=["minmax", "percentile", "entropy"], default="minmax")
    q.add_argument("--per-tensor", action="store_true")
    r = commands.add_parser("run")
    r.add_argument("--model", required=True)
    r.add_argument("--x", required=True)
    r.add_argument("--y")
    r.add_argument("--reference", help="another model whose classes are compared")
    r.add_argument("--output")
    r.add_argument("--json")
    r.add_argument("--save-outputs", help="write the output's values for every row to this .npy file")
    args = parser.parse_args()
    (quantize if args.command == "quantize" else run)(args)


if __name__ == "__main__":
    main()
