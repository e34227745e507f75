#!/usr/bin/env bash
# The main job on the bundled default: read a PyTorch checkpoint, load it into its Swift model, and
# check the logits against PyTorch's. With arguments, the same for your own files:
#   Scripts/demo.sh [MODEL WEIGHTS [INPUT.npy REFERENCE.npy]]
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/ensure-system-packages.sh
echo "== building PthKit (release)" >&2
swift build -c release --product pthkit >&2
pthkit=.build/release/pthkit

model="${1:-lenet5}"
weights="${2:-Examples/digits/lenet5_digits.pth}"
input="${3:-}"
reference="${4:-}"
if [ $# -eq 0 ]; then
    input=Examples/digits/heldout_inputs.npy
    reference=Examples/digits/heldout_logits.npy
fi

echo "== pthkit inspect $weights"
"$pthkit" inspect "$weights"
echo
echo "== pthkit load-check $model --weights $weights"
"$pthkit" load-check "$model" --weights "$weights"
if [ -n "$input" ]; then
    echo
    echo "== pthkit compare $model: PthKit's logits against PyTorch's ($reference)"
    # The first line has the differences and the last the verdict; one line per input row between.
    "$pthkit" compare "$model" --weights "$weights" --input "$input" --reference "$reference" > /tmp/pthkit-compare.txt \
        || status=$?
    head -1 /tmp/pthkit-compare.txt
    echo "  top-1 agreement: $(grep -c 'top-1 agrees' /tmp/pthkit-compare.txt) of $(grep -c '^  row' /tmp/pthkit-compare.txt) rows"
    tail -1 /tmp/pthkit-compare.txt
    exit "${status:-0}"
fi
