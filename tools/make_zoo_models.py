"""Small models built with onnx.helper the way exporters write them (PyTorch's shape chains, its attention,
GELU and LayerNorm forms, recurrent layers, decoders), with random weights: the zoo that runs in CI.

Writes Tests/Fixtures/engine/zoo/<name>/ (model.onnx, input_<i>.npy, output_<i>.npy from onnxruntime) and
cases.json. Seeded: rerunning gives the same files. The large torchvision and transformer models are
bench/zoo.sh's (tools/zoo_torch.py).
    .venv/bin/python tools/make_zoo_models.py
"""
import json
import os
import shutil

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests/Fixtures/engine/zoo")
OPSET = 17
rng = np.random.default_rng(13)


class Graph:
    """Collects nodes and initializers; names are made unique."""

    def __init__(self):
        self.nodes, self.inits, self.count = [], [], 0

    def name(self, base):
        self.count += 1
        return f"{base}_{self.count}"

    def const(self, array, base="c"):
        name = self.name(base)
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def weight(self, *shape, scale=None):
        scale = scale if scale is not None else 1 / np.sqrt(shape[-1] if len(shape) > 1 else shape[0])
        return self.const((rng.standard_normal(shape) * scale).astype(np.float32), "w")

    def op(self, op_type, inputs, outputs=1, **attrs):
        names = [self.name(op_type.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, names, name=self.name(op_type), **attrs))
        return names[0] if outputs == 1 else names

    # PyTorch-style building blocks -------------------------------------------------------------
    def linear(self, x, n_in, n_out):
        return self.op("Add", [self.op("MatMul", [x, self.weight(n_in, n_out)]), self.weight(n_out, scale=0.1)])

    def layer_norm(self, x, n):
        scale = self.const((1 + 0.1 * rng.standard_normal(n)).astype(np.float32))
        bias = self.const((0.1 * rng.standard_normal(n)).astype(np.float32))
        return self.op("LayerNormalization", [x, scale, bias], axis=-1, epsilon=1e-5)

    def layer_norm_decomposed(self, x, n):
        """LayerNorm as opset-13-era exporters wrote it: ReduceMean, Sub, Pow, Sqrt, Div."""
        mean = self.op("ReduceMean", [x], axes=[-1])
        centered = self.op("Sub", [x, mean])
        variance = self.op("ReduceMean", [self.op("Pow", [centered, self.const(np.float32(2))])], axes=[-1])
        std = self.op("Sqrt", [self.op("Add", [variance, self.const(np.float32(1e-5))])])
        normed = self.op("Div", [centered, std])
        scale = self.const((1 + 0.1 * rng.standard_normal(n)).astype(np.float32))
        return self.op("Add", [self.op("Mul", [normed, scale]), self.const((0.1 * rng.standard_normal(n)).astype(np.float32))])

    def gelu_erf(self, x):
        inner = self.op("Erf", [self.op("Div", [x, self.const(np.float32(1.4142135381698608))])])
        return self.op("Mul", [self.op("Mul", [x, self.op("Add", [inner, self.const(np.float32(1))])]), self.const(np.float32(0.5))])

    def gelu_tanh(self, x):
        cube = self.op("Pow", [x, self.const(np.float32(3))])
        inner = self.op("Add", [x, self.op("Mul", [cube, self.const(np.float32(0.044715))])])
        t = self.op("Tanh", [self.op("Mul", [inner, self.const(np.float32(0.7978845608))])])
        return self.op("Mul", [self.op("Mul", [x, self.const(np.float32(0.5))]), self.op("Add", [t, self.const(np.float32(1))])])

    def dim(self, x, axis):
        """Shape(x)[axis] as a 1-element int64 tensor: Shape → Gather → Unsqueeze."""
        shape = self.op("Shape", [x])
        return self.op("Unsqueeze", [self.op("Gather", [shape, self.const(np.int64(axis))], axis=0), self.const(np.array([0], np.int64))])

    def split_heads(self, x, heads, head_dim):
        """[b, s, h·d] → [b, h, s, d] through a Reshape to a shape computed from Shape."""
        target = self.op("Concat", [self.dim(x, 0), self.dim(x, 1), self.const(np.array([heads, head_dim], np.int64))], axis=0)
        return self.op("Transpose", [self.op("Reshape", [x, target])], perm=[0, 2, 1, 3])

    def merge_heads(self, x, hidden):
        t = self.op("Transpose", [x], perm=[0, 2, 1, 3])
        target = self.op("Concat", [self.dim(t, 0), self.dim(t, 1), self.const(np.array([hidden], np.int64))], axis=0)
        return self.op("Reshape", [t, target])

    def attention(self, x, hidden, heads, mask_bias=None, causal=False):
        d = hidden // heads
        q = self.split_heads(self.linear(x, hidden, hidden), heads, d)
        k = self.split_heads(self.linear(x, hidden, hidden), heads, d)
        v = self.split_heads(self.linear(x, hidden, hidden), heads, d)
        scores = self.op("Div", [self.op("MatMul", [q, self.op("Transpose", [k], perm=[0, 1, 3, 2])]), self.const(np.float32(np.sqrt(d)))])
        if mask_bias is not None:
            scores = self.op("Add", [scores, mask_bias])
        if causal:
            # GPT-2 style: a lower-triangular boolean mask sliced to the sequence length, Where(mask, s, -inf).
            s = self.dim(x, 1)
            square = self.op("Concat", [s, s], axis=0)
            ones = self.op("ConstantOfShape", [square], value=helper.make_tensor("one", TensorProto.BOOL, [1], [True]))
            lower = self.op("Trilu", [self.op("Cast", [ones], to=TensorProto.INT64)], upper=0)
            keep = self.op("Cast", [lower], to=TensorProto.BOOL)
            scores = self.op("Where", [keep, scores, self.const(np.float32(-3.4e38))])
        probs = self.op("Softmax", [scores], axis=-1)
        return self.linear(self.merge_heads(self.op("MatMul", [probs, v]), hidden), hidden, hidden)


