#!/usr/bin/env python3
"""PthKit next to PyTorch eager and ONNX Runtime on CPU: same machine, one run, each engine in its
own block at its default settings (all cores), random weights.

# Benchmarked when named, or with `all`: one member of each family issue 11 added.
OPTIONAL_MODELS = ["squeezenet1_1", "densenet121", "efficientnet_v2_s", "inception_v3", "regnet_y_800mf",
                   "convnext_tiny", "vit_b_16", "swin_t"]

For every model it measures
- latency at batch 1 and throughput at batch 8 (median of timed runs after warm-up);
- the first result: PthKit loading a state_dict file, building, compiling and running once, against
  ONNX Runtime creating a session from the exported model and running once, each in a fresh process;
- peak resident memory of those batch-1 processes (Linux's VmHWM): PthKit's whole process, and both
  engines counted from the same point, once their runtime is loaded and before the model is read
  (PthKit's VmRSS as the command starts: the Swift runtime, Foundation and OpenBLAS; ONNX Runtime's
  after its imports, so the Python interpreter and the onnxruntime library are not held against it);
- GFLOP/s each engine reaches (FLOPs counted by torch.utils.flop_counter), next to the peak of one
  large OpenBLAS sgemm measured in the same run through numpy.
Prints Markdown tables; progress goes to stderr.
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
import torchvision  # noqa: F401  (zoo builds torchvision models)
from torch.utils.flop_counter import FlopCounterMode

SCRIPTS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(SCRIPTS, "oracle"))
import zoo  # noqa: E402

PTHKIT = os.environ.get("PTHKIT", ".build/release/pthkit")
DEFAULT_MODELS = ["resnet18", "resnet50", "resnext50_32x4d", "mobilenet_v2", "mobilenet_v3_large",
                  "efficientnet_b0", "shufflenet_v2_x1_0", "googlenet", "vgg16", "alexnet"]
# Benchmarked when named, or with `all`: one member of each family issue 11 added.
OPTIONAL_MODELS = ["squeezenet1_1", "densenet121", "efficientnet_v2_s", "inception_v3", "regnet_y_800mf",
                   "convnext_tiny", "vit_b_16", "swin_t"]
RUNS, WARMUP = 20, 3
BATCH8_RUNS, BATCH8_WARMUP = 6, 1


def input_size(name):
    with open(os.path.join(os.path.dirname(SCRIPTS), "ModelsManifest.json")) as f:
        entry = next(m for m in json.load(f)["models"] if m["name"] == name)
    return entry["input_size"]


def timed(action, runs, warmup):
    for _ in range(warmup):
        action()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def pthkit(name, weights, batch, runs, warmup):
    command = [PTHKIT, "bench", name, "--weights", weights, "--batch", str(batch), "--runs", str(runs),
               "--warmup", str(warmup), "--json"]
    result = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(result.stdout)


def ort_child(onnx_path, shape, runs, warmup):
    command = [sys.executable, os.path.join(SCRIPTS, "bench_ort_worker.py"), onnx_path, ",".join(map(str, shape)),
               str(runs), str(warmup)]
    result = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(result.stdout)


def sgemm_peak_gflops():
    n = 2048
    a = np.random.rand(n, n).astype(np.float32)
    b = np.random.rand(n, n).astype(np.float32)
    times = []
    a @ b
    for _ in range(5):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * n ** 3 / min(times) / 1e9


def flops(model, shape):
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.rand(shape))
    return counter.get_total_flops()


def main():
    names = sys.argv[1:] or DEFAULT_MODELS
    if names == ["all"]:
        names = DEFAULT_MODELS + OPTIONAL_MODELS
    folder = tempfile.mkdtemp()
    peak = sgemm_peak_gflops()
    rows = []
    for name in names:
        shape = [1] + input_size(name)
        shape8 = [8] + input_size(name)
        # Parity cases may exist only with other arguments (vit_b_16@image_size=64): then torchvision's default.
        model = (zoo.MODELS[name]["build"] if name in zoo.MODELS else zoo._torchvision(name))().eval()
        weights = os.path.join(folder, f"{name}.pth")
        torch.save(model.state_dict(), weights)
        gflop = flops(model, shape) / 1e9

        # PthKit, in its own processes.
        ours1 = pthkit(name, weights, 1, RUNS, WARMUP)
        ours8 = pthkit(name, weights, 8, BATCH8_RUNS, BATCH8_WARMUP)

        # PyTorch eager, in this process.
        x1, x8 = torch.rand(shape), torch.rand(shape8)
        with torch.no_grad():
            eager1 = timed(lambda: model(x1), RUNS, WARMUP)
            eager8 = timed(lambda: model(x8), BATCH8_RUNS, BATCH8_WARMUP)

        # ONNX Runtime, in its own processes, on the model exported with a dynamic batch.
        onnx_path = os.path.join(folder, f"{name}.onnx")
        # nn.MultiheadAttention's eval fast path (aten::_native_multi_head_attention) has no ONNX
        # export; the plain path computes the same attention.
        torch.backends.mha.set_fastpath_enabled(False)
        with torch.no_grad():
            torch.onnx.export(model, (x1,), onnx_path, opset_version=17, dynamo=False,
                              input_names=["input"], dynamic_axes={"input": {0: "batch"}})
        ort1 = ort_child(onnx_path, shape, RUNS, WARMUP)
        ort8 = ort_child(onnx_path, shape8, BATCH8_RUNS, BATCH8_WARMUP)

        rows.append(dict(name=name, shape="x".join(map(str, shape)), gflop=gflop, ours1=ours1, ours8=ours8,
                         eager1=eager1, eager8=eager8, ort1=ort1, ort8=ort8))
        print(f"{name}: batch 1 PthKit {ours1['median_ms']:.2f} ms, PyTorch {eager1:.2f} ms, "
              f"ONNX Runtime {ort1['median_ms']:.2f} ms", file=sys.stderr)

    print(f"{os.cpu_count()} cores; torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"onnxruntime {onnxruntime.__version__}; random weights; OpenBLAS sgemm peak (2048^3 through numpy) "
          f"{peak:.0f} GFLOP/s")
    print()
    print(f"Batch 1, median of {RUNS} runs after {WARMUP} warm-up:")
    print()
    print("| model | input | GFLOP | PthKit | PyTorch eager | ONNX Runtime | PthKit / ORT | PthKit GFLOP/s | ORT GFLOP/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ours, ort = r["ours1"]["median_ms"], r["ort1"]["median_ms"]
        print(f"| {r['name']} | {r['shape']} | {r['gflop']:.2f} | {ours:.2f} ms | {r['eager1']:.2f} ms | {ort:.2f} ms "
              f"| {ours / ort:.2f}x | {r['gflop'] / ours * 1000:.0f} | {r['gflop'] / ort * 1000:.0f} |")
    print()
    print(f"Batch 8, images/s, median of {BATCH8_RUNS} runs after {BATCH8_WARMUP} warm-up:")
    print()
    print("| model | PthKit | PyTorch eager | ONNX Runtime | PthKit / ORT |")
    print("|---|---|---|---|---|")
    for r in rows:
        ours, eager, ort = (8000 / r["ours8"]["median_ms"], 8000 / r["eager8"], 8000 / r["ort8"]["median_ms"])
        print(f"| {r['name']} | {ours:.1f} | {eager:.1f} | {ort:.1f} | {ours / ort:.2f}x |")
    print()
    print("First result (fresh process; PthKit: load state_dict + build + compile + one forward; "
          "ONNX Runtime: session from the .onnx + one run) and peak memory of the batch-1 process:")
    print()
    print("| model | PthKit first result | of which compile | ORT first result | PthKit / ORT "
          "| PthKit peak RSS (whole process) | PthKit peak RSS above startup | ORT peak RSS above imports "
          "| PthKit / ORT (above startup) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ours, ort = r["ours1"], r["ort1"]
        above = ours["peak_rss_mb"] - ours["startup_rss_mb"]
        print(f"| {r['name']} | {ours['first_result_ms']:.0f} ms | {ours.get('compile_ms') or 0:.0f} ms "
              f"| {ort['first_result_ms']:.0f} ms | {ours['first_result_ms'] / ort['first_result_ms']:.2f}x "
              f"| {ours['peak_rss_mb']:.0f} MB | {above:.0f} MB | {ort['peak_mb']:.0f} MB | {above / ort['peak_mb']:.2f}x |")


if __name__ == "__main__":
    main()
