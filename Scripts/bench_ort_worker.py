#!/usr/bin/env python3
"""One ONNX Runtime measurement in a fresh process, for Scripts/bench_models.py:

    bench_ort_worker.py MODEL.onnx N,C,H,W RUNS WARMUP

Prints JSON: first_result_ms (session creation + first run), median_ms of the timed runs, and
peak_mb, the peak resident memory this process reached above what it held after its imports.
"""
import json
import statistics
import sys
import time

import numpy as np
import onnxruntime


def status_mb(field):
    """VmRSS or VmHWM from /proc/self/status (VmHWM starts afresh at exec, unlike ru_maxrss)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def main():
    path, shape, runs, warmup = sys.argv[1], [int(d) for d in sys.argv[2].split(",")], int(sys.argv[3]), int(sys.argv[4])
    feed_values = np.random.rand(*shape).astype(np.float32)
    baseline = status_mb("VmRSS")
    start = time.perf_counter()
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: feed_values}
    session.run(None, feed)
    first = (time.perf_counter() - start) * 1000
    for _ in range(max(warmup - 1, 0)):
        session.run(None, feed)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, feed)
        times.append((time.perf_counter() - start) * 1000)
    peak = status_mb("VmHWM")
    print(json.dumps(dict(first_result_ms=first, median_ms=statistics.median(times), peak_mb=peak - baseline)))


if __name__ == "__main__":
    main()
