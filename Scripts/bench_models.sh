#!/usr/bin/env bash
# Model latency benchmark: PthKit vs PyTorch eager vs ONNX Runtime (prints a Markdown table).
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/ensure-system-packages.sh
python="$(Scripts/ensure-python-oracle.sh)"
"$(dirname "$python")/pip" install -q --disable-pip-version-check -r Scripts/requirements-bench.txt >&2
swift build -c release --product pthkit >&2
"$python" Scripts/bench_models.py "$@"
