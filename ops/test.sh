#!/usr/bin/env bash
# The test command: installs what is missing, builds everything, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ops/setup.sh --test
swift build --build-tests
swift test --skip-build
