#!/usr/bin/env python3
"""Checkpoint load time: PthKit against PyTorch, on the same state dicts, same machine.

    Scripts/bench_load.sh        (builds PthKit in release, installs the oracle, runs this)

For resnet50 and vgg16 state dicts, each saved as zip, legacy and safetensors, prints a table of
medians over several runs, the file in the page cache for every reader:
  torch read        torch.load(weights_only=True), or safetensors.torch.load_file for safetensors
  torch mmap read   torch.load(mmap=True, weights_only=True) (zip only)
  torch + load      the read plus model.load_state_dict
  PthKit            `pthkit bench --weights` load_ms: read the file and load it into the built model
  PthKit peak RSS   the pthkit process's peak resident memory from start to the end of the load
                    (model build included, before any forward pass), against the model's float32
                    parameter bytes
  sha256            PthKit hashing the whole file once (`bench` sha256_ms): what the official-name
                    check costs at most, as a share of PthKit's load
  first result      `pthkit bench` first_result_ms at the model's own input size (load, compile, one
                    forward pass) with the file's SHA-256 checked, as for an official file name, and
                    with --no-verify. The files hold random weights, so an official name could not
                    pass its check: the check is asked for with `--sha256 DIGEST` instead, the same
                    code path, each run with an empty verification cache (PTHKIT_CACHE_DIR) so the
                    file is really hashed; check_wait is how long the result then waited for the hash.
                    With BENCH_OFFICIAL_FILES (comma-separated real torchvision downloads) a second table
                    gives the same for those files under their official names.
"""
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import safetensors.torch
import torch
import torchvision

PTHKIT = sys.argv[1] if len(sys.argv) > 1 else ".build/release/pthkit"
MODELS = sys.argv[2].split(",") if len(sys.argv) > 2 else ["resnet50", "vgg16"]
RUNS = int(os.environ.get("BENCH_RUNS", "7"))


def median_ms(action):
    action()  # the file into the page cache
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def pthkit_run(model_name, path, time_sha256=False):
    """One `pthkit bench` process: its load_ms, its peak resident set in MB up to the end of the load
    (load_peak_rss_mb, Linux's VmHWM read before the plan is compiled: getrusage's maxrss would carry over this Python process's high-water mark through the
    fork), and with time_sha256 (a separate run, so the extra read stays out of the peak) sha256_ms."""
    result = subprocess.run(
        [PTHKIT, "bench", model_name, "--weights", path, "--runs", "1", "--warmup", "0", "--input-size", "32,32",
         "--json"] + (["--time-sha256"] if time_sha256 else []), check=True, capture_output=True, text=True)
    result = json.loads(result.stdout)
    return result["load_ms"], result["load_peak_rss_mb"], result.get("sha256_ms")


def pthkit_first_result(model_name, path, check):
    """first_result_ms and verify_wait_ms of one `pthkit bench` process at the model's own input size,
    `check` its verification flags: `["--sha256", DIGEST]`, `[]` for a file with an official name, or
    `["--no-verify"]`. The verification cache is fresh and empty, so nothing remembered hides the hash."""
    cache = tempfile.mkdtemp()
    try:
        result = subprocess.run(
            [PTHKIT, "bench", model_name, "--weights", path, "--runs", "1", "--warmup", "0", "--json"] + check,
            check=True, capture_output=True, text=True, env=dict(os.environ, PTHKIT_CACHE_DIR=cache))
    finally:
        shutil.rmtree(cache)
    result = json.loads(result.stdout)
    return result["first_result_ms"], result.get("verify_wait_ms")


def first_results(model_name, path, check):
    """Medians of the first result with the check, without it (--no-verify), and of its wait."""
    checked = [pthkit_first_result(model_name, path, check) for _ in range(RUNS)]
    plain = statistics.median(pthkit_first_result(model_name, path, ["--no-verify"])[0] for _ in range(RUNS))
    return statistics.median(r[0] for r in checked), plain, statistics.median(r[1] for r in checked)


