#!/usr/bin/env python3
"""Runs the compression tools on the bench models and writes bench/out/compression/tables.md (bench/compression.sh).

Quality and size come from the tools' reports (`yard quantize/prune/convert --report`, any build: they are
deterministic); speed comes from the release engine benchmark (`switchyard-bench-engine --model`, one thread, random
inputs) run on every model file, originals and onnxruntime's quantizer's models alike, in this one run.
"""
import argparse
import datetime
import json
import os
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
    sys.stdout.write(result.stdout[-3000:])
    if result.returncode != 0:
        sys.stderr.write(result.stderr[-4000:])
        raise SystemExit(f"failed: {' '.join(command)}")
    return result.stdout


def run_model(args, name, log):
    """The compressed models of one bench model: [(label, report model entry, model file)]."""
    folder = os.path.join(args.models, name)
    model = os.path.join(folder, "1", "model.onnx")
    out = os.path.join(folder, "runs")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    x_test = os.path.join(folder, "x_test.npy")
    y_test = os.path.join(folder, "y_test.npy")
    calibration = os.path.join(folder, "x_calibration.npy")
    common = ["--validate", x_test] + ([y_test] if os.path.exists(y_test) else []) + ["--bench-seconds", "0"]
    rows = []

    def report(path):
        return json.load(open(path))

    for mode in ["dynamic", "static"]:
        ort = os.path.join(out, f"onnxruntime-{mode}", "model.onnx")
        os.makedirs(os.path.dirname(ort))
        sh([args.python, "tools/compress_onnxruntime.py", "quantize", "--mode", mode, "--model", model, "--out", ort]
           + (["--calibration", calibration] if mode == "static" else []), log)
        path = os.path.join(out, f"{mode}.json")
        sh([args.yard, "quantize", model, "--mode", mode, "--out", os.path.join(out, mode), "--report", path,
            "--compare", f"onnxruntime={ort}"] + (["--calibration", calibration] if mode == "static" else []) + common,
           log)
        r = report(path)
        if not rows:
            rows.append(("f32 original", r["models"][0], model, r))
        rows.append((f"{mode} int8 (yard)", r["models"][1], os.path.join(out, mode, "model.onnx"), r))
        rows.append((f"{mode} int8 (onnxruntime)", r["models"][2], ort, r))
    if name in MLPS:
        path = os.path.join(out, "prune.json")
        sh([args.yard, "prune", model, "--sparsity", "0.5", "--calibration", calibration, "--out",
            os.path.join(out, "prune"), "--report", path] + common, log)
        r = report(path)
        rows.append(("pruned 50% (yard)", r["models"][1], os.path.join(out, "prune", "model.onnx"), r))
    path = os.path.join(out, "fp16.json")
    sh([args.yard, "convert", model, "--fp16", "--out", os.path.join(out, "fp16"), "--report", path] + common, log)
    r = report(path)
    rows.append(("fp16 weights (yard)", r["models"][1], os.path.join(out, "fp16", "model.onnx"), r))
    return rows


def time_model(args, path, log):
    """{batch: p50 ms} from the release engine benchmark."""
    output = path + ".timing.json"
    sh([args.bench_engine, "--threads", "1", "--model", path, "--batches", "1,64", "--seconds", str(args.seconds),
        "--json", output], log)
    return {entry["batch"]: entry["engine_p50_ms"] for entry in json.load(open(output))}


