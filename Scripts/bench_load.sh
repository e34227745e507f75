#!/usr/bin/env bash
# Checkpoint load benchmark: PthKit vs torch.load on a ~100 MB state_dict (prints a Markdown table).
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/ensure-system-packages.sh
python="$(Scripts/ensure-python-oracle.sh)"
swift build -c release --product pthkit >&2
"$python" Scripts/bench_load.py .build/release/pthkit
