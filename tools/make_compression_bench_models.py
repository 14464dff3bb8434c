#!/usr/bin/env python3
"""The models and data bench/compression.sh compresses, written to bench/out/compression/<name>/:

    model.onnx (as models/<name>/1/), x_calibration.npy, x_test.npy, y_test.npy (when the model has real labels)

* digits       the bundled model (scikit-learn MLP 64-128-64-10) and its committed test split.
* mnist_mlp    an MNIST-sized MLP (784-512-256-10, scikit-learn) trained on the digits images upsampled to 28x28 with
               random shifts: no MNIST download is possible here (no PyPI package ships the data, and fetching needs
               the internet), so the digits stand in at MNIST's shape.
* resnet18     ResNet-18 (CIFAR stem: 3x3 conv, no max-pool; 64-128-256-512 channels, 11.2M parameters) on 3x32x32
               inputs, built with onnx.helper: He-initialised random convolutions (batch norm folded), with the final
               layer fitted (ridge least squares) on the digits training images upsampled to 32x32, so its accuracy
               on the digits test split is real.
* bert_like    a 4-layer BERT-like encoder (hidden 256, 4 heads, FFN 1024, GELU, post-norm LayerNormalization,
               sequence 32) on float token embeddings, built with onnx.helper, random weights; the classifier head is
               fitted the same way on sequences whose class is planted as a token pattern.

    python3 tools/make_compression_bench_models.py --out bench/out/compression
"""
import argparse
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from scipy.ndimage import shift as nd_shift
from scipy.ndimage import zoom
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
OPSET = 17


def digits_split():
    x, y = load_digits(return_X_y=True)
    x = x.astype(np.float32)
    return train_test_split(x, y, test_size=0.25, random_state=7, stratify=y)


def save(folder, model, calibration, x_test, y_test=None):
    os.makedirs(os.path.join(folder, "1"), exist_ok=True)
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(folder, "1", "model.onnx"))
    np.save(os.path.join(folder, "x_calibration.npy"), np.ascontiguousarray(calibration.astype(np.float32)))
    np.save(os.path.join(folder, "x_test.npy"), np.ascontiguousarray(x_test.astype(np.float32)))
    if y_test is not None:
        np.save(os.path.join(folder, "y_test.npy"), np.asarray(y_test, dtype=np.int64))
    print("wrote", folder)


def digits(out):
    _, x_test, _, y_test = digits_split()
    x_train, _, _, _ = digits_split()
    model = onnx.load(os.path.join(ROOT, "models", "digits", "1", "model.onnx"))
    save(os.path.join(out, "digits"), model, x_train[:512], x_test, y_test)


def upsample(images, size, rng=None, shifts=0):
    """8x8 digits (0..16) to size x size in [0, 1], optionally shifted by up to `shifts` pixels."""
    factor = size / 8
    result = np.stack([zoom(image.reshape(8, 8), factor, order=1) for image in images]) / 16.0
    if rng is not None and shifts:
        result = np.stack([nd_shift(image, rng.integers(-shifts, shifts + 1, 2), order=0) for image in result])
    return np.clip(result, 0, 1).astype(np.float32)


def mnist_mlp(out):
    from skl2onnx import to_onnx
    from sklearn.neural_network import MLPClassifier
    rng = np.random.default_rng(3)
    x_train, x_test, y_train, y_test = digits_split()
    train = np.concatenate([upsample(x_train, 28, rng, 2) for _ in range(4)]).reshape(-1, 784)
    labels = np.concatenate([y_train] * 4)
    test = upsample(x_test, 28).reshape(-1, 784)
    mlp = MLPClassifier(hidden_layer_sizes=(512, 256), max_iter=60, random_state=7)
    mlp.fit(train, labels)
    print("mnist_mlp accuracy", mlp.score(test, y_test))
    model = to_onnx(mlp, train[:1], options={"zipmap": False}, target_opset={"": OPSET, "ai.onnx.ml": 1})
    save(os.path.join(out, "mnist_mlp"), model, upsample(x_train[:512], 28).reshape(-1, 784), test, y_test)


