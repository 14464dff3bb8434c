#!/usr/bin/env python3
"""Regenerates the ai.onnx.ml conformance fixtures under Tests/Fixtures/engine/ml/.

Each case is a small graph (built with onnx.helper, or exported from scikit-learn, XGBoost or LightGBM) run
through onnxruntime; the model, its inputs and onnxruntime's outputs are written as files that the Swift tests
read (no Python at test time). Needs ops/python/requirements-ml.txt:

    .venv/bin/python tools/make_ml_fixtures.py
"""
import json
import os
import shutil

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "engine", "ml")
RNG = np.random.default_rng(20261128)
F = TensorProto.FLOAT
D = TensorProto.DOUBLE
I64 = TensorProto.INT64
I32 = TensorProto.INT32
STR = TensorProto.STRING
ML = "ai.onnx.ml"

CASES = []


def vi(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def ml_node(op, inputs, outputs, **attrs):
    return helper.make_node(op, inputs, outputs, domain=ML, **attrs)


def case(name, nodes, inputs, outputs, feeds, ml=1, opset=17, tolerance=1e-5, initializers=()):
    """Builds, checks and runs one graph; records it for the manifest."""
    opsets = [helper.make_opsetid("", opset), helper.make_opsetid(ML, ml)]
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=opsets, producer_name="switchyard-fixtures")
    model.ir_version = 8 if ml < 5 else 10
    save(name, model, feeds, tolerance)


def save(name, model, feeds, tolerance=1e-5, zipmap=False):
    onnx.checker.check_model(model)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    results = session.run(None, feeds)
    if zipmap:  # onnxruntime answers a list of {class: probability}; the engine its tensor form
        results = [np.array([[row[key] for key in sorted(row)] for row in output], np.float32)
                   if isinstance(output, list) else output for output in results]
    directory = os.path.join(ROOT, name)
    os.makedirs(directory, exist_ok=True)
    onnx.save(model, os.path.join(directory, "model.onnx"))
    for index, value in enumerate(feeds.values()):
        np.save(os.path.join(directory, f"input_{index}.npy"), value)
    for index, value in enumerate(results):
        if value.dtype == object:  # onnxruntime's strings: saved as NumPy unicode, which needs no pickle
            value = value.astype(str)
        np.save(os.path.join(directory, f"output_{index}.npy"), value)
    CASES.append({
        "name": name, "inputs": list(feeds.keys()), "outputs": [o.name for o in session.get_outputs()],
        "tolerance": tolerance,
    })


# ---------------------------------------------------------------------------------------------------------------
# Tree ensembles made by hand: every node mode, NaN routing, base values, aggregates and post transforms.

MODES = ["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ"]
GRID = np.array([-1.0, -0.5, 0.0, 0.25, 0.5, 1.0], np.float32)  # thresholds and some inputs share these values


def random_trees(count, depth, features, modes, leaf_votes, missing=True, full=False):
    """Node tables for `count` random trees: returns nodes_* lists and per-leaf (tree, node) ids."""
    nodes = {k: [] for k in ["treeids", "nodeids", "featureids", "modes", "values", "truenodeids", "falsenodeids",
                             "missing"]}
    leaves = []
    for tree in range(count):
        counter = [0]

        def grow(level):
            node = counter[0]
            counter[0] += 1
            index = len(nodes["treeids"])
            for key in nodes:
                nodes[key].append(0)
            nodes["treeids"][index] = tree
            nodes["nodeids"][index] = node
            stop = level >= depth or (not full and level > 0 and RNG.random() < 0.25)
            if stop:
                nodes["modes"][index] = "LEAF"
                leaves.append((tree, node))
                return node
            nodes["modes"][index] = str(RNG.choice(modes))
            nodes["featureids"][index] = int(RNG.integers(0, features))
            nodes["values"][index] = float(RNG.choice(GRID)) if RNG.random() < 0.5 else float(RNG.normal())
            nodes["missing"][index] = int(missing and RNG.random() < 0.3)
            nodes["truenodeids"][index] = grow(level + 1)
            nodes["falsenodeids"][index] = grow(level + 1)
            return node

        grow(0)
    votes = {"treeids": [], "nodeids": [], "ids": [], "weights": []}
    for tree, node in leaves:
        for target, weight in leaf_votes():
            votes["treeids"].append(tree)
            votes["nodeids"].append(node)
            votes["ids"].append(target)
            votes["weights"].append(weight)
    return nodes, votes


def node_attrs(nodes, as_tensor=False, with_missing=True):
    attrs = dict(nodes_treeids=nodes["treeids"], nodes_nodeids=nodes["nodeids"], nodes_featureids=nodes["featureids"],
                 nodes_modes=nodes["modes"], nodes_truenodeids=nodes["truenodeids"],
                 nodes_falsenodeids=nodes["falsenodeids"])
    if with_missing:
        attrs["nodes_missing_value_tracks_true"] = nodes["missing"]
    if as_tensor:
        attrs["nodes_values_as_tensor"] = helper.make_tensor("v", D, [len(nodes["values"])], nodes["values"])
    else:
        attrs["nodes_values"] = nodes["values"]
    return attrs


def tabular(rows, features, nan=0.1, grid=0.3):
    x = RNG.normal(size=(rows, features)).astype(np.float32)
    mask = RNG.random(x.shape) < grid
    x[mask] = RNG.choice(GRID, size=mask.sum())
    x[RNG.random(x.shape) < nan] = np.nan
    return x


