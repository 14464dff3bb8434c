#!/usr/bin/env python3
"""The tabular model zoo: exports the models tabular teams bring (scikit-learn forests and boosting, a scaler +
logistic regression pipeline, an SVC, XGBoost, LightGBM), runs each through the engine (`yard predict`, as a user
would) and through onnxruntime, and compares: identical labels, probabilities and values within 1e-5.

    .venv/bin/python tools/tabular_zoo.py --yard .build/debug/yard --out /tmp/zoo [--json report.json]
    .venv/bin/python tools/tabular_zoo.py --yard .build/release/yard --size large   # bench/zoo sizes

Exit status 0 when every model matches, 1 when one does not (the table says which), 2 on a setup error.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

TOLERANCE = 1e-5


def models(size):
    """(name, fitted model, features, converter, has NaN inputs) for each zoo entry."""
    from sklearn.datasets import make_classification, make_regression
    from sklearn.ensemble import (ExtraTreesClassifier, GradientBoostingClassifier, HistGradientBoostingClassifier,
                                  RandomForestClassifier, RandomForestRegressor)
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    trees, depth, rows = (300, 8, 4000) if size == "large" else (40, 6, 600)
    x2, y2 = make_classification(n_samples=rows, n_features=12, n_informative=8, random_state=0)
    x4, y4 = make_classification(n_samples=rows, n_features=12, n_informative=8, n_classes=4, random_state=1)
    xr, yr = make_regression(n_samples=rows, n_features=12, random_state=2)
    x2, x4, xr = x2.astype(np.float32), x4.astype(np.float32), xr.astype(np.float32)
    holes = x2.copy()
    holes[np.random.default_rng(3).random(holes.shape) < 0.1] = np.nan
    entries = [
        ("RandomForestClassifier (binary)", RandomForestClassifier(trees, max_depth=depth, random_state=0).fit(x2, y2),
         "sklearn", False),
        ("RandomForestClassifier (4 classes)",
         RandomForestClassifier(trees, max_depth=depth, random_state=0).fit(x4, y4), "sklearn", False),
        ("ExtraTreesClassifier (4 classes)", ExtraTreesClassifier(trees, max_depth=depth, random_state=0).fit(x4, y4),
         "sklearn", False),
        ("GradientBoostingClassifier (binary)",
         GradientBoostingClassifier(n_estimators=trees, max_depth=3, random_state=0).fit(x2, y2), "sklearn", False),
        ("GradientBoostingClassifier (4 classes)",
         GradientBoostingClassifier(n_estimators=trees // 4, max_depth=3, random_state=0).fit(x4, y4), "sklearn",
         False),
        ("HistGradientBoostingClassifier (binary, NaN)",
         HistGradientBoostingClassifier(max_iter=trees, max_depth=depth, random_state=0).fit(holes, y2), "sklearn",
         True),
        ("HistGradientBoostingClassifier (4 classes)",
         HistGradientBoostingClassifier(max_iter=trees // 4, max_depth=depth, random_state=0).fit(x4, y4), "sklearn",
         False),
        ("RandomForestRegressor", RandomForestRegressor(trees, max_depth=depth, random_state=0).fit(xr, yr), "sklearn",
         False),
        ("StandardScaler + LogisticRegression (4 classes)",
         make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x4, y4), "sklearn", False),
        ("SVC (RBF, probabilities, 4 classes)", SVC(probability=True, random_state=0).fit(x4[:300], y4[:300]),
         "sklearn", False),
    ]
    try:
        import xgboost

        entries.append(("XGBClassifier (binary)", xgboost.XGBClassifier(
            n_estimators=trees, max_depth=depth, random_state=0, n_jobs=1).fit(x2, y2), "xgboost", False))
        entries.append(("XGBClassifier (4 classes)", xgboost.XGBClassifier(
            n_estimators=trees // 4, max_depth=depth, random_state=0, n_jobs=1).fit(x4, y4), "xgboost", False))
        entries.append(("XGBRegressor", xgboost.XGBRegressor(
            n_estimators=trees, max_depth=depth, random_state=0, n_jobs=1).fit(xr, yr), "xgboost", False))
    except ImportError:
        print("xgboost is not installed: its models are skipped", file=sys.stderr)
    try:
        import lightgbm

        entries.append(("LGBMClassifier (binary)", lightgbm.LGBMClassifier(
            n_estimators=trees, max_depth=depth, num_leaves=31, random_state=0, verbose=-1, n_jobs=1).fit(x2, y2),
            "lightgbm", False))
        entries.append(("LGBMClassifier (4 classes)", lightgbm.LGBMClassifier(
            n_estimators=trees // 4, max_depth=depth, num_leaves=31, random_state=0, verbose=-1, n_jobs=1)
            .fit(x4, y4), "lightgbm", False))
        entries.append(("LGBMRegressor", lightgbm.LGBMRegressor(
            n_estimators=trees, max_depth=depth, num_leaves=31, random_state=0, verbose=-1, n_jobs=1).fit(xr, yr),
            "lightgbm", False))
    except ImportError:
        print("lightgbm is not installed: its models are skipped", file=sys.stderr)
    return entries


def export(model, converter, features):
    if converter == "sklearn":
        from skl2onnx import to_onnx

        final = model.steps[-1][1] if hasattr(model, "steps") else model
        options = {id(final): {"zipmap": False}} if hasattr(final, "classes_") else None
        return to_onnx(model, np.zeros((1, features), np.float32), target_opset={"": 17, "ai.onnx.ml": 3},
                       options=options)
    from onnxmltools.convert.common.data_types import FloatTensorType

    types = [("input", FloatTensorType([None, features]))]
    if converter == "xgboost":
        from onnxmltools import convert_xgboost

        return convert_xgboost(model, initial_types=types, target_opset=15)
    from onnxmltools import convert_lightgbm

    return convert_lightgbm(model, initial_types=types, target_opset=15, zipmap=False)


def compare(name, onx, x, yard, directory):
    """Runs onnxruntime and `yard predict` on x; returns the row of the match table."""
    import onnxruntime as ort

    path = os.path.join(directory, "model.onnx")
    with open(path, "wb") as handle:
        handle.write(onx.SerializeToString())
    inputs = os.path.join(directory, "x.npy")
    np.save(inputs, x)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    expected = session.run(None, {session.get_inputs()[0].name: x})
    row = {"model": name, "rows": len(x), "outputs": {}, "ok": True, "error": None}
    started = time.perf_counter()
    for index, output in enumerate(session.get_outputs()):
        target = os.path.join(directory, f"engine_{index}.npy")
        run = subprocess.run([yard, "predict", "--model", path, "--input", inputs, "--output", target,
                              "--output-name", output.name], capture_output=True, text=True, timeout=300)
        if run.returncode != 0:
            row["ok"] = False
            row["error"] = run.stderr.strip()
            return row
        ours = np.load(target)
        theirs = expected[index]
        if ours.shape != theirs.shape or ours.dtype != theirs.dtype:
            row["ok"] = False
            row["error"] = f"{output.name}: engine {ours.dtype}{ours.shape}, onnxruntime {theirs.dtype}{theirs.shape}"
            return row
        if np.issubdtype(theirs.dtype, np.floating):
            difference = float(np.max(np.abs(ours.astype(np.float64) - theirs.astype(np.float64)))) if ours.size else 0
            scale = float(np.max(np.abs(theirs))) if theirs.size else 0
            # Regression values are compared relative to their scale (1e-5 of the largest), probabilities absolutely.
            limit = TOLERANCE * max(1.0, scale)
            row["outputs"][output.name] = {"max_abs_difference": difference, "limit": limit}
            row["ok"] &= difference <= limit
        else:
            mismatches = int(np.sum(ours != theirs))
            row["outputs"][output.name] = {"mismatches": mismatches}
            row["ok"] &= mismatches == 0
    row["engine_seconds"] = time.perf_counter() - started
    return row


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--yard", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--size", choices=["small", "large"], default="small")
    parser.add_argument("--json")
    parser.add_argument("--converters", default="sklearn,xgboost,lightgbm",
                        help="which exporters' models to run (comma-separated)")
    args = parser.parse_args()
    wanted = set(args.converters.split(","))
    if not os.access(args.yard, os.X_OK):
        print(f"no yard binary at {args.yard}", file=sys.stderr)
        return 2
    rng = np.random.default_rng(7)
    table = []
    for index, (name, model, converter, nan) in enumerate(models(args.size)):
        if converter not in wanted:
            continue
        features = 12
        x = rng.normal(size=(200, features)).astype(np.float32)
        if nan:
            x[rng.random(x.shape) < 0.1] = np.nan
        directory = os.path.join(args.out, f"model-{index}")
        os.makedirs(directory, exist_ok=True)
        table.append(compare(name, export(model, converter, features), x, args.yard, directory))
    print("| model | rows | labels | probabilities / values (max abs difference) | match |")
    print("| --- | ---: | --- | --- | --- |")
    for row in table:
        labels = [f"{v['mismatches']} differ" for v in row["outputs"].values() if "mismatches" in v]
        values = [f"{v['max_abs_difference']:.2g}" for v in row["outputs"].values() if "max_abs_difference" in v]
        verdict = "yes" if row["ok"] else f"**no** {row['error'] or ''}"
        print(f"| {row['model']} | {row['rows']} | {', '.join(labels) or '-'} | {', '.join(values) or '-'} | {verdict} |")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(table, handle, indent=1)
    return 0 if all(row["ok"] for row in table) else 1


if __name__ == "__main__":
    sys.exit(main())
