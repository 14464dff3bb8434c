#!/usr/bin/env python3
"""Trains the digits model versions the release tests (canary, A/B) compare, with the recipe of
tools/make_digits_model.py (same split, same architecture, skl2onnx with zipmap=False):

    Tests/Fixtures/releases/digits/1/model.onnx   the bundled demo model (copied from models/digits/1)
    Tests/Fixtures/releases/digits/2/model.onnx   a good candidate: the same model retrained with another seed
    Tests/Fixtures/releases/digits/3/model.onnx   a wrong candidate: trained on shuffled labels (runs fine, predicts junk)
    Tests/Fixtures/releases/digits/4/model.onnx   a weaker model for A/B: 16 hidden units, 100 training rows
    Tests/Fixtures/releases/digits/5/model.onnx   the demo model again, for an A/B of two equal models
    Tests/Fixtures/releases/digits/6/model.onnx   a slow candidate: the demo model plus a branch of 60 512x512
                                                  layers (one shared weight) whose result is multiplied by 0:
                                                  the same answers, many times the compute
    Tests/Fixtures/releases/digits/config.json    version_policy all, so every version is served
    Tests/Fixtures/releases/digits/expected.json  each version's accuracy on the test split (onnxruntime)

    pip install onnx onnxruntime scikit-learn skl2onnx numpy
    python3 tools/make_release_models.py
"""
import json
import os
import shutil

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper
from skl2onnx import to_onnx
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
OPSETS = {"": 17, "ai.onnx.ml": 1}
OUT = os.path.join(ROOT, "Tests", "Fixtures", "releases", "digits")


def accuracy(path, x, y):
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    label = session.run(["label"], {"X": x})[0]
    return float(np.mean(label == y))


def save(estimator, x, version, note):
    model = to_onnx(estimator, x[:1], options={"zipmap": False}, target_opset=OPSETS)
    model.producer_name = f"switchyard tools/make_release_models.py (skl2onnx): {note}"
    directory = os.path.join(OUT, str(version))
    os.makedirs(directory, exist_ok=True)
    onnx.save(model, os.path.join(directory, "model.onnx"))


def save_slow(source, directory, width=512, layers=60):
    model = onnx.load(source)
    graph = model.graph
    rng = np.random.default_rng(5)
    graph.initializer.extend([
        numpy_helper.from_array((rng.standard_normal((64, width)) / 8).astype(np.float32), "slow_in"),
        numpy_helper.from_array((rng.standard_normal((width, width)) / np.sqrt(width)).astype(np.float32), "slow_w"),
        numpy_helper.from_array((rng.standard_normal((width, 10)) / np.sqrt(width)).astype(np.float32), "slow_out"),
        numpy_helper.from_array(np.zeros((1,), dtype=np.float32), "slow_zero"),
    ])
    nodes = [helper.make_node("MatMul", ["cast_input", "slow_in"], ["slow_0"]), helper.make_node("Tanh", ["slow_0"], ["slow_t0"])]
    for index in range(1, layers + 1):
        nodes.append(helper.make_node("MatMul", [f"slow_t{index - 1}", "slow_w"], [f"slow_{index}"]))
        nodes.append(helper.make_node("Tanh", [f"slow_{index}"], [f"slow_t{index}"]))
    nodes.append(helper.make_node("MatMul", [f"slow_t{layers}", "slow_out"], ["slow_scores"]))
    nodes.append(helper.make_node("Mul", ["slow_scores", "slow_zero"], ["slow_nothing"]))
    for node in graph.node:  # the softmax's output gets + 0 · (slow branch) before it becomes probabilities
        if node.op_type == "Identity" and node.output[0] == "probabilities":
            node.input[0] = "slow_probabilities"
    nodes.append(helper.make_node("Add", ["out_activations_result", "slow_nothing"], ["slow_probabilities"]))
    position = [i for i, node in enumerate(graph.node) if node.op_type == "Identity"][0]
    for offset, node in enumerate(nodes):
        graph.node.insert(position + offset, node)
    model.producer_name = "switchyard tools/make_release_models.py: demo model plus a zero-weighted slow branch"
    onnx.checker.check_model(model)
    os.makedirs(directory, exist_ok=True)
    onnx.save(model, os.path.join(directory, "model.onnx"))


def main():
    x, y = load_digits(return_X_y=True)
    x = x.astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=7, stratify=y)
    os.makedirs(os.path.join(OUT, "1"), exist_ok=True)
    shutil.copyfile(os.path.join(ROOT, "models", "digits", "1", "model.onnx"), os.path.join(OUT, "1", "model.onnx"))

    good = MLPClassifier(hidden_layer_sizes=(128, 64), max_iter=400, random_state=11).fit(x_train, y_train)
    save(good, x_test, 2, "retrained with seed 11")
    shuffled = np.random.default_rng(3).permutation(y_train)
    wrong = MLPClassifier(hidden_layer_sizes=(128, 64), max_iter=400, random_state=7).fit(x_train, shuffled)
    save(wrong, x_test, 3, "trained on shuffled labels")
    weak = MLPClassifier(hidden_layer_sizes=(16,), max_iter=300, random_state=7).fit(x_train[:100], y_train[:100])
    save(weak, x_test, 4, "16 hidden units, 100 training rows")

    os.makedirs(os.path.join(OUT, "5"), exist_ok=True)
    shutil.copyfile(os.path.join(ROOT, "models", "digits", "1", "model.onnx"), os.path.join(OUT, "5", "model.onnx"))

    save_slow(os.path.join(OUT, "1", "model.onnx"), os.path.join(OUT, "6"))

    with open(os.path.join(ROOT, "models", "digits", "config.json")) as handle:
        config = json.load(handle)
    config["version_policy"] = "all"
    config["description"] = "digits versions for the release tests: 1 demo, 2 good retrain, 3 shuffled labels, 4 weak, 5 = 1"
    with open(os.path.join(OUT, "config.json"), "w") as handle:
        json.dump(config, handle, indent=2)
        handle.write("\n")
    expected = {str(v): accuracy(os.path.join(OUT, str(v), "model.onnx"), x_test, y_test) for v in (1, 2, 3, 4, 5, 6)}
    with open(os.path.join(OUT, "expected.json"), "w") as handle:
        json.dump({"test_split_accuracy": expected}, handle, indent=2)
        handle.write("\n")
    print(expected)


if __name__ == "__main__":
    main()