def regressor_cases():
    x = tabular(37, 4)
    for aggregate in ["SUM", "AVERAGE", "MIN", "MAX"]:
        nodes, votes = random_trees(5, 4, 4, MODES, lambda: [(0, float(RNG.normal())), (1, float(RNG.normal()))])
        attrs = node_attrs(nodes)
        attrs.update(target_treeids=votes["treeids"], target_nodeids=votes["nodeids"], target_ids=votes["ids"],
                     target_weights=votes["weights"], n_targets=2, aggregate_function=aggregate,
                     base_values=[0.5, -1.0])
        case(f"tree_regressor_all_modes_{aggregate.lower()}", [ml_node("TreeEnsembleRegressor", ["x"], ["y"], **attrs)],
             [vi("x", F, ["N", 4])], [vi("y", F, ["N", 2])], {"x": x})
    # One target, base value as the origin, double thresholds and weights (version 3), double input.
    nodes, votes = random_trees(6, 5, 4, MODES[:4], lambda: [(0, float(RNG.normal()))])
    attrs = node_attrs(nodes, as_tensor=True)
    attrs.update(target_treeids=votes["treeids"], target_nodeids=votes["nodeids"], target_ids=votes["ids"],
                 target_weights_as_tensor=helper.make_tensor("w", D, [len(votes["weights"])], votes["weights"]),
                 n_targets=1, base_values_as_tensor=helper.make_tensor("b", D, [1], [0.125]))
    case("tree_regressor_v3_double_input", [ml_node("TreeEnsembleRegressor", ["x"], ["y"], **attrs)],
         [vi("x", D, ["N", 4])], [vi("y", F, ["N", 1])], {"x": tabular(29, 4).astype(np.float64)}, ml=3)
    attrs = node_attrs(nodes)
    attrs.update(target_treeids=votes["treeids"], target_nodeids=votes["nodeids"], target_ids=votes["ids"],
                 target_weights=votes["weights"], n_targets=1, base_values=[0.125])
    case("tree_regressor_v3_float_attributes_double_input", [ml_node("TreeEnsembleRegressor", ["x"], ["y"], **attrs)],
         [vi("x", D, ["N", 4])], [vi("y", F, ["N", 1])], {"x": tabular(29, 4).astype(np.float64)}, ml=3)
    # Deep, full trees without NaN: the fast walk on blocks of eight rows and a remainder.
    nodes, votes = random_trees(24, 6, 10, ["BRANCH_LEQ"], lambda: [(0, float(RNG.normal()))], missing=False,
                                full=True)
    attrs = node_attrs(nodes)
    attrs.update(target_treeids=votes["treeids"], target_nodeids=votes["nodeids"], target_ids=votes["ids"],
                 target_weights=votes["weights"], n_targets=1)
    case("tree_regressor_deep", [ml_node("TreeEnsembleRegressor", ["x"], ["y"], **attrs)],
         [vi("x", F, ["N", 10])], [vi("y", F, ["N", 1])], {"x": tabular(67, 10, nan=0.0)})


def classifier_cases():
    x = tabular(41, 5)

    def make(name, classes, votes_fn, post, base=None, labels=None, modes=MODES, trees=4, depth=4, ml=1):
        nodes, votes = random_trees(trees, depth, 5, modes, votes_fn)
        attrs = node_attrs(nodes)
        attrs.update(class_treeids=votes["treeids"], class_nodeids=votes["nodeids"], class_ids=votes["ids"],
                     class_weights=votes["weights"], classlabels_int64s=labels or list(range(classes)),
                     post_transform=post)
        if base is not None:
            attrs["base_values"] = base
        case(name, [ml_node("TreeEnsembleClassifier", ["x"], ["label", "scores"], **attrs)],
             [vi("x", F, ["N", 5])], [vi("label", I64, ["N"]), vi("scores", F, ["N", classes])], {"x": x}, ml=ml)

    # Binary as scikit-learn writes it: votes for one class only.
    make("tree_classifier_binary_probabilities", 2, lambda: [(0, float(RNG.uniform(0, 0.25)))], "NONE",
         labels=[3, 7])
    make("tree_classifier_binary_logistic", 2, lambda: [(0, float(RNG.normal()))], "LOGISTIC", base=[0.3])
    make("tree_classifier_binary_logistic_no_base", 2, lambda: [(0, float(RNG.normal()))], "LOGISTIC")
    make("tree_classifier_binary_mixed_none", 2, lambda: [(0, float(RNG.normal()))], "NONE", base=[0.1])
    make("tree_classifier_binary_two_bases", 2, lambda: [(1, float(RNG.normal()))], "LOGISTIC", base=[0.2, 0.2])
    make("tree_classifier_binary_both_classes", 2, lambda: [(0, float(RNG.uniform(0, 1))), (1, float(RNG.uniform(0, 1)))],
         "SOFTMAX")
    # Multi-class: per-class trees (gradient boosting), all classes per leaf (random forest), base values.
    make("tree_classifier_multiclass_softmax", 4, lambda: [(int(RNG.integers(0, 4)), float(RNG.normal()))], "SOFTMAX",
         base=[0.1, -0.2, 0.3, 0.0], trees=8)
    make("tree_classifier_multiclass_none", 3, lambda: [(c, float(RNG.uniform(0, 0.3))) for c in range(3)], "NONE",
         labels=[10, 20, 30])
    make("tree_classifier_multiclass_softmax_zero", 3, lambda: [(int(RNG.integers(0, 3)), float(RNG.normal()))],
         "SOFTMAX_ZERO")
    make("tree_classifier_multiclass_logistic", 3, lambda: [(int(RNG.integers(0, 3)), float(RNG.normal()))],
         "LOGISTIC", ml=3)
    make("tree_classifier_multiclass_probit", 3, lambda: [(int(RNG.integers(0, 3)), float(RNG.uniform(0.05, 0.3)))],
         "PROBIT")


def tree_ensemble_v5_cases():
    # Interior nodes and leaves in separate tables; a member node, a single-leaf tree, two targets.
    modes = np.array([0, 6, 3, 1], np.uint8)  # LEQ, MEMBER, GT, LT
    attrs = dict(
        nodes_featureids=[0, 1, 2, 0], nodes_modes=helper.make_tensor("m", TensorProto.UINT8, [4], modes),
        nodes_splits=helper.make_tensor("s", F, [4], [0.5, 0.0, -0.25, 1.0]),
        nodes_truenodeids=[1, 0, 1, 2], nodes_trueleafs=[0, 1, 1, 1],
        nodes_falsenodeids=[2, 1, 2, 2], nodes_falseleafs=[0, 1, 1, 1],
        nodes_missing_value_tracks_true=[0, 1, 0, 0],
        membership_values=helper.make_tensor("mv", F, [4], [1.0, 2.0, 0.25, float("nan")]),
        leaf_targetids=[0, 1, 0, 1], leaf_weights=helper.make_tensor("w", F, [4], [1.5, -2.0, 0.25, 4.0]),
        tree_roots=[0, 3], n_targets=2, aggregate_function=1, post_transform=0)
    x = tabular(23, 3)
    x[:6, 1] = [1.0, 2.0, 0.25, 3.0, np.nan, 0.0]
    case("tree_ensemble_v5_member", [ml_node("TreeEnsemble", ["x"], ["y"], **attrs)], [vi("x", F, ["N", 3])],
         [vi("y", F, ["N", 2])], {"x": x}, ml=5, opset=21)
    # Double splits and double input, averaged, softmax over three targets.
    count = 7
    attrs = dict(
        nodes_featureids=[0, 1, 2, 0, 1, 2, 0],
        nodes_modes=helper.make_tensor("m", TensorProto.UINT8, [count], [0, 1, 2, 3, 0, 1, 2]),
        nodes_splits=helper.make_tensor("s", D, [count], [0.1, -0.3, 0.7, 0.0, 0.5, 0.25, -1.0]),
        nodes_truenodeids=[1, 0, 2, 4, 3, 4, 5], nodes_trueleafs=[0, 1, 1, 0, 1, 1, 1],
        nodes_falsenodeids=[2, 1, 3, 5, 2, 5, 6], nodes_falseleafs=[0, 1, 1, 0, 1, 1, 1],
        leaf_targetids=[0, 1, 2, 0, 1, 2, 0], leaf_weights=helper.make_tensor("w", D, [count], list(RNG.normal(size=count))),
        tree_roots=[0, 3, 6], n_targets=3, aggregate_function=0, post_transform=3)
    # post_transform 3 (SOFTMAX_ZERO): onnxruntime 1.32 reads 1 as LOGISTIC and 2 as SOFTMAX, the spec the reverse.
    case("tree_ensemble_v5_double", [ml_node("TreeEnsemble", ["x"], ["y"], **attrs)], [vi("x", D, ["N", 3])],
         [vi("y", D, ["N", 3])], {"x": tabular(19, 3, nan=0.0).astype(np.float64)}, ml=5, opset=21)


