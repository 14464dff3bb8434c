#!/usr/bin/env bash
# The test command: installs what is missing, builds everything, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ops/setup.sh --test
# formatting first: a few seconds, and it fails before a long build would
bash ops/lint.sh
# Python peers the tests drive (onnxruntime, the onnx node tests, the Python client's suite) live in .venv.
SWITCHYARD_PYTHON=$(bash ops/python-env.sh | tail -n 1)
export SWITCHYARD_PYTHON
swift build --build-tests
# two test processes: the CPU-bound in-process suites (engine, compression) first, then the suites that start
# servers and processes, whose timers and handshakes the CPU-bound tests would otherwise starve on a small machine
in_process='^(SwitchyardEngineTests|SwitchyardCompressionTests|SwitchyardTensorTests|SwitchyardPipelineTests|SwitchyardWireTests)\.'
swift test --skip-build --filter "$in_process"
swift test --skip-build --skip "$in_process"
# the ONNX backend node tests of the onnx wheel through the engine, each case bounded in a child process
bash ops/node-tests.sh
# the Python client's suite, against the binaries just built (echo service, the demo mesh) and every vector
SWITCHYARD_BIN=$(swift build --show-bin-path) "$SWITCHYARD_PYTHON" -m pytest -q -p no:cacheprovider clients/python/tests
# the Kubernetes manifests, rendered and checked offline against the Kubernetes schemas
bash ops/k8s/validate.sh "$SWITCHYARD_PYTHON"
# the systemd units, checked by systemd-analyze verify against the binaries just built
bash ops/verify-units.sh "$(swift build --show-bin-path)"
# a fleet on network namespaces (root): discovery through dnsmasq, instances added, drained, removed, certificates
# rotated, the router restarted and a link cut under load, every request counted
bash ops/fleet-test.sh "$(swift build --show-bin-path)"
# the .deb, packed from the debug binaries just built, on a systemd-booted container: the units start under their
# sandboxing as the switchyard user, serve, scale out, reload under load, drain on stop, remove and purge (~1.5 min)
bash ops/package-test.sh --binaries "$(swift build --show-bin-path)"
# the libFuzzer targets (AddressSanitizer on), a minute each from the committed seed corpus (Fuzz/corpus)
bash ops/fuzz.sh 60
