#!/usr/bin/env python3
"""Trains the bundled demo model and writes its conformance fixtures.

scikit-learn's MLPClassifier is trained on the digits dataset that ships inside scikit-learn (no
download), exported with skl2onnx (`zipmap=False`, so the graph ends in plain tensors), and run
through onnxruntime on the held-out split. Written:

    models/digits/1/model.onnx                      the demo model (8x8 images as 64 floats, 0..16)
    models/digits/config.json                       the repository config
    Tests/Fixtures/engine/digits/x_test.npy         test split, float32 [N, 64]
    Tests/Fixtures/engine/digits/y_test.npy         true labels, int64 [N]
    Tests/Fixtures/engine/digits/ort_label.npy      onnxruntime's label output
    Tests/Fixtures/engine/digits/ort_probabilities.npy
    Tests/Fixtures/engine/digits/expected.json      scikit-learn's and onnxruntime's accuracy
    Tests/Fixtures/engine/logreg/...                a LogisticRegression export (LinearClassifier,
                                                    Normalizer), multi-class and binary

    pip install onnx onnxruntime scikit-learn skl2onnx numpy
    python3 tools/make_digits_model.py
"""
import json
import os

import numpy as np
import onnx
import onnxruntime as ort
from skl2onnx import to_onnx
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
OPSETS = {"": 17, "ai.onnx.ml": 1}


def run(model, x):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, {"X": x})))


def export(estimator, x):
    return to_onnx(estimator, x[:1], options={"zipmap": False}, target_opset=OPSETS)


def main():
    x, y = load_digits(return_X_y=True)
    x = x.astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=7, stratify=y)

    mlp = MLPClassifier(hidden_layer_sizes=(128, 64), max_iter=400, random_state=7)
    mlp.fit(x_train, y_train)
    sklearn_accuracy = float(mlp.score(x_test, y_test))
    model = export(mlp, x_test)
    model.producer_name = "switchyard tools/make_digits_model.py (skl2onnx)"
    outputs = run(model, x_test)
    ort_accuracy = float(np.mean(outputs["label"] == y_test))

    model_dir = os.path.join(ROOT, "models", "digits", "1")
    os.makedirs(model_dir, exist_ok=True)
    onnx.save(model, os.path.join(model_dir, "model.onnx"))
    config = {
        "name": "digits",
        "description": "scikit-learn MLPClassifier (64-128-64-10) on the 8x8 digits dataset; pixels 0..16",
        "max_batch_size": 256,
        "inputs": [{"name": "X", "dtype": "f32", "shape": [-1, 64]}],
        "outputs": [
            {"name": "label", "dtype": "i64", "shape": [-1]},
            {"name": "probabilities", "dtype": "f32", "shape": [-1, 10]},
        ],
        "labels": [str(label) for label in mlp.classes_],
        "version_policy": {"latest": 1},
        "warmup": {"batch_sizes": [1, 8, 64]},
    }
    with open(os.path.join(ROOT, "models", "digits", "config.json"), "w") as handle:
        json.dump(config, handle, indent=2)
        handle.write("\n")

    fixtures = os.path.join(ROOT, "Tests", "Fixtures", "engine", "digits")
    os.makedirs(fixtures, exist_ok=True)
    np.save(os.path.join(fixtures, "x_test.npy"), x_test)
    np.save(os.path.join(fixtures, "y_test.npy"), y_test.astype(np.int64))
    np.save(os.path.join(fixtures, "ort_label.npy"), outputs["label"])
    np.save(os.path.join(fixtures, "ort_probabilities.npy"), outputs["probabilities"])
    with open(os.path.join(fixtures, "expected.json"), "w") as handle:
        json.dump({"sklearn_accuracy": sklearn_accuracy, "onnxruntime_accuracy": ort_accuracy,
                   "test_rows": int(len(y_test)), "onnxruntime": ort.__version__}, handle, indent=1)
    print(f"digits MLP: scikit-learn accuracy {sklearn_accuracy:.4f}, onnxruntime {ort_accuracy:.4f}")

    # LogisticRegression exports use the ai.onnx.ml LinearClassifier and Normalizer operators.
    logreg_dir = os.path.join(ROOT, "Tests", "Fixtures", "engine", "logreg")
    os.makedirs(logreg_dir, exist_ok=True)
    multi = LogisticRegression(max_iter=2000).fit(x_train / 16.0, y_train)
    binary_mask = y_train < 2
    binary = LogisticRegression(max_iter=2000).fit(x_train[binary_mask] / 16.0, y_train[binary_mask])
    for name, estimator in [("multiclass", multi), ("binary", binary), ("multiclass_default_opset", multi)]:
        sample = (x_test[:40] / 16.0).astype(np.float32)
        if name.endswith("default_opset"):  # what a user gets without target_opset (opset 22 with skl2onnx 1.20)
            exported = to_onnx(estimator, sample[:1], options={"zipmap": False})
        else:
            exported = export(estimator, sample)
        result = run(exported, sample)
        onnx.save(exported, os.path.join(logreg_dir, f"{name}.onnx"))
        np.save(os.path.join(logreg_dir, f"{name}_x.npy"), sample)
        np.save(os.path.join(logreg_dir, f"{name}_label.npy"), result["label"])
        np.save(os.path.join(logreg_dir, f"{name}_probabilities.npy"), result["probabilities"])
        ops = sorted({f"{n.domain}:{n.op_type}" for n in exported.graph.node})
        opset = [o.version for o in exported.opset_import if o.domain == ""][0]
        print(f"logreg {name}: opset {opset}, ops {ops}")


if __name__ == "__main__":
    main()
