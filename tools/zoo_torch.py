"""The large zoo: real architectures exported from PyTorch with random weights, run by the engine (through
`yard predict`, as a user would) and by onnxruntime, compared (max difference relative to the output's largest
magnitude, top-1), and optionally timed. bench/zoo.sh installs torch and runs this.

    python tools/zoo_torch.py --yard .build/release/yard --out bench/out/zoo [--only NAME] [--time]
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time

import numpy as np
import onnxruntime as ort
import torch
import torchvision
from torch import nn

torch.manual_seed(13)
# nn.MultiheadAttention's inference fast path is one fused aten op no exporter writes as ONNX (torchvision's ViT).
torch.backends.mha.set_fastpath_enabled(False)


class Encoder(nn.Module):
    """BERT-base-like: token and position embeddings, 12 post-norm layers of 12-head attention and GELU FFN."""

    def __init__(self, vocab=30522, hidden=768, heads=12, layers=12, ffn=3072, classes=2):
        super().__init__()
        self.heads = heads
        self.tokens = nn.Embedding(vocab, hidden)
        self.positions = nn.Embedding(512, hidden)
        self.norm = nn.LayerNorm(hidden)
        self.layers = nn.ModuleList(
            nn.ModuleDict(dict(qkv=nn.Linear(hidden, 3 * hidden), out=nn.Linear(hidden, hidden), norm1=nn.LayerNorm(hidden),
                               up=nn.Linear(hidden, ffn), down=nn.Linear(ffn, hidden), norm2=nn.LayerNorm(hidden)))
            for _ in range(layers))
        self.classifier = nn.Linear(hidden, classes)

    def forward(self, input_ids, attention_mask):
        b, s = input_ids.shape
        positions = torch.arange(s, device=input_ids.device)
        x = self.norm(self.tokens(input_ids) + self.positions(positions))
        bias = (1.0 - attention_mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        for layer in self.layers:
            q, k, v = layer["qkv"](x).view(b, s, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
            scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]) + bias
            attended = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, s, -1)
            x = layer["norm1"](x + layer["out"](attended))
            x = layer["norm2"](x + layer["down"](nn.functional.gelu(layer["up"](x))))
        return self.classifier(x[:, 0])


class DecoderBlock(nn.Module):
    """A GPT-like pre-norm decoder (4 blocks) with a causal mask and tanh-GELU, returning next-token logits."""

    def __init__(self, vocab=8192, hidden=512, heads=8, layers=4):
        super().__init__()
        self.heads = heads
        self.tokens = nn.Embedding(vocab, hidden)
        self.positions = nn.Embedding(1024, hidden)
        self.blocks = nn.ModuleList(
            nn.ModuleDict(dict(norm1=nn.LayerNorm(hidden), qkv=nn.Linear(hidden, 3 * hidden), out=nn.Linear(hidden, hidden),
                               norm2=nn.LayerNorm(hidden), up=nn.Linear(hidden, 4 * hidden), down=nn.Linear(4 * hidden, hidden)))
            for _ in range(layers))
        self.norm = nn.LayerNorm(hidden)
        self.head = nn.Linear(hidden, vocab, bias=False)
        self.register_buffer("mask", torch.tril(torch.ones(1024, 1024, dtype=torch.bool)))

    def forward(self, input_ids):
        b, s = input_ids.shape
        x = self.tokens(input_ids) + self.positions(torch.arange(s, device=input_ids.device))
        mask = self.mask[:s, :s]
        for block in self.blocks:
            q, k, v = block["qkv"](block["norm1"](x)).view(b, s, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
            scores = (q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])).masked_fill(~mask, float("-inf"))
            x = x + block["out"]((scores.softmax(-1) @ v).transpose(1, 2).reshape(b, s, -1))
            x = x + block["down"](nn.functional.gelu(block["up"](block["norm2"](x)), approximate="tanh"))
        return self.head(self.norm(x))[:, -1]


class Recurrent(nn.Module):
    """A bidirectional 2-layer LSTM or GRU classifier over [batch, time, features]."""

    def __init__(self, cell, features=40, hidden=128, classes=10):
        super().__init__()
        self.rnn = getattr(nn, cell)(features, hidden, num_layers=2, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden, classes)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.head(y[:, -1])


class UNet(nn.Module):
    """A 4-level U-Net with transposed-convolution upsampling."""

    def __init__(self, channels=(32, 64, 128, 256), classes=2):
        super().__init__()

        def block(i, o):
            return nn.Sequential(nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(),
                                 nn.Conv2d(o, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU())

        self.down = nn.ModuleList()
        previous = 3
        for c in channels:
            self.down.append(block(previous, c))
            previous = c
        self.up = nn.ModuleList(nn.ConvTranspose2d(c, c // 2, 2, stride=2) for c in reversed(channels[1:]))
        self.merge = nn.ModuleList(block(c, c // 2) for c in reversed(channels[1:]))
        self.head = nn.Conv2d(channels[0], classes, 1)

    def forward(self, x):
        skips = []
        for index, block in enumerate(self.down):
            x = block(x)
            if index < len(self.down) - 1:
                skips.append(x)
                x = nn.functional.max_pool2d(x, 2)
        for up, merge in zip(self.up, self.merge):
            x = merge(torch.cat([up(x), skips.pop()], 1))
        return self.head(x)


def image(size=224):
    return lambda batch: (torch.randn(batch, 3, size, size),)


def vision(name, **kwargs):
    return lambda: getattr(torchvision.models, name)(weights=None, **kwargs)


MODELS = {
    "resnet18": (vision("resnet18"), image(), ["image"]),
    "resnet50": (vision("resnet50"), image(), ["image"]),
    "mobilenet_v2": (vision("mobilenet_v2"), image(), ["image"]),
    "mobilenet_v3_large": (vision("mobilenet_v3_large"), image(), ["image"]),
    "efficientnet_b0": (vision("efficientnet_b0"), image(), ["image"]),
    "convnext_tiny": (vision("convnext_tiny"), image(), ["image"]),
    "vit_b_16": (vision("vit_b_16"), image(), ["image"]),
    "swin_t": (vision("swin_t"), image(), ["image"]),
    "deeplabv3_mobilenet_v3_large": (lambda: torchvision.models.segmentation.deeplabv3_mobilenet_v3_large(
        weights=None, weights_backbone=None, aux_loss=False), image(256), ["image"]),
    "bert_base_like": (Encoder, lambda batch: (torch.randint(0, 30522, (batch, 128)), torch.ones(batch, 128, dtype=torch.long)),
                       ["input_ids", "attention_mask"]),
    "gpt_decoder": (DecoderBlock, lambda batch: (torch.randint(0, 8192, (batch, 64)),), ["input_ids"]),
    "lstm_classifier": (lambda: Recurrent("LSTM"), lambda batch: (torch.randn(batch, 50, 40),), ["x"]),
    "gru_classifier": (lambda: Recurrent("GRU"), lambda batch: (torch.randn(batch, 50, 40),), ["x"]),
    "unet": (UNet, image(128), ["image"]),
}


class Wrapped(nn.Module):
    """Segmentation models return a dict; export its 'out'."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, *args):
        result = self.model(*args)
        return result["out"] if isinstance(result, dict) else result


