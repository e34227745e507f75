#!/usr/bin/env python3
"""Checkpoint read time: PthKit against torch.load, on the same ~100 MB state_dict, same machine.

    Scripts/bench_load.sh        (builds PthKit in release, installs the oracle, runs this)

Prints a table: the median of several runs of each, with the file in the page cache for both.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch
import torchvision

PTHKIT = sys.argv[1] if len(sys.argv) > 1 else ".build/release/pthkit"
RUNS = 7


def median_ms(action):
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main():
    torch.set_num_threads(os.cpu_count() or 1)
    folder = tempfile.mkdtemp()
    model = torchvision.models.resnet50(weights=None).eval()
    rows = []
    for label, kwargs in [("zip", {}), ("legacy", dict(_use_new_zipfile_serialization=False))]:
        path = os.path.join(folder, f"resnet50_{label}.pth")
        torch.save(model.state_dict(), path, **kwargs)
        size_mb = os.path.getsize(path) / 1e6
        torch_ms = median_ms(lambda: torch.load(path, weights_only=True))
        torch_full_ms = median_ms(lambda: model.load_state_dict(torch.load(path, weights_only=True)))
        pthkit_ms = statistics.median(
            json.loads(subprocess.run([PTHKIT, "bench", "resnet50", "--weights", path, "--runs", "1", "--warmup", "0",
                                       "--input-size", "32,32", "--json"], check=True, capture_output=True,
                                      text=True).stdout)["load_ms"] for _ in range(RUNS))
        rows.append((label, size_mb, torch_ms, torch_full_ms, pthkit_ms))
    print(f"torch {torch.__version__}, {os.cpu_count()} cores, median of {RUNS} runs, file in page cache")
    print("| format | size | torch.load | torch.load + load_state_dict | PthKit read + loadStateDict |")
    print("|---|---|---|---|---|")
    for label, size, t, tf, p in rows:
        print(f"| {label} | {size:.0f} MB | {t:.0f} ms | {tf:.0f} ms | {p:.0f} ms |")


if __name__ == "__main__":
    main()
