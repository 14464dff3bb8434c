"""Writes the ONNX backend node tests of the installed `onnx` wheel as files the engine's runner reads.

    python tools/onnx_node_tests.py OUT_DIR

For every case of `onnx.backend.test.case.node` (the generators the wheel ships): OUT_DIR/<case>/model.onnx
and OUT_DIR/<case>/test_data_set_<i>/{input,output}_<j>.pb, as `backend-test-tools generate-data` lays out the
model tests. Cases whose inputs or outputs are sequences, maps or optionals are written with a `skip` file
naming why (the engine serves tensors only). OUT_DIR/index.txt lists every case.
"""
import os
import shutil
import sys
import warnings

import numpy as np
import onnx
from onnx import numpy_helper
from onnx.backend.test.case import node as node_cases


def tensor_kind(value_info: onnx.ValueInfoProto) -> str:
    return value_info.type.WhichOneof("value") or "none"


def write_case(case, root: str) -> None:
    directory = os.path.join(root, case.name)
    os.makedirs(directory)
    with open(os.path.join(directory, "model.onnx"), "wb") as handle:
        handle.write(case.model.SerializeToString())
    graph = case.model.graph
    kinds = {tensor_kind(info) for info in list(graph.input) + list(graph.output)}
    if kinds - {"tensor_type"}:
        with open(os.path.join(directory, "skip"), "w") as handle:
            handle.write("non-tensor inputs or outputs: " + ", ".join(sorted(kinds - {"tensor_type"})) + "\n")
        return
    for index, (inputs, outputs) in enumerate(case.data_sets):
        data_dir = os.path.join(directory, f"test_data_set_{index}")
        os.makedirs(data_dir)
        for kind, values, infos in (("input", inputs, graph.input), ("output", outputs, graph.output)):
            for position, value in enumerate(values):
                if isinstance(value, onnx.TensorProto):
                    proto = value
                else:
                    proto = numpy_helper.from_array(np.asarray(value), infos[position].name)
                with open(os.path.join(data_dir, f"{kind}_{position}.pb"), "wb") as handle:
                    handle.write(proto.SerializeToString())


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: onnx_node_tests.py OUT_DIR")
    root = sys.argv[1]
    if os.path.exists(root):
        shutil.rmtree(root)
    os.makedirs(root)
    warnings.simplefilter("ignore")
    cases = node_cases.collect_testcases(None)
    names = []
    for case in cases:
        write_case(case, root)
        names.append(case.name)
    with open(os.path.join(root, "index.txt"), "w") as handle:
        handle.write(f"# onnx {onnx.__version__}: {len(names)} node tests\n")
        handle.write("\n".join(names) + "\n")
    print(f"onnx {onnx.__version__}: wrote {len(names)} node tests to {root}")


if __name__ == "__main__":
    main()