# ---------------------------------------------------------------------------------------------------------------
# Preprocessing, linear models, SVMs and label encoders made by hand.

def feature_cases():
    x = RNG.normal(size=(7, 4)).astype(np.float32)
    case("scaler_per_feature", [ml_node("Scaler", ["x"], ["y"], offset=[0.5, -1.0, 0.0, 2.0], scale=[2.0, 0.5, 1.0, -1.0])],
         [vi("x", F, ["N", 4])], [vi("y", F, ["N", 4])], {"x": x})
    case("scaler_single_int64", [ml_node("Scaler", ["x"], ["y"], offset=[1.5], scale=[0.25])],
         [vi("x", I64, ["N", 3])], [vi("y", F, ["N", 3])], {"x": RNG.integers(-5, 5, size=(4, 3)).astype(np.int64)})
    xb = x.copy()
    xb[0, 0] = 0.3  # onnxruntime refuses NaN here (the reference answers 0, as the engine does)
    xb[1, 1] = 0.3
    case("binarizer", [ml_node("Binarizer", ["x"], ["y"], threshold=0.3)], [vi("x", F, ["N", 4])],
         [vi("y", F, ["N", 4])], {"x": xb})
    xi = x.copy()
    xi[RNG.random(xi.shape) < 0.3] = np.nan
    case("imputer_nan_per_feature", [ml_node("Imputer", ["x"], ["y"], imputed_value_floats=[1.0, 2.0, 3.0, 4.0],
                                             replaced_value_float=float("nan"))],
         [vi("x", F, ["N", 4])], [vi("y", F, ["N", 4])], {"x": xi})
    xz = np.array([[0, 3, -1], [5, 0, 0]], np.int64)
    case("imputer_int64_zero", [ml_node("Imputer", ["x"], ["y"], imputed_value_int64s=[7], replaced_value_int64=0)],
         [vi("x", I64, ["N", 3])], [vi("y", I64, ["N", 3])], {"x": xz})
    cats = np.array([[1, 5], [3, 9], [5, 1]], np.int64)
    case("onehotencoder_int64", [ml_node("OneHotEncoder", ["x"], ["y"], cats_int64s=[1, 3, 5, 7], zeros=1)],
         [vi("x", I64, ["N", 2])], [vi("y", F, ["N", 2, 4])], {"x": cats})
    case("onehotencoder_float_input", [ml_node("OneHotEncoder", ["x"], ["y"], cats_int64s=[0, 1, 2])],
         [vi("x", F, ["N", 2])], [vi("y", F, ["N", 2, 3])], {"x": np.array([[0, 2], [1, 5]], np.float32)})
    case("featurevectorizer", [ml_node("FeatureVectorizer", ["a", "b"], ["y"], inputdimensions=[2, 3])],
         [vi("a", F, ["N", 2]), vi("b", F, ["N", 2])], [vi("y", F, ["N", 5])],
         {"a": x[:, :2].copy(), "b": x[:, 2:].copy()})
    xn = np.concatenate([x, np.zeros((1, 4), np.float32), -np.abs(x[:1])])
    for norm in ["MAX", "L1", "L2"]:
        case(f"normalizer_{norm.lower()}", [ml_node("Normalizer", ["x"], ["y"], norm=norm)], [vi("x", F, ["N", 4])],
             [vi("y", F, ["N", 4])], {"x": xn})
    case("normalizer_l2_double", [ml_node("Normalizer", ["x"], ["y"], norm="L2")], [vi("x", D, ["N", 4])],
         [vi("y", F, ["N", 4])], {"x": xn.astype(np.float64)})
    case("arrayfeatureextractor_int64", [ml_node("ArrayFeatureExtractor", ["x", "i"], ["y"])],
         [vi("x", I64, ["N", 4])], [vi("y", I64, ["N", 2])], {"x": RNG.integers(0, 9, size=(3, 4)).astype(np.int64)},
         initializers=[numpy_helper.from_array(np.array([3, 1], np.int64), "i")])


