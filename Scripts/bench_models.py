#!/usr/bin/env python3
"""PthKit next to PyTorch eager and ONNX Runtime on CPU: same machine, one run, each engine in its
own block at its default settings (all cores), random weights.

# Benchmarked when named, or with `all`: one member of each family issue 11 added.
OPTIONAL_MODELS = ["squeezenet1_1", "densenet121", "efficientnet_v2_s", "inception_v3", "regnet_y_800mf",
                   "convnext_tiny", "vit_b_16", "swin_t"]

For every model it measures
- latency at batch 1 and throughput at batch 8: PthKit and ONNX Runtime alternate in ROUNDS rounds, a
  fresh process each, and each engine's figure is the median of its rounds' medians. The machine
  this runs on is shared, and its speed swings for minutes at a time; run back to back, one engine
  could take all its runs in a slow spell and the other none. PyTorch eager runs once, in this process;
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
RUNS, WARMUP = 10, 3
BATCH8_RUNS, BATCH8_WARMUP = 4, 1
ROUNDS = 3


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


def alternated(first, second):
    """Each engine's measurement ROUNDS times, first and second in turn. Latency is the median of the
    rounds' medians; the first result the median of the rounds' first results; peak memory the most
    any round reached."""
    rounds = [(first(), second()) for _ in range(ROUNDS)]

    def combined(results):
        merged = dict(results[0])
        for key in ("median_ms", "first_result_ms", "compile_ms"):
            if merged.get(key) is not None:
                merged[key] = statistics.median(r[key] for r in results)
        # Memory from the round that held the most above its own starting point.
        if "peak_mb" in merged:
            merged["peak_mb"] = max(r["peak_mb"] for r in results)
        if "peak_rss_mb" in merged:
            most = max(results, key=lambda r: r["peak_rss_mb"] - r["startup_rss_mb"])
            merged["peak_rss_mb"], merged["startup_rss_mb"] = most["peak_rss_mb"], most["startup_rss_mb"]
        return merged

    return combined([r[0] for r in rounds]), combined([r[1] for r in rounds])


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

        # ONNX Runtime runs the model exported with a dynamic batch.
        onnx_path = os.path.join(folder, f"{name}.onnx")
        # nn.MultiheadAttention's eval fast path (aten::_native_multi_head_attention) has no ONNX
        # export; the plain path computes the same attention.
        torch.backends.mha.set_fastpath_enabled(False)
        x1, x8 = torch.rand(shape), torch.rand(shape8)
        with torch.no_grad():
            torch.onnx.export(model, (x1,), onnx_path, opset_version=17, dynamo=False,
                              input_names=["input"], dynamic_axes={"input": {0: "batch"}})

        # PthKit and ONNX Runtime, each in its own processes, in alternating rounds.
        ours1, ort1 = alternated(lambda: pthkit(name, weights, 1, RUNS, WARMUP),
                                 lambda: ort_child(onnx_path, shape, RUNS, WARMUP))
        ours8, ort8 = alternated(lambda: pthkit(name, weights, 8, BATCH8_RUNS, BATCH8_WARMUP),
                                 lambda: ort_child(onnx_path, shape8, BATCH8_RUNS, BATCH8_WARMUP))

        # PyTorch eager, in this process.
        with torch.no_grad():
            eager1 = timed(lambda: model(x1), RUNS, WARMUP)
            eager8 = timed(lambda: model(x8), BATCH8_RUNS, BATCH8_WARMUP)

        rows.append(dict(name=name, shape="x".join(map(str, shape)), gflop=gflop, ours1=ours1, ours8=ours8,
                         eager1=eager1, eager8=eager8, ort1=ort1, ort8=ort8))
        print(f"{name}: batch 1 PthKit {ours1['median_ms']:.2f} ms, PyTorch {eager1:.2f} ms, "
              f"ONNX Runtime {ort1['median_ms']:.2f} ms", file=sys.stderr)

    print(f"{os.cpu_count()} cores; torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"onnxruntime {onnxruntime.__version__}; random weights; OpenBLAS sgemm peak (2048^3 through numpy) "
          f"{peak:.0f} GFLOP/s")
    print()
    print(f"Batch 1: PthKit and ONNX Runtime the median of {ROUNDS} alternating rounds' medians of {RUNS} runs "
          f"after {WARMUP} warm-up, PyTorch eager the median of {RUNS} runs:")
    print()
    print("| model | input | GFLOP | PthKit | PyTorch eager | ONNX Runtime | PthKit / ORT | PthKit GFLOP/s | ORT GFLOP/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ours, ort = r["ours1"]["median_ms"], r["ort1"]["median_ms"]
        print(f"| {r['name']} | {r['shape']} | {r['gflop']:.2f} | {ours:.2f} ms | {r['eager1']:.2f} ms | {ort:.2f} ms "
              f"| {ours / ort:.2f}x | {r['gflop'] / ours * 1000:.0f} | {r['gflop'] / ort * 1000:.0f} |")
    print()
    print(f"Batch 8, images/s: the median of {ROUNDS} alternating rounds' medians of {BATCH8_RUNS} runs after "
          f"{BATCH8_WARMUP} warm-up (PyTorch eager: of {BATCH8_RUNS} runs):")
    print()
    print("| model | PthKit | PyTorch eager | ONNX Runtime | PthKit / ORT |")
    print("|---|---|---|---|---|")
    for r in rows:
        ours, eager, ort = (8000 / r["ours8"]["median_ms"], 8000 / r["eager8"], 8000 / r["ort8"]["median_ms"])
        print(f"| {r['name']} | {ours:.1f} | {eager:.1f} | {ort:.1f} | {ours / ort:.2f}x |")
    print()
    print("First result (fresh process; PthKit: load state_dict + build + compile + one forward; "
          "ONNX Runtime: session from the .onnx + one run; median of the rounds) and peak memory of the "
          "batch-1 process (the most of any round):")
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