def save(name, graph, inputs, outputs, feeds, tolerance=1e-4, opset=OPSET):
    model = helper.make_model(
        helper.make_graph(graph.nodes, name, inputs, outputs, graph.inits),
        opset_imports=[helper.make_opsetid("", opset)],
        producer_name="switchyard-zoo",
    )
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    directory = os.path.join(OUT, name)
    os.makedirs(directory)
    onnx.save(model, os.path.join(directory, "model.onnx"))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    results = session.run(None, feeds)
    for index, info in enumerate(inputs):
        np.save(os.path.join(directory, f"input_{index}.npy"), feeds[info.name])
    for index, value in enumerate(results):
        np.save(os.path.join(directory, f"output_{index}.npy"), value)
    return {"name": name, "inputs": [i.name for i in inputs], "outputs": [o.name for o in outputs], "tolerance": tolerance}


def vi(name, elem, dims):
    return helper.make_tensor_value_info(name, elem, dims)


def bert_encoder():
    g, hidden, heads, vocab, layers = Graph(), 64, 4, 100, 2
    ids, mask = "input_ids", "attention_mask"
    positions = g.op("Range", [g.const(np.int64(0)), g.op("Squeeze", [g.dim(ids, 1), g.const(np.array([0], np.int64))]), g.const(np.int64(1))])
    x = g.op("Add", [g.op("Gather", [g.weight(vocab, hidden, scale=0.5), ids]), g.op("Gather", [g.weight(512, hidden, scale=0.5), positions])])
    x = g.layer_norm(x, hidden)
    # HuggingFace's extended mask: (1 − mask) · min_float, broadcast over heads and queries.
    m = g.op("Cast", [g.op("Unsqueeze", [mask, g.const(np.array([1, 2], np.int64))])], to=TensorProto.FLOAT)
    bias = g.op("Mul", [g.op("Sub", [g.const(np.float32(1)), m]), g.const(np.float32(-3.4028234663852886e38))])
    for _ in range(layers):
        x = g.layer_norm(g.op("Add", [x, g.attention(x, hidden, heads, mask_bias=bias)]), hidden)
        ffn = g.linear(g.gelu_erf(g.linear(x, hidden, 4 * hidden)), 4 * hidden, hidden)
        x = g.layer_norm_decomposed(g.op("Add", [x, ffn]), hidden)
    first = g.op("Gather", [x, g.const(np.int64(0))], axis=1)
    pooled = g.op("Tanh", [g.op("Gemm", [first, g.weight(hidden, hidden), g.weight(hidden, scale=0.1)], transB=1)])
    logits = g.op("Gemm", [pooled, g.weight(3, hidden), g.weight(3, scale=0.1)], transB=1, outputs=1)
    g.nodes[-1].output[0] = "logits"
    batch, seq = 2, 16
    mask_values = np.ones((batch, seq), np.int64)
    mask_values[1, 11:] = 0
    feeds = {ids: rng.integers(0, vocab, (batch, seq)).astype(np.int64), mask: mask_values}
    return save("bert_encoder", g, [vi(ids, TensorProto.INT64, ["batch", "sequence"]), vi(mask, TensorProto.INT64, ["batch", "sequence"])],
                [vi("logits", TensorProto.FLOAT, ["batch", 3])], feeds)


