#!/usr/bin/env bash
# Shadow mode's cost to clients (issue 7): the same open-loop load through one router with no comparison, with a
# shadow comparison mirroring every request to another version, and with a challenger that fails every request.
# Rounds alternate so that all three see the same machine. Release build; traffic on 127.0.0.1; bounded by time.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
make_certs router preprocess inference postprocess client ops:admin
models=Tests/Fixtures/releases
start inference 7702 --models $models
start preprocess 7704 --models $models
start postprocess 7703 --models $models
start router 7700 --models $models --preprocess 127.0.0.1:7704 --inference 127.0.0.1:7702 --postprocess 127.0.0.1:7703
admin=(--router 127.0.0.1:7700 --ca "$certs/ca.pem" --cert "$certs/ops.pem" --key "$certs/ops.key")
rate=${RATE:-800}
load() {
  "$bin/yard" load --target 127.0.0.1:7700 --ca "$certs/ca.pem" --cert "$certs/client.pem" --key "$certs/client.key" --model digits \
    --input Tests/Fixtures/engine/digits/x_test.npy --rate "$rate" --duration 4s --warmup 1s --json "$work/$1.json" \
    >/dev/null || true
  python3 -c "import json,sys; s=json.load(open('$work/$1.json'))['steps'][0]; l=s['latency_ms']; print('$2', s['ok'], s['sent'] - s['ok'], l['p50'], l['p99'])"
}
# pin version 1 (stopping a comparison pins its champion), so that every mode serves clients from the same version
"$bin/yard" ab start "${admin[@]}" --model digits --champion 1 --challenger 2 --mode shadow --percent 0 >/dev/null
"$bin/yard" ab stop "${admin[@]}" --model digits >/dev/null
echo "mode ok failed p50_ms p99_ms"
for round in 1 2; do
  load off-$round "off"
  "$bin/yard" ab start "${admin[@]}" --model digits --champion 1 --challenger 2 --mode shadow >/dev/null
  load shadow-$round "shadow→2"
  "$bin/yard" ab stop "${admin[@]}" --model digits >/dev/null
  "$bin/yard" ab start "${admin[@]}" --model digits --champion 1 --challenger 9 --mode shadow >/dev/null
  load failing-$round "shadow→9(fails)"
  "$bin/yard" ab stop "${admin[@]}" --model digits >/dev/null
done