def linear_cases():
    x = RNG.normal(size=(9, 5)).astype(np.float32)
    w3 = list(RNG.normal(size=15))
    for post in ["NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO"]:
        case(f"linearclassifier_{post.lower()}", [ml_node("LinearClassifier", ["x"], ["label", "scores"],
                                                          coefficients=w3, intercepts=[0.1, -0.2, 0.3],
                                                          classlabels_ints=[4, 5, 6], post_transform=post)],
             [vi("x", F, ["N", 5])], [vi("label", I64, ["N"]), vi("scores", F, ["N", 3])], {"x": x})
    case("linearclassifier_binary_one_row", [ml_node("LinearClassifier", ["x"], ["label", "scores"],
                                                     coefficients=w3[:5], intercepts=[0.05],
                                                     classlabels_ints=[0, 1], post_transform="NONE")],
         [vi("x", F, ["N", 5])], [vi("label", I64, ["N"]), vi("scores", F, ["N", 2])], {"x": x})
    case("linearclassifier_double_input", [ml_node("LinearClassifier", ["x"], ["label", "scores"],
                                                   coefficients=w3, intercepts=[0.1, -0.2, 0.3],
                                                   classlabels_ints=[0, 1, 2], post_transform="LOGISTIC")],
         [vi("x", D, ["N", 5])], [vi("label", I64, ["N"]), vi("scores", F, ["N", 3])], {"x": x.astype(np.float64)})
    case("linearregressor_two_targets", [ml_node("LinearRegressor", ["x"], ["y"], coefficients=w3[:10],
                                                 intercepts=[1.0, -1.0], targets=2)],
         [vi("x", F, ["N", 5])], [vi("y", F, ["N", 2])], {"x": x})
    case("linearregressor_one_target_probit", [ml_node("LinearRegressor", ["x"], ["y"], coefficients=w3[:5],
                                                       intercepts=[0.5], post_transform="PROBIT")],
         [vi("x", F, ["N", 5])], [vi("y", F, ["N", 1])], {"x": RNG.uniform(0, 0.1, size=(4, 5)).astype(np.float32)})


def svm_cases():
    features = 4
    x = RNG.normal(size=(11, features)).astype(np.float32)
    vectors = [2, 3, 2]
    total = sum(vectors)
    sv = list(RNG.normal(size=total * features))
    for kernel, params in [("RBF", [0.3, 0.0, 3.0]), ("LINEAR", [0.0, 0.0, 0.0]), ("POLY", [0.5, 1.0, 2.0]),
                           ("SIGMOID", [0.2, 0.1, 3.0])]:
        base = dict(kernel_type=kernel, kernel_params=params, support_vectors=sv, vectors_per_class=vectors,
                    coefficients=list(RNG.normal(size=2 * total)), rho=list(RNG.normal(size=3)),
                    classlabels_ints=[0, 1, 2])
        case(f"svmclassifier_{kernel.lower()}_votes", [ml_node("SVMClassifier", ["x"], ["label", "scores"], **base)],
             [vi("x", F, ["N", features])], [vi("label", I64, ["N"]), vi("scores", F, ["N", 3])], {"x": x})
        if kernel == "RBF":
            proba = dict(base, prob_a=list(RNG.uniform(-3, -1, size=3)), prob_b=list(RNG.normal(size=3) * 0.1))
            case("svmclassifier_rbf_probabilities", [ml_node("SVMClassifier", ["x"], ["label", "scores"], **proba)],
                 [vi("x", F, ["N", features])], [vi("label", I64, ["N"]), vi("scores", F, ["N", 3])], {"x": x})
    binary = dict(kernel_type="RBF", kernel_params=[0.4, 0.0, 3.0], support_vectors=sv[:5 * features],
                  vectors_per_class=[2, 3], coefficients=list(RNG.normal(size=5)), rho=[0.1], classlabels_ints=[3, 8])
    case("svmclassifier_binary_scores", [ml_node("SVMClassifier", ["x"], ["label", "scores"], **binary)],
         [vi("x", F, ["N", features])], [vi("label", I64, ["N"]), vi("scores", F, ["N", 2])], {"x": x})
    liblinear = dict(kernel_type="LINEAR", kernel_params=[0.0, 0.0, 0.0], coefficients=list(RNG.normal(size=3 * features)), rho=[0.2],
                     classlabels_ints=[0, 1, 2], post_transform="NONE")
    case("svmclassifier_liblinear", [ml_node("SVMClassifier", ["x"], ["label", "scores"], **liblinear)],
         [vi("x", F, ["N", features])], [vi("label", I64, ["N"]), vi("scores", F, ["N", 3])], {"x": x})
    regression = dict(kernel_type="RBF", kernel_params=[0.3, 0.0, 3.0], support_vectors=sv, n_supports=total,
                      coefficients=list(RNG.normal(size=total)), rho=[0.7])
    case("svmregressor_rbf", [ml_node("SVMRegressor", ["x"], ["y"], **regression)], [vi("x", F, ["N", features])],
         [vi("y", F, ["N", 1])], {"x": x})
    case("svmregressor_one_class", [ml_node("SVMRegressor", ["x"], ["y"], **dict(regression, one_class=1))],
         [vi("x", F, ["N", features])], [vi("y", F, ["N", 1])], {"x": x})
    case("svmregressor_linear", [ml_node("SVMRegressor", ["x"], ["y"], kernel_type="LINEAR", kernel_params=[0.0, 0.0, 0.0],
                                         coefficients=list(RNG.normal(size=features)), rho=[0.3], n_supports=0)],
         [vi("x", F, ["N", features])], [vi("y", F, ["N", 1])], {"x": x})


def label_encoder_cases():
    ints = np.array([[1, 2, 3], [4, 9, 1]], np.int64)
    case("labelencoder_int_to_int", [ml_node("LabelEncoder", ["x"], ["y"], keys_int64s=[1, 2, 4],
                                             values_int64s=[10, 20, 40], default_int64=-7)],
         [vi("x", I64, ["N", 3])], [vi("y", I64, ["N", 3])], {"x": ints}, ml=2)
    case("labelencoder_int_to_float", [ml_node("LabelEncoder", ["x"], ["y"], keys_int64s=[1, 2, 4],
                                               values_floats=[0.5, 1.5, 2.5])],
         [vi("x", I64, ["N", 3])], [vi("y", F, ["N", 3])], {"x": ints}, ml=2)
    floats = np.array([[0.5, -0.0, 7.0], [np.nan, 2.25, 0.0]], np.float32)
    case("labelencoder_float_to_int", [ml_node("LabelEncoder", ["x"], ["y"], keys_floats=[0.5, 0.0, 2.25],
                                               values_int64s=[1, 2, 3])],
         [vi("x", F, ["N", 3])], [vi("y", I64, ["N", 3])], {"x": floats}, ml=2)
    case("labelencoder_v4_tensors", [ml_node(
        "LabelEncoder", ["x"], ["y"], keys_tensor=helper.make_tensor("k", D, [3], [0.5, 2.25, float("nan")]),
        values_tensor=helper.make_tensor("v", D, [3], [1.0, 2.0, 3.0]),
        default_tensor=helper.make_tensor("d", D, [1], [-5.0]))],
         [vi("x", D, ["N", 3])], [vi("y", D, ["N", 3])], {"x": floats.astype(np.float64)}, ml=4)