def gpt_decoder():
    g, hidden, heads, vocab = Graph(), 64, 4, 120
    ids = "input_ids"
    positions = g.op("Range", [g.const(np.int64(0)), g.op("Squeeze", [g.dim(ids, 1), g.const(np.array([0], np.int64))]), g.const(np.int64(1))])
    x = g.op("Add", [g.op("Gather", [g.weight(vocab, hidden, scale=0.5), ids]), g.op("Gather", [g.weight(256, hidden, scale=0.5), positions])])
    for _ in range(2):
        x = g.op("Add", [x, g.attention(g.layer_norm(x, hidden), hidden, heads, causal=True)])
        x = g.op("Add", [x, g.linear(g.gelu_tanh(g.linear(g.layer_norm(x, hidden), hidden, 4 * hidden)), 4 * hidden, hidden)])
    logits = g.op("MatMul", [g.layer_norm(x, hidden), g.weight(hidden, vocab)])
    g.nodes[-1].output[0] = "logits"
    feeds = {ids: rng.integers(0, vocab, (2, 12)).astype(np.int64)}
    return save("gpt_decoder", g, [vi(ids, TensorProto.INT64, ["batch", "sequence"])], [vi("logits", TensorProto.FLOAT, ["batch", "sequence", vocab])], feeds)


def recurrent_classifier(cell):
    g, features, hidden, classes = Graph(), 10, 16, 5
    gates = {"LSTM": 4, "GRU": 3}[cell]
    x = g.op("Transpose", ["x"], perm=[1, 0, 2])  # batch_first → time-major, as torch exports it
    w = g.weight(2, gates * hidden, features)
    r = g.weight(2, gates * hidden, hidden)
    b = g.weight(2, 2 * gates * hidden, scale=0.1)
    attrs = {"hidden_size": hidden, "direction": "bidirectional"}
    if cell == "GRU":
        attrs["linear_before_reset"] = 1
    outs = g.op(cell, [x, w, r, b], outputs=2 if cell == "GRU" else 3, **attrs)
    y_h = outs[1]
    state = g.op("Reshape", [g.op("Transpose", [y_h], perm=[1, 0, 2]), g.const(np.array([0, -1], np.int64))])
    logits = g.op("Gemm", [state, g.weight(classes, 2 * hidden), g.weight(classes, scale=0.1)], transB=1)
    g.nodes[-1].output[0] = "logits"
    feeds = {"x": rng.standard_normal((3, 7, features)).astype(np.float32)}
    return save(f"{cell.lower()}_classifier", g, [vi("x", TensorProto.FLOAT, ["batch", "sequence", features])], [vi("logits", TensorProto.FLOAT, ["batch", classes])], feeds)


