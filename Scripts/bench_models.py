#!/usr/bin/env python3
"""Forward latency per model: PthKit next to PyTorch eager and ONNX Runtime, same machine, one run.

    Scripts/bench_models.sh [MODEL ...]

Each is measured in its own block at its default settings (all cores), batch 1, the model's default
input size, random weights; median of the timed runs after warm-up. Prints a Markdown table.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnxruntime
import torch
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "oracle"))
import zoo  # noqa: E402

PTHKIT = os.environ.get("PTHKIT", ".build/release/pthkit")
DEFAULT_MODELS = ["resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0",
                  "shufflenet_v2_x1_0"]
RUNS, WARMUP = 20, 3


def input_size(name):
    with open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "ModelsManifest.json")) as f:
        entry = next(m for m in json.load(f)["models"] if m["name"] == name)
    return entry["input_size"]


def timed(action):
    for _ in range(WARMUP):
        action()
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main():
    names = sys.argv[1:] or DEFAULT_MODELS
    rows = []
    folder = tempfile.mkdtemp()
    for name in names:
        shape = [1] + input_size(name)
        result = subprocess.run([PTHKIT, "bench", name, "--runs", str(RUNS), "--warmup", str(WARMUP), "--json"],
                                check=True, capture_output=True, text=True)
        ours = json.loads(result.stdout)["median_ms"]

        model = zoo.MODELS[name]["build"]().eval()
        x = torch.rand(shape)
        with torch.no_grad():
            eager = timed(lambda: model(x))

        path = os.path.join(folder, f"{name}.onnx")
        with torch.no_grad():
            torch.onnx.export(model, (x,), path, opset_version=17, dynamo=False)
        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: x.numpy().astype(np.float32)}
        ort = timed(lambda: session.run(None, feed))
        rows.append((name, "x".join(map(str, shape)), ours, eager, ort))
        print(f"{name}: PthKit {ours:.2f} ms, PyTorch {eager:.2f} ms, ONNX Runtime {ort:.2f} ms", file=sys.stderr)

    print(f"{os.cpu_count()} cores; torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"onnxruntime {onnxruntime.__version__}; batch 1, median of {RUNS} runs after {WARMUP} warm-up")
    print("| model | input | PthKit | PyTorch eager | ONNX Runtime | PthKit / ORT |")
    print("|---|---|---|---|---|---|")
    for name, shape, ours, eager, ort in rows:
        print(f"| {name} | {shape} | {ours:.2f} ms | {eager:.2f} ms | {ort:.2f} ms | {ours / ort:.2f}x |")


if __name__ == "__main__":
    main()
