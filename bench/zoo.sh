#!/usr/bin/env bash
# The large model zoo: torchvision CNNs, ViT and Swin, a BERT-base-like encoder, a GPT-like decoder, LSTM and GRU
# classifiers, a U-Net and deeplabv3, exported from PyTorch with random weights, run through `yard predict` and
# compared with onnxruntime (tools/zoo_torch.py). torch is a large download, so it lives in its own venv here and
# never in CI; the small zoo (tools/make_zoo_models.py) runs in the tests.
#   bash bench/zoo.sh [--only NAME ...] [--threads N]
set -euo pipefail
cd "$(dirname "$0")/.."
venv=bench/out/zoo-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r ops/python/requirements-engine.txt \
  torch torchvision onnxscript
swift build -c release --product yard >/dev/null
"$venv/bin/python" tools/zoo_torch.py --yard "$(swift build -c release --show-bin-path)/yard" --out bench/out/zoo "$@"