def time_interleaved(args, rows, log):
    """{path: {batch: p50 ms}}: the files of one bench model timed one after another, in `--rounds` rounds, so that
    the host's load falls on all of them; each file's p50 is the median of its rounds, and each row's ratio to the
    f32 original the median of the per-round ratios (``ratios``)."""
    rounds = []
    for _ in range(args.rounds):
        rounds.append({path: time_model(args, path, log) for _, _, path, _ in rows})
    base = rows[0][2]
    median = lambda values: sorted(values)[len(values) // 2]
    timings = {path: {b: median([r[path][b] for r in rounds]) for b in (1, 64)} for _, _, path, _ in rows}
    ratios = {path: {b: median([r[base][b] / r[path][b] for r in rounds]) for b in (1, 64)}
              for _, _, path, _ in rows}
    return timings, ratios


def fmt(value, pattern):
    return "-" if value is None else pattern % value


def table(name, rows, timings, ratios):
    first = rows[0][3]
    quality = "accuracy" if first["labelled"] else "top-1 agreement with the f32 model"
    lines = [f"### {name}", "",
             f"{first['rows']} test rows, {quality} on output `{first['output']}`; engine p50 latency at batch 1 and "
             "rows/s at the p50 of batch 64, 1 thread; × against the f32 original: the median of "
             "per-round ratios (files timed in turn, round after round)", "",
             "| model | weights | × smaller | accuracy | Δ pts | agreement | b1 ms | b1 × | b64 rows/s | b64 × |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    base = rows[0][1]
    for label, entry, path, _ in rows:
        t = timings[path]
        x = ratios[path]
        delta = None
        if entry.get("accuracy") is not None and base.get("accuracy") is not None:
            delta = (entry["accuracy"] - base["accuracy"]) * 100
        lines.append("| " + " | ".join([
            label, f"{entry['weight_bytes'] / 1024:.1f} KiB", f"{base['weight_bytes'] / entry['weight_bytes']:.2f}",
            fmt(entry.get("accuracy"), "%.4f"), fmt(delta, "%+.2f"), fmt(entry.get("agreement"), "%.4f"),
            f"{t[1]:.3f}", f"{x[1]:.2f}", f"{64 / t[64] * 1e3:.0f}", f"{x[64]:.2f}"])
            + " |")
    lines.append("")
    return lines


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--yard", required=True)
    parser.add_argument("--bench-engine")
    parser.add_argument("--python", required=True)
    parser.add_argument("--models", required=True)
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds over each model's files")
    parser.add_argument("--quality-only", action="store_true", help="run the tools, save their rows, time nothing")
    parser.add_argument("--reuse-quality", action="store_true", help="time the models of an earlier --quality-only")
    parser.add_argument("--results", default=os.path.join(ROOT, "bench", "out", "compression", "tables.md"))
    args = parser.parse_args()
    log = []
    names = [n for n in MODELS if not args.only or n in args.only]
    saved = os.path.join(args.models, "quality.json")
    if args.reuse_quality:
        stored = json.load(open(saved))
        results, log = {name: [tuple(row) for row in stored["results"][name]] for name in names}, stored["log"]
    else:
        results = {name: run_model(args, name, log) for name in names}
        json.dump({"results": results, "log": log}, open(saved, "w"))
    if args.quality_only:
        return
    # every model's files timed in turn, round after round, after all the compression work
    load_before = open("/proc/loadavg").read().split()[:3]
    timed = {name: time_interleaved(args, rows, log) for name, rows in results.items()}
    machine = next(iter(results.values()))[0][3]["machine"]
    load = open("/proc/loadavg").read().split()[:3]
    banner = subprocess.run([args.bench_engine, "--threads", "1", "--model", results[names[0]][0][2], "--batches", "1",
                             "--seconds", "0.1"], capture_output=True, text=True).stdout.splitlines()
    engine_line = next((line for line in banner if "OpenBLAS" in line), "")
    lines = ["# Compression tables", "",
             f"Measured {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} by "
             f"`bash bench/compression.sh` on {machine.get('cpu')} ({machine.get('cpu_features', '')}); OpenBLAS core "
             f"{machine.get('blas_core')}, 1 thread; load average before timing {' '.join(load_before)}, at the end "
             f"{' '.join(load)}.", "", f"Engine: `{engine_line}`", ""]
    for name, rows in results.items():
        lines += table(name, rows, *timed[name])
    lines += ["## Commands", "", "```"] + log + ["```", ""]
    with open(args.results, "w") as f:
        f.write("\n".join(lines))
    print("wrote", args.results)


if __name__ == "__main__":
    main()