def official_rows():
    """BENCH_OFFICIAL_FILES=DIR/resnet50-11ad3fa6.pth,...: real torchvision downloads, checked under their
    own names (the model is the name before the hash), for a table of their first results."""
    files = [f for f in os.environ.get("BENCH_OFFICIAL_FILES", "").split(",") if f]
    return [(os.path.basename(f), os.path.getsize(f) / 1e6)
            + first_results(os.path.basename(f).rsplit("-", 1)[0], f, []) for f in files]


def main():
    torch.set_num_threads(os.cpu_count() or 1)
    folder = tempfile.mkdtemp()
    rows = []
    for model_name in MODELS:
        model = getattr(torchvision.models, model_name)(weights=None).eval()
        parameter_mb = sum(t.numel() * 4 for t in model.state_dict().values()) / 1e6
        for label in ["zip", "legacy", "safetensors"]:
            path = os.path.join(folder, f"{model_name}_{label}.{'safetensors' if label == 'safetensors' else 'pth'}")
            if label == "safetensors":
                safetensors.torch.save_file(model.state_dict(), path, metadata={"format": "pt"})
                read = lambda: safetensors.torch.load_file(path)  # noqa: E731
                mmap_ms = None
            else:
                torch.save(model.state_dict(), path, **({} if label == "zip" else dict(_use_new_zipfile_serialization=False)))
                read = lambda: torch.load(path, weights_only=True)  # noqa: E731
                mmap_ms = median_ms(lambda: torch.load(path, weights_only=True, mmap=True)) if label == "zip" else None
            read_ms = median_ms(read)
            full_ms = median_ms(lambda: model.load_state_dict(read()))
            pthkit_run(model_name, path)
            runs = [pthkit_run(model_name, path) for _ in range(RUNS)]
            pthkit_ms = statistics.median(r[0] for r in runs)
            rss_mb = statistics.median(r[1] for r in runs)
            hash_ms = statistics.median(pthkit_run(model_name, path, time_sha256=True)[2] for _ in range(3))
            with open(path, "rb") as file:
                digest = hashlib.file_digest(file, "sha256").hexdigest()
            first_checked_ms, first_plain_ms, wait_ms = first_results(model_name, path, ["--sha256", digest])
            rows.append((model_name, label, os.path.getsize(path) / 1e6, read_ms, mmap_ms, full_ms, pthkit_ms,
                         rss_mb, parameter_mb, hash_ms, first_checked_ms, first_plain_ms, wait_ms))
            os.remove(path)
    print(f"torch {torch.__version__}, {os.cpu_count()} cores, median of {RUNS} runs, file in page cache")
    print()
    print("| model | format | size | torch read | torch mmap read | torch read + load_state_dict | PthKit read + load "
          "| PthKit / torch+load | PthKit peak RSS (float32 params) | sha256 of the file (share of PthKit load) "
          "| PthKit first result, sha256 checked / not (check_wait) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, label, size, t, tm, tf, p, rss, params, h, first_checked, first_plain, wait in rows:
        mmap_text = f"{tm:.0f} ms" if tm is not None else "-"
        print(f"| {name} | {label} | {size:.0f} MB | {t:.0f} ms | {mmap_text} | {tf:.0f} ms | {p:.0f} ms | {p / tf:.2f}x "
              f"| {rss:.0f} MB ({params:.0f} MB) | {h:.0f} ms ({100 * h / p:.0f}%) "
              f"| {first_checked:.0f} / {first_plain:.0f} ms ({wait:.0f} ms) |")
    official = official_rows()
    if official:
        print("\n| official file | size | PthKit first result, sha256 checked / not (check_wait) |")
        print("|---|---|---|")
        for name, size, first_checked, first_plain, wait in official:
            print(f"| {name} | {size:.0f} MB | {first_checked:.0f} / {first_plain:.0f} ms ({wait:.0f} ms) |")


if __name__ == "__main__":
    main()