# ---------------------------------------------------------------------------------------------------------------
# Quantization: the operators one by one, then models onnxruntime's quantization tools write.

def quantization_cases():
    U8, I8 = TensorProto.UINT8, TensorProto.INT8

    def init(name, array):
        return numpy_helper.from_array(np.asarray(array), name)

    x = np.concatenate([RNG.normal(size=(3, 4)) * 3, [[0.25, 0.75, -0.25, 1000.0]]]).astype(np.float32)
    case("quantizelinear_uint8", [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"])],
         [vi("x", F, ["N", 4])], [vi("y", U8, ["N", 4])], {"x": x},
         initializers=[init("s", np.float32(0.5)), init("z", np.uint8(128))], ml=1, opset=13)
    case("quantizelinear_int8_no_zero", [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"])],
         [vi("x", F, ["N", 4])], [vi("y", I8, ["N", 4])], {"x": x},
         initializers=[init("s", np.float32(0.25)), init("z", np.int8(-3))], ml=1, opset=13)
    case("quantizelinear_per_axis", [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"], axis=1)],
         [vi("x", F, ["N", 4])], [vi("y", I8, ["N", 4])], {"x": x},
         initializers=[init("s", np.float32([0.1, 0.2, 0.5, 1.0])), init("z", np.int8([0, 1, -1, 2]))], ml=1,
         opset=13)
    xb = RNG.normal(size=(2, 6)).astype(np.float32)
    case("quantizelinear_blocked", [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"], axis=1, block_size=4)],
         [vi("x", F, [2, 6])], [vi("y", I8, [2, 6])], {"x": xb},
         initializers=[init("s", np.float32([[0.05, 0.1], [0.2, 0.02]])), init("z", np.int8([[0, 1], [-2, 3]]))],
         ml=1, opset=21)
    q = RNG.integers(-128, 127, size=(3, 4)).astype(np.int8)
    case("dequantizelinear_int8", [helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"])],
         [vi("q", I8, ["N", 4])], [vi("y", F, ["N", 4])], {"q": q},
         initializers=[init("s", np.float32(0.03)), init("z", np.int8(5))], ml=1, opset=13)
    case("dequantizelinear_per_axis_uint8", [helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], axis=0)],
         [vi("q", U8, [3, 4])], [vi("y", F, [3, 4])], {"q": (q.astype(np.int16) + 128).astype(np.uint8)},
         initializers=[init("s", np.float32([0.1, 0.2, 0.3])), init("z", np.uint8([120, 128, 130]))], ml=1, opset=13)
    case("dequantizelinear_int32", [helper.make_node("DequantizeLinear", ["q", "s"], ["y"])],
         [vi("q", TensorProto.INT32, ["N", 4])], [vi("y", F, ["N", 4])],
         {"q": RNG.integers(-100000, 100000, size=(2, 4)).astype(np.int32)},
         initializers=[init("s", np.float32(0.001))], ml=1, opset=13)
    case("dequantizelinear_blocked", [helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], axis=0,
                                                       block_size=2)],
         [vi("q", I8, [3, 4])], [vi("y", F, [3, 4])], {"q": q},
         initializers=[init("s", np.float32(RNG.uniform(0.01, 0.1, size=(2, 4)))),
                       init("z", np.int8(RNG.integers(-3, 3, size=(2, 4))))], ml=1, opset=21)
    for index, values in enumerate([RNG.normal(size=(5, 7)) * 4, np.abs(RNG.normal(size=(5, 7))),
                                    -np.abs(RNG.normal(size=(5, 7))), np.zeros((2, 3))]):
        case(f"dynamicquantizelinear_{index}", [helper.make_node("DynamicQuantizeLinear", ["x"], ["y", "s", "z"])],
             [vi("x", F, ["N", values.shape[1]])],
             [vi("y", U8, ["N", values.shape[1]]), vi("s", F, []), vi("z", U8, [])], {"x": values.astype(np.float32)},
             ml=1, opset=13)
    a = RNG.integers(0, 255, size=(2, 5, 16)).astype(np.uint8)
    w = RNG.integers(-128, 127, size=(16, 6)).astype(np.int8)
    case("matmulinteger_u8_s8", [helper.make_node("MatMulInteger", ["a", "w", "az", "wz"], ["y"])],
         [vi("a", U8, [2, 5, 16])], [vi("y", TensorProto.INT32, [2, 5, 6])], {"a": a},
         initializers=[init("w", w), init("az", np.uint8(131)), init("wz", np.int8(-2))], ml=1, opset=13)
    case("matmulinteger_u8_u8_per_column", [helper.make_node("MatMulInteger", ["a", "w", "az", "wz"], ["y"])],
         [vi("a", U8, [5, 16])], [vi("y", TensorProto.INT32, [5, 6])], {"a": a[0]},
         initializers=[init("w", (w.astype(np.int16) + 128).astype(np.uint8)), init("az", np.uint8(7)),
                       init("wz", np.uint8(RNG.integers(100, 150, size=6)))], ml=1, opset=13)
    case("matmulinteger_s8_s8_no_zero", [helper.make_node("MatMulInteger", ["a", "w"], ["y"])],
         [vi("a", I8, [5, 16])], [vi("y", TensorProto.INT32, [5, 6])], {"a": (a[0].astype(np.int16) - 128).astype(np.int8)},
         initializers=[init("w", w)], ml=1, opset=13)
    case("qlinearmatmul_u8", [helper.make_node("QLinearMatMul", ["a", "as", "az", "w", "ws", "wz", "ys", "yz"], ["y"])],
         [vi("a", U8, [5, 16])], [vi("y", U8, [5, 6])], {"a": a[0]},
         initializers=[init("as", np.float32(0.02)), init("az", np.uint8(128)), init("w", w), init("ws", np.float32(0.01)),
                       init("wz", np.int8(0)), init("ys", np.float32(0.05)), init("yz", np.uint8(100))], ml=1, opset=13)
    quantized_tool_cases()


def quantized_tool_cases():
    """A float MLP quantized by onnxruntime.quantization, dynamically (MatMulInteger) and statically (QDQ)."""
    import tempfile

    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_dynamic, quantize_static

    features, hidden, classes = 32, 48, 5
    weights = [RNG.normal(size=(features, hidden)).astype(np.float32) * 0.2,
               RNG.normal(size=(hidden, classes)).astype(np.float32) * 0.2]
    biases = [RNG.normal(size=hidden).astype(np.float32) * 0.1, RNG.normal(size=classes).astype(np.float32) * 0.1]
    nodes = [helper.make_node("MatMul", ["x", "w0"], ["h0"]), helper.make_node("Add", ["h0", "b0"], ["h1"]),
             helper.make_node("Relu", ["h1"], ["h2"]), helper.make_node("MatMul", ["h2", "w1"], ["h3"]),
             helper.make_node("Add", ["h3", "b1"], ["y"])]
    graph = helper.make_graph(nodes, "mlp", [vi("x", F, ["N", features])], [vi("y", F, ["N", classes])],
                              initializer=[numpy_helper.from_array(weights[0], "w0"), numpy_helper.from_array(biases[0], "b0"),
                                           numpy_helper.from_array(weights[1], "w1"), numpy_helper.from_array(biases[1], "b1")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    x = RNG.normal(size=(9, features)).astype(np.float32)
    with tempfile.TemporaryDirectory() as directory:
        source = os.path.join(directory, "float.onnx")
        onnx.save(model, source)
        dynamic = os.path.join(directory, "dynamic.onnx")
        quantize_dynamic(source, dynamic, weight_type=QuantType.QInt8)
        save("ort_quantize_dynamic_mlp", onnx.load(dynamic), {"x": x}, tolerance=1e-4)

        class Reader(CalibrationDataReader):
            def __init__(self):
                self.rows = iter([{"x": RNG.normal(size=(1, features)).astype(np.float32)} for _ in range(16)])

            def get_next(self):
                return next(self.rows, None)

        static = os.path.join(directory, "static.onnx")
        quantize_static(source, static, Reader(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8)
        # A requantized activation may land one step apart (float vs integer accumulation): a step is the tolerance.
        save("ort_quantize_static_qdq_mlp", onnx.load(static), {"x": x}, tolerance=0.05)


# ---------------------------------------------------------------------------------------------------------------
# Half precision: float16 models as onnxconverter-common converts them, bfloat16 weights.

def half_precision_cases():
    from onnxconverter_common import float16

    features, hidden, classes = 12, 24, 4
    rng = np.random.default_rng(16)
    w0 = (rng.normal(size=(features, hidden)) * 0.3).astype(np.float32)
    w1 = (rng.normal(size=(hidden, classes)) * 0.3).astype(np.float32)
    b0 = (rng.normal(size=hidden) * 0.1).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["x", "w0"], ["h0"]), helper.make_node("Add", ["h0", "b0"], ["h1"]),
             helper.make_node("Relu", ["h1"], ["h2"]), helper.make_node("MatMul", ["h2", "w1"], ["h3"]),
             helper.make_node("Softmax", ["h3"], ["y"], axis=-1)]
    graph = helper.make_graph(nodes, "mlp16", [vi("x", F, ["N", features])], [vi("y", F, ["N", classes])],
                              initializer=[numpy_helper.from_array(w0, "w0"), numpy_helper.from_array(b0, "b0"),
                                           numpy_helper.from_array(w1, "w1")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    x = rng.normal(size=(7, features)).astype(np.float32)
    half = float16.convert_float_to_float16(model, keep_io_types=False)
    save("float16_mlp_half_io", half, {"x": x.astype(np.float16)}, tolerance=2e-3)
    mixed = float16.convert_float_to_float16(model, keep_io_types=True)
    save("float16_mlp_float_io", mixed, {"x": x}, tolerance=2e-3)
    # bfloat16 weights cast to float32 inside the graph.
    bits = (w0.view(np.uint32) >> 16).astype(np.uint16)
    weight = helper.make_tensor("wb", TensorProto.BFLOAT16, list(w0.shape), bits.tobytes(), raw=True)
    nodes = [helper.make_node("Cast", ["wb"], ["w"], to=F), helper.make_node("MatMul", ["x", "w"], ["y"])]
    graph = helper.make_graph(nodes, "bf16", [vi("x", F, ["N", features])], [vi("y", F, ["N", hidden])],
                              initializer=[weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    save("bfloat16_weights", model, {"x": x}, tolerance=1e-5)


# ---------------------------------------------------------------------------------------------------------------
# Models exported from the libraries tabular teams use (small, so the fixtures stay small).

def exported_cases():
    from sklearn.datasets import make_classification, make_regression
    from sklearn.ensemble import (ExtraTreesClassifier, GradientBoostingClassifier, GradientBoostingRegressor,
                                  HistGradientBoostingClassifier, HistGradientBoostingRegressor,
                                  RandomForestClassifier, RandomForestRegressor)
    from skl2onnx import to_onnx

    def export(name, model, x, options=None):
        target = {"": 17, ML: 3}
        final = model.steps[-1][1] if hasattr(model, "steps") else model
        options = {id(final): {"zipmap": False}} if hasattr(final, "classes_") else None
        onx = to_onnx(model, x[:1], target_opset=target, options=options)
        feeds = {onx.graph.input[0].name: x}
        save(name, onx, feeds)

    xb, yb = make_classification(n_samples=300, n_features=8, n_informative=5, random_state=1)
    xm, ym = make_classification(n_samples=300, n_features=8, n_informative=5, n_classes=3, random_state=2)
    xr, yr = make_regression(n_samples=300, n_features=8, random_state=3)
    xb, xm, xr = xb.astype(np.float32), xm.astype(np.float32), xr.astype(np.float32)
    probe = np.concatenate([xb[:40], RNG.normal(size=(9, 8)).astype(np.float32)])
    nozip = {"zipmap": False}
    zipped = to_onnx(RandomForestClassifier(n_estimators=4, max_depth=4, random_state=0).fit(xm, ym), xm[:1],
                     target_opset={"": 17, ML: 3})
    save("sklearn_random_forest_zipmap", zipped, {zipped.graph.input[0].name: probe[:5]}, zipmap=True)
    export("sklearn_random_forest_binary", RandomForestClassifier(n_estimators=6, max_depth=5, random_state=0)
           .fit(xb, yb), probe, nozip)
    export("sklearn_random_forest_multiclass", RandomForestClassifier(n_estimators=6, max_depth=5, random_state=0)
           .fit(xm, ym), probe, nozip)
    export("sklearn_extra_trees_multiclass", ExtraTreesClassifier(n_estimators=5, max_depth=4, random_state=0)
           .fit(xm, ym), probe, nozip)
    export("sklearn_gradient_boosting_binary", GradientBoostingClassifier(n_estimators=8, max_depth=3, random_state=0)
           .fit(xb, yb), probe, nozip)
    export("sklearn_gradient_boosting_multiclass",
           GradientBoostingClassifier(n_estimators=5, max_depth=3, random_state=0).fit(xm, ym), probe, nozip)
    holes = probe.copy()
    holes[RNG.random(holes.shape) < 0.15] = np.nan
    xb_holes = xb.copy()
    xb_holes[RNG.random(xb.shape) < 0.1] = np.nan
    export("sklearn_hist_gradient_boosting_binary_nan",
           HistGradientBoostingClassifier(max_iter=8, max_depth=4, random_state=0).fit(xb_holes, yb), holes, nozip)
    export("sklearn_random_forest_regressor", RandomForestRegressor(n_estimators=5, max_depth=5, random_state=0)
           .fit(xr, yr), probe)
    export("sklearn_gradient_boosting_regressor", GradientBoostingRegressor(n_estimators=6, max_depth=3, random_state=0)
           .fit(xr, yr), probe)
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, StandardScaler
    from sklearn.svm import SVC, SVR
    export("sklearn_scaler_logistic_binary", make_pipeline(StandardScaler(), LogisticRegression()).fit(xb, yb), probe,
           None)
    export("sklearn_minmax_logistic_multiclass", make_pipeline(MinMaxScaler(), LogisticRegression(max_iter=500))
           .fit(xm, ym), probe, None)
    export("sklearn_svc_probabilities_multiclass", SVC(probability=True, random_state=0).fit(xm[:120], ym[:120]),
           probe, nozip)
    export("sklearn_svc_binary", SVC().fit(xb[:120], yb[:120]), probe, nozip)
    export("sklearn_svr", SVR().fit(xr[:120], yr[:120]), probe)
    export("sklearn_linear_regression", LinearRegression().fit(xr, yr), probe)
    export("sklearn_hist_gradient_boosting_regressor",
           HistGradientBoostingRegressor(max_iter=6, max_depth=3, random_state=0).fit(xr, yr), probe)


# ---------------------------------------------------------------------------------------------------------------
# Strings: encoders and mappers both ways, string class labels, casts; then scikit-learn exports with string
# categories and string classes. Seeded on their own so the cases above keep their data.

def string_cases():
    rng = np.random.default_rng(8)
    words = np.array([["red", "big", "ému"], ["blue", "", "red"], ["green", "small", "zz"]], dtype=str)
    ints = np.array([[1, 2, 3], [4, 9, 1]], np.int64)
    case("labelencoder_string_to_int", [ml_node("LabelEncoder", ["x"], ["y"], keys_strings=["red", "blue", "ému"],
                                                values_int64s=[1, 2, 3], default_int64=-9)],
         [vi("x", STR, ["N", 3])], [vi("y", I64, ["N", 3])], {"x": words}, ml=2)
    case("labelencoder_int_to_string", [ml_node("LabelEncoder", ["x"], ["y"], keys_int64s=[1, 2, 4],
                                                values_strings=["one", "two", "four"])],
         [vi("x", I64, ["N", 3])], [vi("y", STR, ["N", 3])], {"x": ints}, ml=2)
    case("labelencoder_string_to_string", [ml_node("LabelEncoder", ["x"], ["y"], keys_strings=["red", "blue"],
                                                   values_strings=["rot", "blau"], default_string="?")],
         [vi("x", STR, ["N", 3])], [vi("y", STR, ["N", 3])], {"x": words}, ml=2)
    case("labelencoder_string_to_float", [ml_node("LabelEncoder", ["x"], ["y"], keys_strings=["big", "small", ""],
                                                  values_floats=[2.0, 0.5, -1.0])],
         [vi("x", STR, ["N", 3])], [vi("y", F, ["N", 3])], {"x": words}, ml=2)
    case("labelencoder_v4_string_tensors", [ml_node(
        "LabelEncoder", ["x"], ["y"], keys_tensor=helper.make_tensor("k", STR, [2], [b"red", b"zz"]),
        values_tensor=helper.make_tensor("v", D, [2], [7.5, 8.0]),
        default_tensor=helper.make_tensor("d", D, [1], [-3.0]))],
         [vi("x", STR, ["N", 3])], [vi("y", D, ["N", 3])], {"x": words}, ml=4)
    case("labelencoder_v4_int_to_string_tensor", [ml_node(
        "LabelEncoder", ["x"], ["y"], keys_tensor=helper.make_tensor("k", I64, [2], [1, 9]),
        values_tensor=helper.make_tensor("v", STR, [2], [b"uno", b"nueve"]))],
         [vi("x", I64, ["N", 3])], [vi("y", STR, ["N", 3])], {"x": ints}, ml=4)
    case("categorymapper_string_to_int", [ml_node("CategoryMapper", ["x"], ["y"], cats_strings=["red", "green", "zz"],
                                                  cats_int64s=[10, 20, 30], default_int64=-1)],
         [vi("x", STR, ["N", 3])], [vi("y", I64, ["N", 3])], {"x": words})
    case("categorymapper_int_to_string", [ml_node("CategoryMapper", ["x"], ["y"], cats_strings=["red", "green", "zz"],
                                                  cats_int64s=[1, 4, 9], default_string="none")],
         [vi("x", I64, ["N", 3])], [vi("y", STR, ["N", 3])], {"x": ints})
    case("onehotencoder_strings", [ml_node("OneHotEncoder", ["x"], ["y"], cats_strings=["red", "blue", "big", "zz"],
                                           zeros=1)],
         [vi("x", STR, ["N", 3])], [vi("y", F, ["N", 3, 4])], {"x": words})
    case("arrayfeatureextractor_strings", [ml_node("ArrayFeatureExtractor", ["x", "i"], ["y"])],
         [vi("x", STR, ["N", 3])], [vi("y", STR, ["N", 2])], {"x": words},
         initializers=[numpy_helper.from_array(np.array([2, 0], np.int64), "i")])
    x = rng.normal(size=(9, 5)).astype(np.float32)
    w = list(rng.normal(size=15))
    case("linearclassifier_string_labels", [ml_node("LinearClassifier", ["x"], ["label", "scores"], coefficients=w,
                                                    intercepts=[0.1, -0.2, 0.3], classlabels_strings=["a", "b", "c"],
                                                    post_transform="SOFTMAX")],
         [vi("x", F, ["N", 5])], [vi("label", STR, ["N"]), vi("scores", F, ["N", 3])], {"x": x})
    case("linearclassifier_binary_string_labels", [ml_node(
        "LinearClassifier", ["x"], ["label", "scores"], coefficients=w[:5], intercepts=[0.05],
        classlabels_strings=["no", "yes"], post_transform="NONE")],
         [vi("x", F, ["N", 5])], [vi("label", STR, ["N"]), vi("scores", F, ["N", 2])], {"x": x})
    # Cast between strings and numbers, both ways; a string constant through the shaping operators.
    numbers = np.array([[0.1, 1.0, 1e10, -0.0], [3.1415927, 123456789.0, np.nan, -np.inf]], np.float32)
    case("cast_float_to_string", [helper.make_node("Cast", ["x"], ["y"], to=STR)], [vi("x", F, ["N", 4])],
         [vi("y", STR, ["N", 4])], {"x": numbers})
    case("cast_int_to_string", [helper.make_node("Cast", ["x"], ["y"], to=STR)], [vi("x", I64, ["N", 3])],
         [vi("y", STR, ["N", 3])], {"x": ints})
    texts = np.array([["1.5", " 2", "3e2", "-INF"], ["nan", "+inf", "0x10", "100.5"]], dtype=str)
    case("cast_string_to_float", [helper.make_node("Cast", ["x"], ["y"], to=F)], [vi("x", STR, ["N", 4])],
         [vi("y", F, ["N", 4])], {"x": texts})
    case("cast_string_to_int", [helper.make_node("Cast", ["x"], ["y"], to=I64)], [vi("x", STR, ["N", 2])],
         [vi("y", I64, ["N", 2])], {"x": np.array([["1", "-20"], [" 3", "100.5"]], dtype=str)})
    table = numpy_helper.from_array(np.array(["zero", "one", "two", "three"], dtype=object), "table")
    case("strings_through_shaping", [
        helper.make_node("Gather", ["table", "i"], ["g"], axis=0),
        helper.make_node("Transpose", ["g"], ["t"], perm=[1, 0]),
        helper.make_node("Concat", ["t", "t"], ["c"], axis=1),
        helper.make_node("Equal", ["c", "one"], ["is_one"]),
        helper.make_node("Where", ["is_one", "c", "other"], ["y"]),
    ], [vi("i", I64, ["N", 2])], [vi("y", STR, [2, None])], {"i": np.array([[0, 1], [3, 2], [1, 1]], np.int64)},
         initializers=[table, numpy_helper.from_array(np.array("one", dtype=object), "one"),
                       numpy_helper.from_array(np.array("other", dtype=object), "other")], opset=19)

    # scikit-learn: string categories in, string classes out.
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import LabelEncoder, OneHotEncoder, OrdinalEncoder
    from sklearn.svm import SVC
    from skl2onnx import convert_sklearn, to_onnx
    from skl2onnx.common.data_types import StringTensorType

    target = {"": 17, ML: 3}
    colors = np.array(["red", "green", "blue", "ochre"])
    sizes = np.array(["S", "M", "L"])
    categories = np.stack([colors[rng.integers(0, 4, 200)], sizes[rng.integers(0, 3, 200)]], axis=1)
    unseen = np.array([["red", "XL"], ["mauve", "S"]])
    probe = np.concatenate([categories[:20], unseen])
    for name, encoder in [("onehot", OneHotEncoder(handle_unknown="ignore")),
                          ("ordinal", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1))]:
        fitted = encoder.fit(categories)
        onx = convert_sklearn(fitted, initial_types=[("x", StringTensorType([None, 2]))], target_opset=target)
        save(f"sklearn_{name}_encoder_strings", onx, {"x": probe})
    label = LabelEncoder().fit(colors)
    onx = convert_sklearn(label, initial_types=[("x", StringTensorType([None]))], target_opset=target)
    save("sklearn_label_encoder_strings", onx, {"x": colors[[0, 3, 1, 1, 2]]})
    xm = rng.normal(size=(240, 6)).astype(np.float32)
    names = np.array(["setosa", "versicolor", "virginica"])[(xm[:, 0] > 0).astype(int) + (xm[:, 1] > 0.5)]
    binary = np.array(["spam", "ham"])[(xm[:, 2] > 0).astype(int)]
    x_probe = np.concatenate([xm[:30], rng.normal(size=(5, 6)).astype(np.float32)])
    nozip = {"zipmap": False}
    for name, model, labels in [
            ("random_forest", RandomForestClassifier(n_estimators=5, max_depth=4, random_state=0), names),
            ("gradient_boosting_binary", GradientBoostingClassifier(n_estimators=5, max_depth=3, random_state=0),
             binary),
            ("logistic_regression", LogisticRegression(max_iter=500), names),
            ("svc_binary", SVC(random_state=0), binary),
            ("mlp", MLPClassifier(hidden_layer_sizes=(8,), max_iter=300, random_state=0), names)]:
        fitted = model.fit(xm, labels)
        onx = to_onnx(fitted, xm[:1], target_opset=target, options={id(fitted): nozip})
        save(f"sklearn_{name}_string_classes", onx, {onx.graph.input[0].name: x_probe})
    pipeline = make_pipeline(OneHotEncoder(handle_unknown="ignore"), LogisticRegression(max_iter=500))
    fitted = pipeline.fit(categories, np.where(categories[:, 0] == "red", "warm", "cool"))
    onx = convert_sklearn(fitted, initial_types=[("x", StringTensorType([None, 2]))], target_opset=target,
                          options={id(fitted.steps[-1][1]): nozip})
    save("sklearn_onehot_logistic_strings_in_and_out", onx, {"x": probe})
    zipped = to_onnx(RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(xm, names), xm[:1],
                     target_opset=target)
    save("sklearn_random_forest_string_zipmap", zipped, {zipped.graph.input[0].name: x_probe[:5]}, zipmap=True)


def main():
    shutil.rmtree(ROOT, ignore_errors=True)
    os.makedirs(ROOT)
    regressor_cases()
    classifier_cases()
    tree_ensemble_v5_cases()
    feature_cases()
    linear_cases()
    svm_cases()
    label_encoder_cases()
    quantization_cases()
    half_precision_cases()
    exported_cases()
    string_cases()
    with open(os.path.join(ROOT, "cases.json"), "w") as handle:
        json.dump({"cases": CASES}, handle, indent=1)
        handle.write("\n")
    print(f"{len(CASES)} cases in {os.path.relpath(ROOT)}")


if __name__ == "__main__":
    main()