def randomize(model):
    """Random weights everywhere: torchvision zero-initializes some heads (ViT's), and fresh BatchNorm statistics
    are the identity, which would leave parts of a comparison vacuous."""
    generator = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.running_mean.normal_(0, 0.1, generator=generator)
                module.running_var.uniform_(0.5, 1.5, generator=generator)
        for parameter in model.parameters():
            if float(parameter.abs().max()) == 0 or parameter.ndim == 1:
                parameter.normal_(0, 0.05, generator=generator)
    return model


def export(name, folder):
    make, inputs, names = MODELS[name]
    model = randomize(Wrapped(make())).eval()
    example = inputs(2)
    path = os.path.join(folder, "model.onnx")
    dynamic = {n: {0: "batch"} for n in names}
    with torch.no_grad():
        try:
            torch.onnx.export(model, example, path, input_names=names, output_names=["output"], dynamic_axes=dynamic,
                              opset_version=17, dynamo=False)
        except Exception as error:  # releases without the TorchScript exporter, or graphs it cannot trace
            print(f"  TorchScript export failed ({error}); using the dynamo exporter", file=sys.stderr)
            try:
                batch = torch.export.Dim("batch", min=1, max=64)
                torch.onnx.export(model, example, path, input_names=names, output_names=["output"],
                                  dynamic_shapes=tuple({0: batch} for _ in names), dynamo=True, optimize=True)
            except Exception as second:  # torchvision's ViT asserts on shapes neither exporter keeps symbolic
                print(f"  dynamo export failed ({second}); exporting with a fixed batch of 2", file=sys.stderr)
                torch.onnx.export(model, example, path, input_names=names, output_names=["output"],
                                  opset_version=17, dynamo=False)
    return path, inputs, names


