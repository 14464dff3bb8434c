#!/usr/bin/env python3
"""Regenerates the per-operator conformance fixtures under Tests/Fixtures/engine/ops/.

Each case is a small graph built with onnx.helper, run through onnxruntime; the model, its inputs
and onnxruntime's outputs are written as files that the Swift tests read (no Python at test time).

    pip install onnx onnxruntime numpy
    python3 tools/make_op_fixtures.py
"""
import json
import os
import shutil

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "engine", "ops")
RNG = np.random.default_rng(20261124)
F = TensorProto.FLOAT
I64 = TensorProto.INT64

CASES = []


def rand(*shape, low=-1.0, high=1.0):
    return RNG.uniform(low, high, size=shape).astype(np.float32)


def vi(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def init(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def case(name, nodes, inputs, outputs, feeds, initializers=(), opset=17, ml=False, tolerance=1e-5):
    """Builds, checks and runs one graph; records it for the manifest."""
    # Output shapes are left for the checker and the engine to infer.
    outputs = [helper.make_tensor_value_info(o.name, o.type.tensor_type.elem_type, None) for o in outputs]
    opsets = [helper.make_opsetid("", opset)]
    if ml:
        opsets.append(helper.make_opsetid("ai.onnx.ml", 1))
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=opsets, producer_name="switchyard-fixtures")
    model.ir_version = 8
    model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    onnx.checker.check_model(model)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    results = session.run(None, feeds)
    directory = os.path.join(ROOT, name)
    os.makedirs(directory, exist_ok=True)
    onnx.save(model, os.path.join(directory, "model.onnx"))
    input_names = []
    for index, (key, value) in enumerate(feeds.items()):
        np.save(os.path.join(directory, f"input_{index}.npy"), value)
        input_names.append(key)
    output_names = [o.name for o in outputs]
    for index, value in enumerate(results):
        np.save(os.path.join(directory, f"output_{index}.npy"), value)
    CASES.append({"name": name, "inputs": input_names, "outputs": output_names, "tolerance": tolerance})


def unary(op, x, **attrs):
    return helper.make_node(op, ["x"], ["y"], **attrs)


def build():
    N = "N"
    x34 = rand(3, 4, low=-3, high=3)
    # Gemm: transB with a bias row (PyTorch Linear), transA, alpha/beta with scalar and full C.
    a, w, b = rand(5, 6), rand(4, 6), rand(4)
    case("gemm_transB_bias", [helper.make_node("Gemm", ["a", "w", "b"], ["y"], transB=1)],
         [vi("a", F, [N, 6])], [vi("y", F, [N, 4])], {"a": a}, [init("w", w), init("b", b)])
    case("gemm_transA_alpha_beta", [helper.make_node("Gemm", ["a", "w", "c"], ["y"], transA=1, alpha=0.5, beta=2.0)],
         [vi("a", F, [6, 5])], [vi("y", F, [5, 4])], {"a": rand(6, 5)}, [init("w", rand(6, 4)), init("c", rand(5, 4))])
    case("gemm_scalar_c", [helper.make_node("Gemm", ["a", "w", "c"], ["y"], beta=-1.0)],
         [vi("a", F, [N, 6])], [vi("y", F, [N, 4])], {"a": a}, [init("w", rand(6, 4)), init("c", np.array(0.25, np.float32))])
    case("gemm_column_c", [helper.make_node("Gemm", ["a", "w", "c"], ["y"])],
         [vi("a", F, [5, 6])], [vi("y", F, [5, 4])], {"a": a}, [init("w", rand(6, 4)), init("c", rand(5, 1))])
    case("gemm_no_c", [helper.make_node("Gemm", ["a", "w"], ["y"], transA=0, transB=0)],
         [vi("a", F, [N, 6])], [vi("y", F, [N, 4])], {"a": a}, [init("w", rand(6, 4))], opset=11)
    # MatMul: 2-D, batched with broadcasting, vector operand, both operands inputs.
    case("matmul_2d", [helper.make_node("MatMul", ["a", "w"], ["y"])],
         [vi("a", F, [N, 6])], [vi("y", F, [N, 3])], {"a": a}, [init("w", rand(6, 3))])
    case("matmul_batched_broadcast", [helper.make_node("MatMul", ["a", "b"], ["y"])],
         [vi("a", F, [2, 1, 3, 4]), vi("b", F, [3, 4, 5])], [vi("y", F, [2, 3, 3, 5])],
         {"a": rand(2, 1, 3, 4), "b": rand(3, 4, 5)})
    case("matmul_vector", [helper.make_node("MatMul", ["a", "v"], ["y"])],
         [vi("a", F, [N, 3, 4])], [vi("y", F, [N, 3])], {"a": rand(2, 3, 4)}, [init("v", rand(4))])
    # Elementwise with broadcasting.
    for op in ["Add", "Sub", "Mul", "Div"]:
        case(f"{op.lower()}_broadcast", [helper.make_node(op, ["a", "b"], ["y"])],
             [vi("a", F, [N, 3, 4]), vi("b", F, [3, 1])], [vi("y", F, [N, 3, 4])],
             {"a": rand(2, 3, 4), "b": rand(3, 1, low=0.5, high=2.0)})
    case("add_same_shape", [helper.make_node("Add", ["a", "b"], ["y"])],
         [vi("a", F, [N, 4]), vi("b", F, [N, 4])], [vi("y", F, [N, 4])], {"a": x34, "b": rand(3, 4)})
    case("mul_scalar_initializer", [helper.make_node("Mul", ["a", "s"], ["y"])],
         [vi("a", F, [N, 4])], [vi("y", F, [N, 4])], {"a": x34}, [init("s", np.array(3.0, np.float32))])
    case("add_int64", [helper.make_node("Add", ["a", "b"], ["y"])],
         [vi("a", I64, [N, 3]), vi("b", I64, [3])], [vi("y", I64, [N, 3])],
         {"a": np.arange(6, dtype=np.int64).reshape(2, 3), "b": np.array([10, -20, 30], np.int64)})
    # Activations.
    x = rand(2, 3, 4, low=-4, high=4)
    for op, attrs in [("Relu", {}), ("Sigmoid", {}), ("Tanh", {}), ("LeakyRelu", {}), ("LeakyRelu", {"alpha": 0.2})]:
        suffix = "_alpha" if attrs else ""
        case(f"{op.lower()}{suffix}", [unary(op, x, **attrs)], [vi("x", F, [N, 3, 4])], [vi("y", F, [N, 3, 4])], {"x": x})
    case("clip_min_max", [helper.make_node("Clip", ["x", "lo", "hi"], ["y"])],
         [vi("x", F, [N, 3, 4])], [vi("y", F, [N, 3, 4])], {"x": x},
         [init("lo", np.array(-1.5, np.float32)), init("hi", np.array(2.0, np.float32))])
    case("clip_min_only", [helper.make_node("Clip", ["x", "lo"], ["y"])],
         [vi("x", F, [N, 3, 4])], [vi("y", F, [N, 3, 4])], {"x": x}, [init("lo", np.array(0.5, np.float32))])
    case("clip_max_only", [helper.make_node("Clip", ["x", "", "hi"], ["y"])],
         [vi("x", F, [N, 3, 4])], [vi("y", F, [N, 3, 4])], {"x": x}, [init("hi", np.array(0.5, np.float32))])
    # Softmax family: opset 13+ is per-axis, opset 11 coerces to 2-D at the axis.
    for op in ["Softmax", "LogSoftmax"]:
        low = op.lower()
        case(f"{low}_default", [unary(op, x)], [vi("x", F, [N, 3, 4])], [vi("y", F, [N, 3, 4])], {"x": x})
        case(f"{low}_axis1", [unary(op, x, axis=1)], [vi("x", F, [N, 3, 4])], [vi("y", F, [N, 3, 4])], {"x": x})
        case(f"{low}_opset11_coerced", [unary(op, x, axis=1)], [vi("x", F, [N, 3, 4])], [vi("y", F, [N, 3, 4])],
             {"x": x}, opset=11)
    case("softmax_large_values", [unary("Softmax", x)], [vi("x", F, [N, 4])], [vi("y", F, [N, 4])],
         {"x": np.array([[1000, 1001, 1002, 999], [-1000, -1000, -1000, -1000]], np.float32)})
    # Shape movers.
    x4 = rand(2, 3, 4, 5)
    case("flatten_axis2", [unary("Flatten", x4, axis=2)], [vi("x", F, [N, 3, 4, 5])], [vi("y", F, [N * 1, 20])], {"x": x4})
    case("flatten_default", [unary("Flatten", x4)], [vi("x", F, [N, 3, 4, 5])], [vi("y", F, [N, 60])], {"x": x4})
    case("reshape_minus1_zero", [helper.make_node("Reshape", ["x", "s"], ["y"])],
         [vi("x", F, [N, 3, 4, 5])], [vi("y", F, [N, 3, 20])], {"x": x4}, [init("s", np.array([0, 3, -1], np.int64))])
    case("reshape_opset11", [helper.make_node("Reshape", ["x", "s"], ["y"])],
         [vi("x", F, [N, 3, 4, 5])], [vi("y", F, [N, 60])], {"x": x4}, [init("s", np.array([-1, 60], np.int64))], opset=11)
    case("transpose_perm", [unary("Transpose", x4, perm=[0, 2, 3, 1])], [vi("x", F, [N, 3, 4, 5])],
         [vi("y", F, [N, 4, 5, 3])], {"x": x4})
    case("transpose_default", [unary("Transpose", x)], [vi("x", F, [2, 3, 4])], [vi("y", F, [4, 3, 2])], {"x": x})
    case("identity", [unary("Identity", x)], [vi("x", F, [N, 3, 4])], [vi("y", F, [N, 3, 4])], {"x": x})
    case("dropout_inference", [helper.make_node("Dropout", ["x", "r"], ["y"])], [vi("x", F, [N, 3, 4])],
         [vi("y", F, [N, 3, 4])], {"x": x}, [init("r", np.array(0.3, np.float32))])
    case("dropout_mask", [helper.make_node("Dropout", ["x"], ["y", "m"], ratio=0.5)], [vi("x", F, [N, 3, 4])],
         [vi("y", F, [N, 3, 4]), vi("m", TensorProto.BOOL, [N, 3, 4])], {"x": x}, opset=11)
    case("concat_axis1", [helper.make_node("Concat", ["a", "b", "c"], ["y"], axis=1)],
         [vi("a", F, [2, 2, 3]), vi("b", F, [2, 1, 3])], [vi("y", F, [N, 7, 3])],
         {"a": rand(2, 2, 3), "b": rand(2, 1, 3)}, [init("c", rand(2, 4, 3))])
    case("concat_negative_axis_int64", [helper.make_node("Concat", ["a", "b"], ["y"], axis=-1)],
         [vi("a", I64, [N, 2]), vi("b", I64, [N, 3])], [vi("y", I64, [N, 5])],
         {"a": np.array([[1, 2], [3, 4]], np.int64), "b": np.array([[5, 6, 7], [8, 9, 10]], np.int64)})
    case("cast_float_to_int64", [unary("Cast", x, to=I64)], [vi("x", F, [N, 3, 4])], [vi("y", I64, [N, 3, 4])], {"x": x})
    case("cast_int64_to_float", [unary("Cast", x, to=F)], [vi("x", I64, [N, 3])], [vi("y", F, [N, 3])],
         {"x": np.array([[1, -2, 3], [1 << 40, 5, -6]], np.int64)})
    case("cast_float_to_uint8", [unary("Cast", x, to=TensorProto.UINT8)], [vi("x", F, [N, 3])],
         [vi("y", TensorProto.UINT8, [N, 3])], {"x": np.array([[0, 1.7, 200.2], [3, 4.9, 255]], np.float32)})
    case("argmax_axis1", [unary("ArgMax", x, axis=1, keepdims=0)], [vi("x", F, [N, 3, 4])], [vi("y", I64, [N, 4])], {"x": x})
    case("argmax_last_keepdims", [unary("ArgMax", x, axis=-1, keepdims=1, select_last_index=1)],
         [vi("x", F, [N, 4])], [vi("y", I64, [N, 1])], {"x": np.array([[1, 3, 3, 0], [2, 2, 2, 2]], np.float32)})
    # Convolution and pooling (NCHW).
    img = rand(2, 3, 7, 7)
    case("conv_basic", [helper.make_node("Conv", ["x", "w"], ["y"])], [vi("x", F, [N, 3, 7, 7])],
         [vi("y", F, [N, 4, 5, 5])], {"x": img}, [init("w", rand(4, 3, 3, 3))])
    case("conv_bias_pads_strides", [helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 2, 0, 1], strides=[2, 1])],
         [vi("x", F, [N, 3, 7, 7])], [vi("y", F, [N, 4, 4, 8])], {"x": img}, [init("w", rand(4, 3, 3, 3)), init("b", rand(4))])
    case("conv_dilations", [helper.make_node("Conv", ["x", "w"], ["y"], dilations=[2, 2], kernel_shape=[3, 3])],
         [vi("x", F, [N, 3, 7, 7])], [vi("y", F, [N, 2, 3, 3])], {"x": img}, [init("w", rand(2, 3, 3, 3))])
    case("conv_group_depthwise", [helper.make_node("Conv", ["x", "w", "b"], ["y"], group=3, pads=[1, 1, 1, 1])],
         [vi("x", F, [N, 3, 7, 7])], [vi("y", F, [N, 6, 7, 7])], {"x": img}, [init("w", rand(6, 1, 3, 3)), init("b", rand(6))])
    case("conv_auto_pad_same_upper", [helper.make_node("Conv", ["x", "w"], ["y"], auto_pad="SAME_UPPER", strides=[2, 2])],
         [vi("x", F, [N, 3, 7, 7])], [vi("y", F, [N, 4, 4, 4])], {"x": img}, [init("w", rand(4, 3, 2, 2))])
    case("conv_auto_pad_same_lower", [helper.make_node("Conv", ["x", "w"], ["y"], auto_pad="SAME_LOWER")],
         [vi("x", F, [N, 3, 7, 7])], [vi("y", F, [N, 4, 7, 7])], {"x": img}, [init("w", rand(4, 3, 2, 2))])
    case("conv_auto_pad_valid", [helper.make_node("Conv", ["x", "w"], ["y"], auto_pad="VALID", strides=[2, 2])],
         [vi("x", F, [N, 3, 7, 7])], [vi("y", F, [N, 4, 3, 3])], {"x": img}, [init("w", rand(4, 3, 2, 2))])
    case("conv_1x1", [helper.make_node("Conv", ["x", "w", "b"], ["y"])],
         [vi("x", F, [N, 3, 7, 7])], [vi("y", F, [N, 5, 7, 7])], {"x": img}, [init("w", rand(5, 3, 1, 1)), init("b", rand(5))])
    case("maxpool_basic", [helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2])],
         [vi("x", F, [N, 3, 7, 7])], [vi("y", F, [N, 3, 3, 3])], {"x": img})
    case("maxpool_pads_ceil", [helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2],
                                                pads=[1, 1, 1, 1], ceil_mode=1)],
         [vi("x", F, [N, 3, 7, 7])], [vi("y", F, [N, 3, 4, 4])], {"x": img})
    case("maxpool_dilations", [helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], dilations=[2, 2])],
         [vi("x", F, [N, 3, 7, 7])], [vi("y", F, [N, 3, 5, 5])], {"x": img})
    case("maxpool_same_upper", [helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], auto_pad="SAME_UPPER",
                                                 strides=[2, 2])],
         [vi("x", F, [N, 3, 7, 7])], [vi("y", F, [N, 3, 4, 4])], {"x": img})
    case("averagepool_exclude_pad", [helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])],
         [vi("x", F, [N, 3, 7, 7])], [vi("y", F, [N, 3, 5, 5]) if False else vi("y", F, [N, 3, 7, 7])], {"x": img})
    case("averagepool_include_pad", [helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2],
                                                      pads=[1, 1, 1, 1], count_include_pad=1)],
         [vi("x", F, [N, 3, 7, 7])], [vi("y", F, [N, 3, 4, 4])], {"x": img})
    case("averagepool_ceil", [helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)],
         [vi("x", F, [N, 3, 7, 7])], [vi("y", F, [N, 3, 4, 4])], {"x": img})
    case("globalaveragepool", [unary("GlobalAveragePool", img)], [vi("x", F, [N, 3, 7, 7])], [vi("y", F, [N, 3, 1, 1])], {"x": img})
    case("batchnormalization", [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], epsilon=1e-3)],
         [vi("x", F, [N, 3, 7, 7])], [vi("y", F, [N, 3, 7, 7])], {"x": img},
         [init("s", rand(3)), init("b", rand(3)), init("m", rand(3)), init("v", rand(3, low=0.5, high=2))])
    case("batchnormalization_2d", [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"])],
         [vi("x", F, [N, 4])], [vi("y", F, [N, 4])], {"x": x34},
         [init("s", rand(4)), init("b", rand(4)), init("m", rand(4)), init("v", rand(4, low=0.5, high=2))], opset=11)
    # ai.onnx.ml
    case("arrayfeatureextractor", [helper.make_node("ArrayFeatureExtractor", ["x", "i"], ["y"], domain="ai.onnx.ml")],
         [vi("x", F, [N, 4]), vi("i", I64, [2])], [vi("y", F, [N, 2])],
         {"x": x34, "i": np.array([3, 1], np.int64)}, ml=True)
    # Fusion patterns: MatMul+Add+activation, Gemm+activation, Conv+Relu, a small CNN like a PyTorch export.
    h = rand(4, 10)
    case("fused_matmul_add_relu", [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Add", ["m", "b"], ["a"]),
                                   helper.make_node("Relu", ["a"], ["y"])],
         [vi("x", F, [N, 10])], [vi("y", F, [N, 8])], {"x": h}, [init("w", rand(10, 8)), init("b", rand(8))])
    case("fused_add_bias_first", [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Add", ["b", "m"], ["a"]),
                                  helper.make_node("Sigmoid", ["a"], ["y"])],
         [vi("x", F, [N, 10])], [vi("y", F, [N, 8])], {"x": h}, [init("w", rand(10, 8)), init("b", rand(1, 8))])
    case("fused_gemm_tanh", [helper.make_node("Gemm", ["x", "w", "b"], ["g"], transB=1), helper.make_node("Tanh", ["g"], ["y"])],
         [vi("x", F, [N, 10])], [vi("y", F, [N, 8])], {"x": h}, [init("w", rand(8, 10)), init("b", rand(8))])
    case("fused_gemm_leakyrelu_clip", [helper.make_node("Gemm", ["x", "w", "b"], ["g"]),
                                       helper.make_node("LeakyRelu", ["g"], ["l"], alpha=0.1),
                                       helper.make_node("Clip", ["l", "lo", "hi"], ["y"])],
         [vi("x", F, [N, 10])], [vi("y", F, [N, 8])], {"x": h},
         [init("w", rand(10, 8)), init("b", rand(8)), init("lo", np.array(-0.05, np.float32)), init("hi", np.array(0.6, np.float32))])
    case("not_fused_intermediate_output", [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Add", ["m", "b"], ["a"]),
                                           helper.make_node("Relu", ["a"], ["y"])],
         [vi("x", F, [N, 10])], [vi("y", F, [N, 8]), vi("a", F, [N, 8])], {"x": h}, [init("w", rand(10, 8)), init("b", rand(8))])
    case("small_cnn", [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"]),
        helper.make_node("BatchNormalization", ["c2", "s", "bb", "m", "v"], ["n2"]),
        helper.make_node("Relu", ["n2"], ["r2"]),
        helper.make_node("Flatten", ["r2"], ["f"]),
        helper.make_node("Gemm", ["f", "w3", "b3"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["y"], axis=1),
    ], [vi("x", F, [N, 1, 8, 8])], [vi("y", F, [N, 5])], {"x": rand(3, 1, 8, 8)},
        [init("w1", rand(4, 1, 3, 3)), init("b1", rand(4)), init("w2", rand(6, 4, 3, 3)), init("b2", rand(6)),
         init("s", rand(6)), init("bb", rand(6)), init("m", rand(6)), init("v", rand(6, low=0.5, high=2)),
         init("w3", rand(5, 24)), init("b3", rand(5))])
    nan_in = rand(3, 10)
    nan_in[0, 0] = np.nan
    nan_in[1, 3] = np.inf
    nan_in[2, 5] = -np.inf
    case("nan_inf_mlp", [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Add", ["m", "b"], ["a"]),
                         helper.make_node("Relu", ["a"], ["r"]), helper.make_node("Softmax", ["r"], ["y"], axis=1)],
         [vi("x", F, [N, 10])], [vi("y", F, [N, 8])], {"x": nan_in}, [init("w", rand(10, 8)), init("b", rand(8))])
    # Shape-computing ops as PyTorch emits them (evaluated when the plan is made).
    case("shape_gather_unsqueeze_concat_reshape", [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "axes"], ["nn"]),
        helper.make_node("Concat", ["nn", "minus1"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"]),
    ], [vi("x", F, [N, 3, 4])], [vi("y", F, [N, 12])], {"x": x},
        [init("zero", np.array(0, np.int64)), init("axes", np.array([0], np.int64)), init("minus1", np.array([-1], np.int64))])
    case("constant_squeeze", [
        helper.make_node("Constant", [], ["c"], value=numpy_helper.from_array(rand(1, 4), "c")),
        helper.make_node("Squeeze", ["c", "axes"], ["cs"]),
        helper.make_node("Add", ["x", "cs"], ["y"]),
    ], [vi("x", F, [N, 4])], [vi("y", F, [N, 4])], {"x": x34}, [init("axes", np.array([0], np.int64))])
    # Few rows take the matrix-vector path: cover transA there too (appended last so earlier draws stay put).
    case("gemm_transA_two_rows", [helper.make_node("Gemm", ["a", "w", "c"], ["y"], transA=1, transB=1, alpha=1.5)],
         [vi("a", F, [6, 2])], [vi("y", F, [2, 4])], {"a": rand(6, 2)}, [init("w", rand(4, 6)), init("c", rand(4))])
    case("gemm_single_row_beta", [helper.make_node("Gemm", ["a", "w", "c"], ["y"], beta=0.5)],
         [vi("a", F, [N, 6])], [vi("y", F, [N, 4])], {"a": rand(1, 6)}, [init("w", rand(6, 4)), init("c", rand(1, 4))])
    case("unsqueeze_opset11_attr", [helper.make_node("Unsqueeze", ["x"], ["y"], axes=[1])],
         [vi("x", F, [N, 4])], [vi("y", F, [N, 1, 4])], {"x": x34}, opset=11)


def main():
    if os.path.isdir(ROOT):
        shutil.rmtree(ROOT)
    os.makedirs(ROOT)
    build()
    with open(os.path.join(ROOT, "cases.json"), "w") as handle:
        json.dump({"onnxruntime": ort.__version__, "onnx": onnx.__version__, "cases": CASES}, handle, indent=1)
    print(f"wrote {len(CASES)} cases to {os.path.normpath(ROOT)}")


if __name__ == "__main__":
    main()
