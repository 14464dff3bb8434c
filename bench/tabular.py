#!/usr/bin/env python3
"""Tree ensembles and other tabular models: the engine (`yard model bench`) against onnxruntime, same run, same
threads, same batch sizes. Writes bench/out/tabular-t<N>.json and prints a markdown table.

    bash bench/tabular.sh                  # builds yard (release), makes the models, measures
    THREADS=2 bash bench/tabular.sh
"""
import argparse
import json
import os
import subprocess
import time

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def make_models(directory):
    """300-tree depth-8 ensembles as scikit-learn, XGBoost and LightGBM export them."""
    from sklearn.datasets import make_classification, make_regression
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from skl2onnx import to_onnx

    os.makedirs(directory, exist_ok=True)
    models = {}
    x, y = make_classification(n_samples=4000, n_features=20, n_informative=12, random_state=0)
    x = x.astype(np.float32)
    xm, ym = make_classification(n_samples=4000, n_features=20, n_informative=12, n_classes=5, random_state=1)
    xm = xm.astype(np.float32)
    xr, yr = make_regression(n_samples=4000, n_features=20, random_state=2)
    xr = xr.astype(np.float32)

    def save(name, onx):
        path = os.path.join(directory, name + ".onnx")
        with open(path, "wb") as handle:
            handle.write(onx.SerializeToString())
        models[name] = path

    target = {"": 17, "ai.onnx.ml": 3}
    rf = RandomForestClassifier(n_estimators=300, max_depth=8, random_state=0, n_jobs=2).fit(x, y)
    save("rf300-d8-binary", to_onnx(rf, x[:1], target_opset=target, options={id(rf): {"zipmap": False}}))
    rfm = RandomForestClassifier(n_estimators=300, max_depth=8, random_state=0, n_jobs=2).fit(xm, ym)
    save("rf300-d8-5class", to_onnx(rfm, xm[:1], target_opset=target, options={id(rfm): {"zipmap": False}}))
    rfr = RandomForestRegressor(n_estimators=300, max_depth=8, random_state=0, n_jobs=2).fit(xr, yr)
    save("rf300-d8-regressor", to_onnx(rfr, xr[:1], target_opset=target))
    try:
        import xgboost
        from onnxmltools import convert_xgboost
        from onnxmltools.convert.common.data_types import FloatTensorType

        xgb = xgboost.XGBClassifier(n_estimators=300, max_depth=8, n_jobs=2, random_state=0).fit(x, y)
        save("xgb300-d8-binary", convert_xgboost(xgb, initial_types=[("x", FloatTensorType([None, 20]))],
                                                 target_opset=15))
    except ImportError:
        print("xgboost or onnxmltools missing: skipped")
    try:
        import lightgbm
        from onnxmltools import convert_lightgbm
        from onnxmltools.convert.common.data_types import FloatTensorType

        lgb = lightgbm.LGBMClassifier(n_estimators=300, max_depth=8, num_leaves=255, verbose=-1,
                                      random_state=0).fit(x, y)
        save("lgbm300-d8-binary", convert_lightgbm(lgb, initial_types=[("x", FloatTensorType([None, 20]))],
                                                   target_opset=15, zipmap=False))
    except ImportError:
        print("lightgbm or onnxmltools missing: skipped")
    return models


def onnxruntime_rates(path, batches, threads, seconds):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    features = session.get_inputs()[0].shape[1]
    rng = np.random.default_rng(1)
    result = {}
    for batch in batches:
        feed = {name: rng.normal(size=(batch, features)).astype(np.float32)}
        end = time.perf_counter() + 0.2
        while time.perf_counter() < end:
            session.run(None, feed)
        latencies = []
        start = time.perf_counter()
        while time.perf_counter() < start + seconds or len(latencies) < 20:
            before = time.perf_counter()
            session.run(None, feed)
            latencies.append(time.perf_counter() - before)
        p50 = float(np.percentile(latencies, 50))
        result[batch] = {"rows_per_s_p50": batch / p50, "p50_us": p50 * 1e6}
    return ort.__version__, result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--yard", default=os.path.join(ROOT, ".build", "release", "yard"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--batches", default="1,64")
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "out"))
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    models = make_models(os.path.join(args.out, "tabular"))
    records = []
    core = ""
    print(f"load average at start: {open('/proc/loadavg').read().split()[:3]}")
    print()
    print("| model | batch | engine rows/s (p50) | onnxruntime rows/s (p50) | engine / onnxruntime |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, path in models.items():
        report = os.path.join(args.out, f"tabular-{name}-engine.json")
        run = subprocess.run([args.yard, "model", "bench", path, "--batch", args.batches, "--threads",
                              str(args.threads), "--seconds", str(args.seconds), "--json", report],
                             capture_output=True, text=True)
        if run.returncode != 0:
            print(f"| {name} | - | engine failed: {run.stderr.strip()} | | |")
            continue
        core = run.stdout.splitlines()[0]
        engine = {entry["batch"]: entry for entry in json.load(open(report))}
        version, ort_rates = onnxruntime_rates(path, batches, args.threads, args.seconds)
        for batch in batches:
            ours = engine[batch]["rows_per_s_p50"]
            theirs = ort_rates[batch]["rows_per_s_p50"]
            print(f"| {name} | {batch} | {ours:.0f} | {theirs:.0f} | {ours / theirs:.2f} |")
            records.append({"model": name, "batch": batch, "threads": args.threads, "engine_rows_per_s_p50": ours,
                            "ort_rows_per_s_p50": theirs, "ratio": ours / theirs, "onnxruntime": version})
    print()
    print(core)
    print(f"onnxruntime {version}; load average at end: {open('/proc/loadavg').read().split()[:3]}")
    with open(os.path.join(args.out, f"tabular-t{args.threads}.json"), "w") as handle:
        json.dump(records, handle, indent=1)


if __name__ == "__main__":
    main()