class Graph:
    def __init__(self, seed):
        self.nodes, self.inits, self.rng, self.count = [], [], np.random.default_rng(seed), 0

    def name(self, base):
        self.count += 1
        return f"{base}_{self.count}"

    def const(self, base, value):
        name = self.name(base)
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=np.float32), name))
        return name

    def op(self, op_type, inputs, base=None, **attributes):
        out = self.name(base or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=self.name(op_type), **attributes))
        return out

    def conv(self, x, cin, cout, k, stride, relu=True):
        w = self.rng.normal(0, np.sqrt(2.0 / (cin * k * k)), (cout, cin, k, k))
        b = self.rng.normal(0, 0.01, cout)
        y = self.op("Conv", [x, self.const("w", w), self.const("b", b)], "conv", kernel_shape=[k, k],
                    strides=[stride, stride], pads=[k // 2] * 4)
        return self.op("Relu", [y], "relu") if relu else y

    def linear(self, x, din, dout, scale=None):
        w = self.rng.normal(0, scale or np.sqrt(1.0 / din), (din, dout))
        return self.op("Add", [self.op("MatMul", [x, self.const("w", w)], "matmul"),
                               self.const("b", np.zeros(dout))], "linear")


def resnet_features(g, x):
    h = g.conv(x, 3, 64, 3, 1)
    cin = 64
    for stage, cout in enumerate([64, 128, 256, 512]):
        for block in range(2):
            stride = 2 if stage > 0 and block == 0 else 1
            y = g.conv(h, cin, cout, 3, stride)
            y = g.conv(y, cout, cout, 3, 1, relu=False)
            shortcut = h if stride == 1 and cin == cout else g.conv(h, cin, cout, 1, stride, relu=False)
            h = g.op("Relu", [g.op("Add", [g.op("Mul", [y, g.const("s", 0.5)]), shortcut])])
            cin = cout
    return g.op("Flatten", [g.op("GlobalAveragePool", [h])])


def fit_head(features, labels, classes, ridge=1e-2):
    """Ridge least squares onto one-hot targets, with an intercept."""
    a = np.concatenate([features, np.ones((len(features), 1))], axis=1)
    targets = np.eye(classes)[labels]
    solution = np.linalg.solve(a.T @ a + ridge * np.eye(a.shape[1]), a.T @ targets)
    return solution[:-1], solution[-1]


def run(model, x, output):
    import onnxruntime as ort
    s = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.concatenate([s.run([output], {"x": x[i:i + 64]})[0] for i in range(0, len(x), 64)])


def with_head(g, features, dim, w, b, x_shape, classes):
    logits = g.op("Add", [g.op("MatMul", [features, g.const("head_w", w)]), g.const("head_b", b)], "logits")
    probabilities = g.op("Softmax", [logits], "probabilities", axis=-1)
    graph = helper.make_graph(g.nodes + [helper.make_node("Identity", [probabilities], ["probabilities"])], "model",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N"] + x_shape)],
                              [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", classes])],
                              g.inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="switchyard bench")


def feature_model(g, features, dim, x_shape):
    graph = helper.make_graph(g.nodes, "features", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N"] + x_shape)],
                              [helper.make_tensor_value_info(features, TensorProto.FLOAT, ["N", dim])], g.inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])


def resnet18(out):
    x_train, x_test, y_train, y_test = digits_split()
    rng = np.random.default_rng(5)
    images = lambda x, r=None: np.repeat(upsample(x, 32, r, 2 if r is not None else 0)[:, None], 3, axis=1)
    train = np.concatenate([images(x_train, rng), images(x_train)])
    labels = np.concatenate([y_train, y_train])
    g = Graph(11)
    features = resnet_features(g, "x")
    f = run(feature_model(g, features, 512, [3, 32, 32]), train, features)
    scale = f.std() + 1e-6
    w, b = fit_head(f / scale, labels, 10)
    model = with_head(g, features, 512, w / scale, b, [3, 32, 32], 10)
    predicted = run(model, images(x_test), "probabilities").argmax(axis=1)
    print("resnet18 accuracy", np.mean(predicted == y_test))
    save(os.path.join(out, "resnet18"), model, images(x_train[:256]), images(x_test), y_test)


def bert_like(out, layers=4, hidden=256, heads=4, ffn=1024, sequence=32, classes=4):
    rng = np.random.default_rng(9)
    g = Graph(21)
    h = g.op("Identity", ["x"])
    head = hidden // heads
    for _ in range(layers):
        qkv = [g.linear(h, hidden, hidden) for _ in range(3)]
        split = [g.op("Transpose", [g.op("Reshape", [t, g.const("shape", [0, 0, heads, head])])], perm=[0, 2, 1, 3])
                 for t in qkv]
        scores = g.op("Div", [g.op("MatMul", [split[0], g.op("Transpose", [split[1]], perm=[0, 1, 3, 2])]),
                              g.const("scale", np.sqrt(head))])
        context = g.op("MatMul", [g.op("Softmax", [scores], axis=-1), split[2]])
        merged = g.op("Reshape", [g.op("Transpose", [context], perm=[0, 2, 1, 3]), g.const("shape", [0, 0, hidden])])
        attended = g.linear(merged, hidden, hidden)
        h = g.op("LayerNormalization", [g.op("Add", [h, attended]), g.const("gamma", np.ones(hidden)),
                                         g.const("beta", np.zeros(hidden))], axis=-1)
        up = g.linear(h, hidden, ffn)
        gelu = g.op("Mul", [g.op("Mul", [up, g.const("half", 0.5)]),
                            g.op("Add", [g.op("Erf", [g.op("Div", [up, g.const("sqrt2", np.sqrt(2.0))])]),
                                         g.const("one", 1.0)])])
        down = g.linear(gelu, ffn, hidden)
        h = g.op("LayerNormalization", [g.op("Add", [h, down]), g.const("gamma", np.ones(hidden)),
                                         g.const("beta", np.zeros(hidden))], axis=-1)
    features = g.op("ReduceMean", [h], axes=[1], keepdims=0)
    # Reshape's shape constants must be int64
    for init in g.inits:
        if init.name.startswith("shape"):
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.int64), init.name))
    # data: random token embeddings; class c plants pattern c at a few positions
    patterns = rng.normal(0, 1, (classes, hidden)).astype(np.float32)

    def sequences(count):
        labels = rng.integers(0, classes, count)
        x = rng.normal(0, 1, (count, sequence, hidden)).astype(np.float32)
        for i, c in enumerate(labels):
            positions = rng.choice(sequence, 4, replace=False)
            x[i, positions] += 1.5 * patterns[c]
        return x, labels

    train, y_train = sequences(2048)
    test, y_test = sequences(512)
    calibration, _ = sequences(128)
    f = run(feature_model(g, features, hidden, [sequence, hidden]), train, features)
    w, b = fit_head(f, y_train, classes)
    model = with_head(g, features, hidden, w, b, [sequence, hidden], classes)
    predicted = run(model, test, "probabilities").argmax(axis=1)
    print("bert_like accuracy", np.mean(predicted == y_test))
    save(os.path.join(out, "bert_like"), model, calibration, test, y_test)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "out", "compression"))
    parser.add_argument("--only", nargs="*")
    args = parser.parse_args()
    for name, make in [("digits", digits), ("mnist_mlp", mnist_mlp), ("resnet18", resnet18), ("bert_like", bert_like)]:
        if not args.only or name in args.only:
            make(args.out)


if __name__ == "__main__":
    main()