def relative_difference(actual, expected):
    scale = max(float(np.abs(expected).max()), 1e-6)
    return float(np.abs(actual.astype(np.float64) - expected).max()) / scale


def run_engine(yard, model, feeds, folder, threads):
    arguments = [yard, "predict", "--model", model, "--output", os.path.join(folder, "engine.npy"), "--threads", str(threads)]
    for key, value in feeds.items():
        path = os.path.join(folder, f"{key}.npy")
        np.save(path, value)
        arguments += ["--input", f"{key}={path}"]
    subprocess.run(arguments, check=True, capture_output=True, text=True, timeout=900)
    return np.load(os.path.join(folder, "engine.npy"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--yard", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--only", action="append")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--export-only", action="store_true", help="export and run onnxruntime; no engine")
    parser.add_argument("--reuse", action="store_true", help="keep exports already in --out")
    args = parser.parse_args()
    rows = []
    for name in args.only or list(MODELS):
        folder = os.path.join(args.out, name)
        os.makedirs(folder, exist_ok=True)
        print(f"{name}: exporting", file=sys.stderr)
        row = {"model": name}
        try:
            path = os.path.join(folder, "model.onnx")
            names = MODELS[name][2]
            if not (args.reuse and os.path.exists(os.path.join(folder, "expected.npy"))):
                path, inputs, names = export(name, folder)
                feeds = {n: t.numpy() for n, t in zip(names, inputs(2))}
                options = ort.SessionOptions()
                options.intra_op_num_threads = args.threads
                session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
                np.save(os.path.join(folder, "expected.npy"), session.run(None, feeds)[0])
                for key, value in feeds.items():
                    np.save(os.path.join(folder, f"{key}.npy"), value)
            feeds = {n: np.load(os.path.join(folder, f"{n}.npy")) for n in names}
            expected = np.load(os.path.join(folder, "expected.npy"))
            row["onnx_bytes"] = os.path.getsize(path)
            if args.export_only:
                row["ok"] = None
                print(json.dumps(row), flush=True)
                rows.append(row)
                continue
            started = time.perf_counter()
            actual = run_engine(args.yard, path, feeds, folder, args.threads)
            row["engine_seconds_with_load"] = round(time.perf_counter() - started, 2)
            row["max_relative_difference"] = relative_difference(actual, expected)
            flat_a = actual.reshape(actual.shape[0], actual.shape[1], -1) if actual.ndim > 2 else actual
            flat_e = expected.reshape(expected.shape[0], expected.shape[1], -1) if expected.ndim > 2 else expected
            row["same_top1"] = bool((flat_a.argmax(1) == flat_e.argmax(1)).all())
            row["ok"] = row["max_relative_difference"] <= 1e-4 and row["same_top1"]
        except Exception as error:  # report and go on with the next model
            row["error"] = str(error).splitlines()[-1][:300] if str(error) else type(error).__name__
            if isinstance(error, subprocess.CalledProcessError):
                row["error"] = (error.stderr or "").strip().splitlines()[-1][:300] if error.stderr else str(error)
            row["ok"] = False
        print(json.dumps(row), flush=True)
        rows.append(row)
    with open(os.path.join(args.out, "zoo.json"), "w") as handle:
        json.dump(rows, handle, indent=1)
    print(f"{sum(bool(r['ok']) for r in rows)} of {len(rows)} zoo models match onnxruntime")


if __name__ == "__main__":
    main()
