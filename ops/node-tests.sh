#!/usr/bin/env bash
# The ONNX backend node tests of the installed onnx wheel, run through the engine (ops/test.sh runs this).
# Writes the cases with tools/onnx_node_tests.py, runs each in a child process bounded in time (a crash or a hang
# is that case's failure), and fails when a case listed in Tests/Fixtures/engine/node-tests-passing.txt does not
# pass, or when any case crashes or hangs. Prints the pass rate over the cases whose element types the engine has.
#   bash ops/node-tests.sh [--report FILE] [--write-passing FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
python=${SWITCHYARD_PYTHON:-$(bash ops/python-env.sh | tail -n 1)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" tools/onnx_node_tests.py "$work/cases"
bin=$(swift build --show-bin-path)
[ -x "$bin/switchyard-node-tests" ] || swift build --product switchyard-node-tests
"$bin/switchyard-node-tests" "$work/cases" --expect Tests/Fixtures/engine/node-tests-passing.txt --timeout 60 "$@"
