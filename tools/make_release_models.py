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
    Tests/Fixtures/releases/digits/7/model.onnx   wrong scores, right labels: the demo model whose probabilities
                                                  output has its classes rotated by 3 on the 90% of test rows with
                                                  the largest pixel sums, while its label output is the demo model's
    Tests/Fixtures/releases/digits/8/model.onnx   a weak model, about 0.64 accurate (16 hidden units, 50 rows), to
                                                  roll back on labelled accuracy against version 2 (about 0.97)
    Tests/Fixtures/releases/digits/config.json    version_policy all, so every version is served
    Tests/Fixtures/releases/digits/expected.json  each version's accuracy on the test split (onnxruntime)
    Tests/Fixtures/releases/diabetes/1/model.onnx a regression model (ridge, scikit-learn's diabetes data)
    Tests/Fixtures/releases/diabetes/2/model.onnx the same model with a 20% bias (its output times 1.2)
    Tests/Fixtures/releases/diabetes/3/model.onnx an equal one: ridge retrained on a bootstrap sample of the rows
    Tests/Fixtures/releases/diabetes/x_test.npy   the test split's inputs (111 rows of 10 features), y_test.npy
                                                  its targets; expected.json the models' R² and relative differences

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
from sklearn.datasets import load_diabetes, load_digits
from sklearn.linear_model import Ridge
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
OPSETS = {"": 17, "ai.onnx.ml": 1}
OUT = os.path.join(ROOT, "Tests", "Fixtures", "releases", "digits")
REGRESSION = os.path.join(ROOT, "Tests", "Fixtures", "releases", "diabetes")


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


def save_permuted(source, directory, threshold, shift=3):
    """The probabilities output's classes rotated by `shift` on rows whose pixel sum exceeds `threshold`; the label
    output still comes from the untouched probabilities."""
    model = onnx.load(source)
    graph = model.graph
    for node in graph.node:
        if node.op_type == "Identity" and node.output[0] == "probabilities":
            node.output[0] = "true_probabilities"
        elif "probabilities" in node.input:
            node.input[list(node.input).index("probabilities")] = "true_probabilities"
    rotation = np.array([(c + shift) % 10 for c in range(10)], dtype=np.int64)
    graph.initializer.extend([
        numpy_helper.from_array(rotation, "rotation"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "sum_axes"),
        numpy_helper.from_array(np.array([[threshold]], dtype=np.float32), "sum_threshold"),
    ])
    graph.node.extend([
        helper.make_node("ReduceSum", ["cast_input", "sum_axes"], ["pixel_sum"], keepdims=1),
        helper.make_node("Greater", ["pixel_sum", "sum_threshold"], ["rotate_row"]),
        helper.make_node("Gather", ["true_probabilities", "rotation"], ["rotated_probabilities"], axis=1),
        helper.make_node("Where", ["rotate_row", "rotated_probabilities", "true_probabilities"], ["probabilities"]),
    ])
    model.producer_name = "switchyard tools/make_release_models.py: demo model, probabilities rotated on 90% of rows"
    onnx.checker.check_model(model)
    os.makedirs(directory, exist_ok=True)
    onnx.save(model, os.path.join(directory, "model.onnx"))


def save_biased(source, directory, factor):
    """The regression model's output times `factor`."""
    model = onnx.load(source)
    graph = model.graph
    output = graph.output[0].name
    for node in graph.node:
        for index, name in enumerate(node.output):
            if name == output:
                node.output[index] = "unbiased"
    graph.initializer.append(numpy_helper.from_array(np.array([factor], dtype=np.float32), "bias_factor"))
    graph.node.append(helper.make_node("Mul", ["unbiased", "bias_factor"], [output]))
    model.producer_name = f"switchyard tools/make_release_models.py: ridge with its output times {factor}"
    onnx.checker.check_model(model)
    os.makedirs(directory, exist_ok=True)
    onnx.save(model, os.path.join(directory, "model.onnx"))


def make_regression():
    x, y = load_diabetes(return_X_y=True)
    x = x.astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=7)
    base = Ridge(alpha=0.1).fit(x_train, y_train)
    rows = np.random.default_rng(11).integers(0, len(x_train), len(x_train))
    retrained = Ridge(alpha=0.1).fit(x_train[rows], y_train[rows])

    def export(estimator, version, note):
        model = to_onnx(estimator, x_test[:1], target_opset=OPSETS)
        model.producer_name = f"switchyard tools/make_release_models.py (skl2onnx): {note}"
        directory = os.path.join(REGRESSION, str(version))
        os.makedirs(directory, exist_ok=True)
        onnx.save(model, os.path.join(directory, "model.onnx"))

    export(base, 1, "ridge on the diabetes data")
    save_biased(os.path.join(REGRESSION, "1", "model.onnx"), os.path.join(REGRESSION, "2"), 1.2)
    export(retrained, 3, "ridge retrained on a bootstrap sample")
    np.save(os.path.join(REGRESSION, "x_test.npy"), x_test)
    np.save(os.path.join(REGRESSION, "y_test.npy"), y_test.astype(np.float32))
    config = {
        "name": "diabetes",
        "description": "regression versions for the release tests: 1 ridge, 2 = 1 with a 20% bias, 3 retrained",
        "max_batch_size": 256,
        "inputs": [{"name": "X", "dtype": "f32", "shape": [-1, 10]}],
        "outputs": [{"name": "variable", "dtype": "f32", "shape": [-1, 1]}],
        "version_policy": "all",
    }
    with open(os.path.join(REGRESSION, "config.json"), "w") as handle:
        json.dump(config, handle, indent=2)
        handle.write("\n")
    predictions = {}
    for version in (1, 2, 3):
        session = ort.InferenceSession(os.path.join(REGRESSION, str(version), "model.onnx"), providers=["CPUExecutionProvider"])
        predictions[version] = session.run(None, {"X": x_test})[0].reshape(-1)

    def r2(p):
        return float(1 - ((y_test - p) ** 2).sum() / ((y_test - y_test.mean()) ** 2).sum())

    def relative(a, b):
        return float(np.mean(np.abs(a - b) / ((np.abs(a) + np.abs(b)) / 2)))

    expected = {
        "r2": {str(v): r2(p) for v, p in predictions.items()},
        "relative_difference_from_1": {str(v): relative(predictions[1], p) for v, p in predictions.items()},
    }
    with open(os.path.join(REGRESSION, "expected.json"), "w") as handle:
        json.dump(expected, handle, indent=2)
        handle.write("\n")
    print(expected)


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
    sums = x_test.sum(axis=1)
    save_permuted(os.path.join(OUT, "1", "model.onnx"), os.path.join(OUT, "7"), float(np.percentile(sums, 10)))
    weak = MLPClassifier(hidden_layer_sizes=(16,), max_iter=300, random_state=5).fit(x_train[:50], y_train[:50])
    save(weak, x_test, 8, "16 hidden units, 50 training rows (about 0.64 accurate)")

    with open(os.path.join(ROOT, "models", "digits", "config.json")) as handle:
        config = json.load(handle)
    config["version_policy"] = "all"
    config["description"] = (
        "digits versions for the release tests: 1 demo, 2 good retrain, 3 shuffled labels, 4 weak, 5 = 1, 6 slow, "
        "7 probabilities wrong on 90% of rows with right labels, 8 weak (0.64)"
    )
    with open(os.path.join(OUT, "config.json"), "w") as handle:
        json.dump(config, handle, indent=2)
        handle.write("\n")
    versions = range(1, 9)
    expected = {str(v): accuracy(os.path.join(OUT, str(v), "model.onnx"), x_test, y_test) for v in versions}
    reference = ort.InferenceSession(os.path.join(OUT, "1", "model.onnx"), providers=["CPUExecutionProvider"])
    top1 = np.argmax(reference.run(["probabilities"], {"X": x_test})[0], axis=1)
    permuted = ort.InferenceSession(os.path.join(OUT, "7", "model.onnx"), providers=["CPUExecutionProvider"])
    labels, probabilities = permuted.run(["label", "probabilities"], {"X": x_test})
    checks = {
        "7_label_equal_to_1": float(np.mean(labels == top1)),
        "7_probabilities_top1_equal_to_1": float(np.mean(np.argmax(probabilities, axis=1) == top1)),
    }
    with open(os.path.join(OUT, "expected.json"), "w") as handle:
        json.dump({"test_split_accuracy": expected, "permuted": checks}, handle, indent=2)
        handle.write("\n")
    print(expected, checks)
    make_regression()


if __name__ == "__main__":
    main()
