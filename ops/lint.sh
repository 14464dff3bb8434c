#!/usr/bin/env bash
# Formatting: the committed .swift-format (4 spaces, 120 columns) over every Swift file of the package.
# `ops/lint.sh` checks (CI runs it from ops/test.sh); `ops/lint.sh --fix` rewrites the files in place.
set -euo pipefail
cd "$(dirname "$0")/.."
paths=(Package.swift Sources Tests services Fuzz)
if [[ "${1:-}" == "--fix" ]]; then
    exec swift format format --in-place --recursive --parallel "${paths[@]}"
fi
swift format lint --strict --recursive --parallel "${paths[@]}"
