#!/usr/bin/env bash
# The packed VNNI kernel against oneDNN on the compression bench shapes (bench/int8_gemm.c): the measurement behind
# SY_PACKED_MAX_ROWS in Sources/CInt8GEMM/PackedGEMM.c. Prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cc -O3 -ISources/CInt8GEMM/include bench/int8_gemm.c Sources/CInt8GEMM/PackedGEMM.c Sources/CInt8GEMM/Int8GEMM.c \
  -o "$out/int8-gemm" -ldnnl -ldl -lm
OMP_NUM_THREADS=1 "$out/int8-gemm"
