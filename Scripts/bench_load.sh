#!/usr/bin/env bash
# Checkpoint load benchmark: PthKit vs torch.load on resnet50 and vgg16 state dicts as zip, legacy and
# safetensors (prints a Markdown table). Arguments: an optional comma-separated model list.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/ensure-system-packages.sh
python="$(Scripts/ensure-python-oracle.sh)"
swift build -c release --product pthkit >&2
"$python" Scripts/bench_load.py .build/release/pthkit "$@"
