#!/usr/bin/env python3
"""Runs the compression tools on the bench models and writes bench/RESULTS-compression.md (bench/compression.sh)."""
import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
MODELS = ["digits", "mnist_mlp", "resnet18", "bert_like"]
MLPS = {"digits", "mnist_mlp"}


def sh(command, log):
    log.append(" ".join(command))
    print("$", " ".join(command), flush=True)
    result = subprocess.run(command, capture_output=True, text=True)
    sys.stdout.write(result.stdout[-4000:])
    if result.returncode != 0:
        sys.stderr.write(result.stderr[-4000:])
        raise SystemExit(f"failed: {' '.join(command)}")
    return result.stdout


def run_model(args, name, log):
    folder = os.path.join(args.models, name)
    model = os.path.join(folder, "1", "model.onnx")
    out = os.path.join(folder, "runs")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    x_test = os.path.join(folder, "x_test.npy")
    y_test = os.path.join(folder, "y_test.npy")
    calibration = os.path.join(folder, "x_calibration.npy")
    validate = ["--validate", x_test] + ([y_test] if os.path.exists(y_test) else [])
    common = validate + ["--bench-seconds", str(args.seconds), "--batches", "1,64"]
    reports = {}
    ort = os.path.join(out, "onnxruntime-dynamic.onnx")
    sh([args.python, "tools/compress_onnxruntime.py", "quantize", "--mode", "dynamic", "--model", model, "--out", ort], log)
    report = os.path.join(out, "dynamic.json")
    sh([args.yard, "quantize", model, "--mode", "dynamic", "--out", os.path.join(out, "dynamic"), "--report", report,
        "--compare", f"onnxruntime={ort}"] + common, log)
    reports["dynamic int8"] = report
    ort = os.path.join(out, "onnxruntime-static.onnx")
    sh([args.python, "tools/compress_onnxruntime.py", "quantize", "--mode", "static", "--model", model, "--out", ort,
        "--calibration", calibration], log)
    report = os.path.join(out, "static.json")
    sh([args.yard, "quantize", model, "--mode", "static", "--calibration", calibration, "--out",
        os.path.join(out, "static"), "--report", report, "--compare", f"onnxruntime={ort}"] + common, log)
    reports["static int8 (QDQ, min-max)"] = report
    if name in MLPS:
        report = os.path.join(out, "prune.json")
        sh([args.yard, "prune", model, "--sparsity", "0.5", "--calibration", calibration, "--out",
            os.path.join(out, "prune"), "--report", report] + common, log)
        reports["pruned 50%"] = report
    report = os.path.join(out, "fp16.json")
    sh([args.yard, "convert", model, "--fp16", "--out", os.path.join(out, "fp16"), "--report", report] + common, log)
    reports["fp16 weights"] = report
    return {label: json.load(open(path)) for label, path in reports.items()}


def fmt(value, pattern):
    return "-" if value is None else pattern % value


def table(name, results):
    lines = [f"### {name}", ""]
    first = next(iter(results.values()))
    labelled = first["labelled"]
    quality = "accuracy" if labelled else "top-1 agreement"
    lines.append(f"{first['rows']} rows, {quality} on output `{first['output']}`; engine rows/s at the median latency, "
                 "1 thread; × = against the f32 original in the same report")
    lines.append("")
    lines.append("| tool | model | weights | × smaller | accuracy | Δ pts | agreement | b1 µs | b1 × | b64 rows/s | b64 × |")
    lines.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label, report in results.items():
        models = report["models"]
        base = models[0]
        for model in models:
            latency = {m["batch"]: m for m in model["latency"]}
            base_latency = {m["batch"]: m for m in base["latency"]}
            b1, b64 = latency.get(1), latency.get(64)
            speed1 = base_latency[1]["p50_microseconds"] / b1["p50_microseconds"] if b1 else None
            speed64 = b64["rows_per_second"] / base_latency[64]["rows_per_second"] if b64 else None
            delta = None
            if model.get("accuracy") is not None and base.get("accuracy") is not None:
                delta = (model["accuracy"] - base["accuracy"]) * 100
            lines.append("| " + " | ".join([
                label if model is models[1] else ("" if model is not base else label + " (f32 baseline)"),
                model["name"], f"{model['weight_bytes'] / 1024:.1f} KiB",
                f"{base['weight_bytes'] / model['weight_bytes']:.2f}", fmt(model.get("accuracy"), "%.4f"),
                fmt(delta, "%+.2f"), fmt(model.get("agreement"), "%.4f"), fmt(b1 and b1["p50_microseconds"], "%.1f"),
                fmt(speed1, "%.2f"), fmt(b64 and b64["rows_per_second"], "%.0f"), fmt(speed64, "%.2f")]) + " |")
    lines.append("")
    return lines


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--yard", required=True)
    parser.add_argument("--python", required=True)
    parser.add_argument("--models", required=True)
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--results", default=os.path.join(ROOT, "bench", "out", "compression", "tables.md"))
    args = parser.parse_args()
    log = []
    names = [n for n in MODELS if not args.only or n in args.only]
    results = {name: run_model(args, name, log) for name in names}
    machine = next(iter(next(iter(results.values())).values()))["machine"]
    load = open("/proc/loadavg").read().split()[:3]
    lines = ["# Compression results", "",
             f"Measured {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} by "
             f"`bash bench/compression.sh` on {machine.get('cpu', platform.processor())} "
             f"({machine.get('cpu_features', '')}); OpenBLAS core {machine.get('blas_core')}, "
             f"{machine.get('blas_threads')} thread; load average at the end {' '.join(load)} (a shared 2-vCPU host).",
             ""]
    for name, result in results.items():
        lines += table(name, result)
    lines += ["## Commands", "", "```"] + log + ["```", ""]
    with open(args.results, "w") as f:
        f.write("\n".join(lines))
    print("wrote", args.results)


if __name__ == "__main__":
    main()