def conv(g, x, c_in, c_out, k, stride=1, group=1, dilation=1, bias=True):
    pad = dilation * (k - 1) // 2
    inputs = [x, g.weight(c_out, c_in // group, k, k, scale=1 / np.sqrt(c_in // group * k * k))]
    if bias:
        inputs.append(g.weight(c_out, scale=0.1))
    return g.op("Conv", inputs, kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4, group=group, dilations=[dilation, dilation])


def batch_norm(g, x, c):
    params = [(1 + 0.1 * rng.standard_normal(c)), 0.1 * rng.standard_normal(c), 0.1 * rng.standard_normal(c), 1 + 0.1 * rng.random(c)]
    return g.op("BatchNormalization", [x] + [g.const(p.astype(np.float32)) for p in params], epsilon=1e-5)


def unet():
    g = Graph()

    def block(x, c_in, c_out):
        x = g.op("Relu", [batch_norm(g, conv(g, x, c_in, c_out, 3, bias=False), c_out)])
        return g.op("Relu", [batch_norm(g, conv(g, x, c_out, c_out, 3, bias=False), c_out)])

    e1 = block("image", 3, 8)
    e2 = block(g.op("MaxPool", [e1], kernel_shape=[2, 2], strides=[2, 2]), 8, 16)
    bottom = block(g.op("MaxPool", [e2], kernel_shape=[2, 2], strides=[2, 2]), 16, 32)
    up2 = g.op("ConvTranspose", [bottom, g.weight(32, 16, 2, 2, scale=0.2), g.weight(16, scale=0.1)], kernel_shape=[2, 2], strides=[2, 2])
    d2 = block(g.op("Concat", [up2, e2], axis=1), 32, 16)
    # The other upsampling torch emits: Resize to the skip's size read from its shape (bilinear, half_pixel).
    size = g.op("Concat", [g.op("Shape", [d2], end=2), g.op("Shape", [e1], start=2)], axis=0)
    up1 = g.op("Resize", [d2, "", "", size], mode="linear", coordinate_transformation_mode="half_pixel")
    d1 = block(g.op("Concat", [up1, e1], axis=1), 24, 8)
    out = conv(g, d1, 8, 2, 1)
    g.nodes[-1].output[0] = "mask"
    feeds = {"image": rng.standard_normal((2, 3, 32, 32)).astype(np.float32)}
    return save("unet", g, [vi("image", TensorProto.FLOAT, ["batch", 3, "height", "width"])], [vi("mask", TensorProto.FLOAT, ["batch", 2, "height", "width"])], feeds)


def mobilenet_v3_block():
    g = Graph()
    x = g.op("HardSwish", [batch_norm(g, conv(g, "image", 3, 16, 3, stride=2, bias=False), 16)])
    expanded = g.op("HardSwish", [batch_norm(g, conv(g, x, 16, 48, 1, bias=False), 48)])
    depthwise = g.op("HardSwish", [batch_norm(g, conv(g, expanded, 48, 48, 5, group=48, bias=False), 48)])
    squeeze = g.op("Relu", [conv(g, g.op("GlobalAveragePool", [depthwise]), 48, 12, 1)])
    excite = g.op("HardSigmoid", [conv(g, squeeze, 12, 48, 1)], alpha=1 / 6, beta=0.5)
    projected = batch_norm(g, conv(g, g.op("Mul", [depthwise, excite]), 48, 16, 1, bias=False), 16)
    y = g.op("Add", [projected, x])
    pooled = g.op("Flatten", [g.op("GlobalAveragePool", [y])], axis=1)
    hidden = g.op("HardSwish", [g.op("Gemm", [pooled, g.weight(32, 16), g.weight(32, scale=0.1)], transB=1)])
    logits = g.op("Gemm", [hidden, g.weight(10, 32), g.weight(10, scale=0.1)], transB=1)
    g.nodes[-1].output[0] = "logits"
    feeds = {"image": rng.standard_normal((2, 3, 32, 32)).astype(np.float32)}
    return save("mobilenet_v3_block", g, [vi("image", TensorProto.FLOAT, ["batch", 3, 32, 32])], [vi("logits", TensorProto.FLOAT, ["batch", 10])], feeds)


def deeplab_head():
    g = Graph()
    features = g.op("Relu", [batch_norm(g, conv(g, "image", 3, 16, 3, stride=2, bias=False), 16)])
    branches = [g.op("Relu", [conv(g, features, 16, 8, 1)])]
    for rate in (2, 3):
        branches.append(g.op("Relu", [conv(g, features, 16, 8, 3, dilation=rate)]))
    pooled = g.op("Relu", [conv(g, g.op("GlobalAveragePool", [features]), 16, 8, 1)])
    spatial = g.op("Slice", [g.op("Shape", [features]), g.const(np.array([2], np.int64)), g.const(np.array([4], np.int64))])
    # torchvision's ASPP pooling branch: F.interpolate(size=x.shape[-2:], mode="bilinear", align_corners=False)
    full = g.op("Concat", [g.op("Slice", [g.op("Shape", [pooled]), g.const(np.array([0], np.int64)), g.const(np.array([2], np.int64))]), spatial], axis=0)
    branches.append(g.op("Resize", [pooled, "", "", full], mode="linear", coordinate_transformation_mode="half_pixel"))
    merged = g.op("Relu", [conv(g, g.op("Concat", branches, axis=1), 32, 8, 1)])
    classes = conv(g, merged, 8, 4, 1)
    size = g.op("Shape", ["image"])
    out_size = g.op("Concat", [g.op("Slice", [g.op("Shape", [classes]), g.const(np.array([0], np.int64)), g.const(np.array([2], np.int64))]),
                               g.op("Slice", [size, g.const(np.array([2], np.int64)), g.const(np.array([4], np.int64))])], axis=0)
    g.op("Resize", [classes, "", "", out_size], mode="linear", coordinate_transformation_mode="half_pixel")
    g.nodes[-1].output[0] = "out"
    feeds = {"image": rng.standard_normal((1, 3, 40, 48)).astype(np.float32)}
    return save("deeplab_head", g, [vi("image", TensorProto.FLOAT, ["batch", 3, "height", "width"])], [vi("out", TensorProto.FLOAT, ["batch", 4, "height", "width"])], feeds)


def vit():
    g, hidden, heads, patch = Graph(), 48, 4, 8
    tokens = g.op("Conv", ["image", g.weight(hidden, 3, patch, patch, scale=0.1), g.weight(hidden, scale=0.1)],
                  kernel_shape=[patch, patch], strides=[patch, patch])
    seq = g.op("Transpose", [g.op("Reshape", [tokens, g.const(np.array([0, hidden, -1], np.int64))])], perm=[0, 2, 1])
    cls = g.op("Expand", [g.weight(1, 1, hidden, scale=0.5), g.op("Concat", [g.dim("image", 0), g.const(np.array([1, 1], np.int64))], axis=0)])
    x = g.op("Add", [g.op("Concat", [cls, seq], axis=1), g.weight(1, 17, hidden, scale=0.5)])
    for _ in range(2):
        x = g.op("Add", [x, g.attention(g.layer_norm(x, hidden), hidden, heads)])
        x = g.op("Add", [x, g.linear(g.gelu_erf(g.linear(g.layer_norm(x, hidden), hidden, 2 * hidden)), 2 * hidden, hidden)])
    first = g.op("Gather", [g.layer_norm(x, hidden), g.const(np.int64(0))], axis=1)
    g.op("Gemm", [first, g.weight(10, hidden), g.weight(10, scale=0.1)], transB=1)
    g.nodes[-1].output[0] = "logits"
    feeds = {"image": rng.standard_normal((2, 3, 32, 32)).astype(np.float32)}
    return save("vit", g, [vi("image", TensorProto.FLOAT, ["batch", 3, 32, 32])], [vi("logits", TensorProto.FLOAT, ["batch", 10])], feeds)


def detection_postprocess():
    """An SSD-style head and Mask R-CNN's second stage: conv features, anchor boxes moved by predicted offsets, class
    scores, NonMaxSuppression, the kept boxes gathered, and RoiAlign of the features inside them."""
    g = Graph()
    feat = g.op("Relu", [g.op("Conv", ["image", g.weight(8, 3, 3, 3, scale=0.3), g.weight(8, scale=0.1)],
                              pads=[1, 1, 1, 1], strides=[2, 2])])  # [1, 8, 16, 16]
    raw = g.op("Conv", [feat, g.weight(4, 8, 1, 1, scale=0.5), g.weight(4, scale=0.1)])
    deltas = g.op("Transpose", [g.op("Reshape", [raw, g.const(np.array([1, 4, -1], np.int64))])], perm=[0, 2, 1])
    cy, cx = np.meshgrid((np.arange(16) + 0.5) * 2, (np.arange(16) + 0.5) * 2, indexing="ij")
    anchors = np.stack([cy - 3, cx - 3, cy + 3, cx + 3], axis=-1).reshape(1, 256, 4).astype(np.float32)
    boxes = g.op("Add", [g.const(anchors), g.op("Mul", [g.op("Tanh", [deltas]), g.const(np.float32(2))])])
    logits = g.op("Conv", [feat, g.weight(3, 8, 1, 1, scale=1.0), g.weight(3, scale=0.1)])
    scores = g.op("Sigmoid", [g.op("Reshape", [logits, g.const(np.array([1, 3, -1], np.int64))])])  # [1, 3, 256]
    selected = g.op("NonMaxSuppression", [boxes, scores, g.const(np.array([4], np.int64)),
                                          g.const(np.array([0.3], np.float32)), g.const(np.array([0.6], np.float32))])
    box_index = g.op("Gather", [selected, g.const(np.int64(2))], axis=1)
    kept = g.op("Gather", [g.op("Squeeze", [boxes, g.const(np.array([0], np.int64))]), box_index], axis=0, )
    rois = g.op("Gather", [kept, g.const(np.array([1, 0, 3, 2], np.int64))], axis=1)  # x0, y0, x1, y1
    batch = g.op("Gather", [selected, g.const(np.int64(0))], axis=1)
    pooled = g.op("RoiAlign", [feat, rois, batch], output_height=2, output_width=2, sampling_ratio=2,
                  spatial_scale=0.5)
    classes = g.op("Cast", [g.op("Gather", [selected, g.const(np.int64(1))], axis=1)], to=TensorProto.FLOAT)
    g.nodes.append(helper.make_node("Identity", [kept], ["boxes"]))
    g.nodes.append(helper.make_node("Identity", [pooled], ["pooled"]))
    g.nodes.append(helper.make_node("Identity", [classes], ["classes"]))
    image = rng.standard_normal((1, 3, 32, 32)).astype(np.float32)
    return save("detection_postprocess", g, [vi("image", TensorProto.FLOAT, [1, 3, 32, 32])],
                [vi("boxes", TensorProto.FLOAT, ["k", 4]), vi("pooled", TensorProto.FLOAT, ["k", 8, 2, 2]),
                 vi("classes", TensorProto.FLOAT, ["k"])], {"image": image})


def greedy_decoder():
    """A recurrent greedy decoder as torch.jit.script exports one: a Loop of at most 8 steps carrying the hidden
    state and stopping when the argmax token is 0 after at least 3 steps, an If in its body choosing between two updates, and the weights
    and the input read from the enclosing graph."""
    g = Graph()
    hidden, vocab = 8, 5
    w, b, v = g.weight(hidden, hidden, scale=1.2), g.weight(hidden, scale=0.3), g.weight(hidden, vocab, scale=1.0)
    half, zero_f, stop = g.const(np.float32(0.5)), g.const(np.float32(0)), g.const(np.int64(0))
    body = Graph()
    body.count = 1000
    pre = body.op("Tanh", [body.op("Add", [body.op("MatMul", ["h_in", w]), b])])
    positive = body.op("Greater", [body.op("ReduceSum", [pre], keepdims=0), zero_f])
    then_out, else_out = body.name("then_h"), body.name("else_h")
    then_branch = helper.make_graph([helper.make_node("Mul", [pre, half], [then_out])], "then", [],
                                    [vi(then_out, TensorProto.FLOAT, [1, hidden])])
    else_branch = helper.make_graph([helper.make_node("Add", [pre, "x"], [else_out])], "else", [],
                                    [vi(else_out, TensorProto.FLOAT, [1, hidden])])
    h_new = body.op("If", [positive], then_branch=then_branch, else_branch=else_branch)
    logits = body.op("MatMul", [h_new, v])
    token = body.op("Squeeze", [body.op("ArgMax", [logits], axis=1, keepdims=0), g.const(np.array([0], np.int64))])
    early = body.op("Less", ["i", g.const(np.int64(2))])
    body.nodes.append(helper.make_node("Or", [early, body.op("Not", [body.op("Equal", [token, stop])])], ["cond_out"]))
    body.nodes.append(helper.make_node("Identity", [h_new], ["h_out"]))
    body.nodes.append(helper.make_node("Identity", [logits], ["logits_out"]))
    loop_body = helper.make_graph(
        body.nodes, "step",
        [vi("i", TensorProto.INT64, []), vi("cond_in", TensorProto.BOOL, []), vi("h_in", TensorProto.FLOAT, [1, hidden])],
        [vi("cond_out", TensorProto.BOOL, []), vi("h_out", TensorProto.FLOAT, [1, hidden]),
         vi("logits_out", TensorProto.FLOAT, [1, vocab])])
    g.nodes.append(helper.make_node("Loop", [g.const(np.array(8, np.int64)), g.const(np.array(True)), "x"],
                                    ["h_final", "logits"], name="decode", body=loop_body))
    x = rng.standard_normal((1, hidden)).astype(np.float32)
    return save("greedy_decoder", g, [vi("x", TensorProto.FLOAT, [1, hidden])],
                [vi("h_final", TensorProto.FLOAT, [1, hidden]), vi("logits", TensorProto.FLOAT, ["t", 1, vocab])],
                {"x": x})


def scan_rnn():
    """An RNN over time written as Scan (the opset 9+ form): the state [batch, hidden] carried, the input scanned
    along axis 1 (batch first), every step's state stacked along axis 1, the weights read from the enclosing graph."""
    g = Graph()
    features, hidden = 4, 6
    wx, wh = g.weight(features, hidden), g.weight(hidden, hidden)
    body = Graph()
    body.count = 1000
    state = body.op("Tanh", [body.op("Add", [body.op("MatMul", ["x_t", wx]), body.op("MatMul", ["s_in", wh])])])
    body.nodes.append(helper.make_node("Identity", [state], ["s_out"]))
    body.nodes.append(helper.make_node("Identity", [state], ["y_t"]))
    step = helper.make_graph(body.nodes, "step",
                             [vi("s_in", TensorProto.FLOAT, [2, hidden]), vi("x_t", TensorProto.FLOAT, [2, features])],
                             [vi("s_out", TensorProto.FLOAT, [2, hidden]), vi("y_t", TensorProto.FLOAT, [2, hidden])])
    g.nodes.append(helper.make_node("Scan", [g.const(np.zeros((2, hidden), np.float32)), "x"], ["state", "states"],
                                    name="rnn", body=step, num_scan_inputs=1, scan_input_axes=[1],
                                    scan_output_axes=[1]))
    x = rng.standard_normal((2, 5, features)).astype(np.float32)
    return save("scan_rnn", g, [vi("x", TensorProto.FLOAT, [2, 5, features])],
                [vi("state", TensorProto.FLOAT, [2, hidden]), vi("states", TensorProto.FLOAT, [2, 5, hidden])],
                {"x": x})


def main():
    if os.path.exists(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    cases = [bert_encoder(), gpt_decoder(), recurrent_classifier("LSTM"), recurrent_classifier("GRU"), unet(),
             mobilenet_v3_block(), deeplab_head(), vit(), detection_postprocess(), greedy_decoder(), scan_rnn()]
    with open(os.path.join(OUT, "cases.json"), "w") as handle:
        json.dump({"cases": cases}, handle, indent=1)
    print(f"wrote {len(cases)} zoo models to {OUT}")


if __name__ == "__main__":
    main()
