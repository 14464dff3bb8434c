#!/usr/bin/env bash
# Release numbers (issue 14): time to rollback and requests a bad candidate answered, for each kind of bad candidate,
# at 500 requests/s with the default gates; feedback throughput through the router. Release build; one mesh on
# 127.0.0.1 with the release fixtures; bench/releases.py drives yard and writes bench/RESULTS-releases.md.
# Every load is bounded by time or count, every wait for a service is bounded; takes about 5 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
make_certs router preprocess inference postprocess client ops:admin
models=Tests/Fixtures/releases
start inference 7812 --models $models
start preprocess 7814 --models $models
start postprocess 7813 --models $models
start router 7810 --models $models --preprocess 127.0.0.1:7814 --inference 127.0.0.1:7812 --postprocess 127.0.0.1:7813 \
  --state-dir "$work/state" --name bench-router
blas=$(grep -o 'blas.core=[^ ]*' "$work"/inference-7812.log | head -1 | cut -d= -f2)
python3 bench/releases.py --bin "$bin" --certs "$certs" --router 127.0.0.1:7810 --work "$work" --blas "${blas:-unknown}"
