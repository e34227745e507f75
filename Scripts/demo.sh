#!/usr/bin/env bash
# The main job on the bundled default: read a PyTorch checkpoint, load it into its Swift model,
# classify the bundled held-out digits (PNG files, preprocessed as torchvision does) and compare the
# logits with PyTorch's; then teach a LeNet5 that knows only the digits 0-4 the digits 5-9 by training
# a new head, and classify with the checkpoint it writes. With arguments, the first part for your own files:
#   Scripts/demo.sh MODEL WEIGHTS IMAGE...        e.g. Scripts/demo.sh resnet50 resnet50-11ad3fa6.pth cat.jpg
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/ensure-system-packages.sh
echo "== building PthKit (release)" >&2
swift build -c release --product pthkit >&2
pthkit=.build/release/pthkit

if [ $# -ge 3 ]; then
    model="$1" weights="$2"
    shift 2
    "$pthkit" load-check "$model" --weights "$weights"
    exec "$pthkit" classify "$model" --weights "$weights" "$@"
fi

weights=Examples/digits/lenet5_digits.pth
echo "== pthkit inspect $weights"
"$pthkit" inspect "$weights"
echo
echo "== pthkit load-check lenet5 --weights $weights"
"$pthkit" load-check lenet5 --weights "$weights"
echo
echo "== pthkit classify lenet5: 300 held-out digits (Examples/digits/heldout/<digit>/*.png)"
"$pthkit" classify lenet5 --weights "$weights" --topk 1 --image-folder Examples/digits/heldout \
    --reference-logits Examples/digits/heldout_logits.npy > /tmp/pthkit-demo.txt
head -12 /tmp/pthkit-demo.txt
echo "  ..."
tail -2 /tmp/pthkit-demo.txt
echo
data=Examples/digits/digits_5to9
output="$(mktemp -d)/digits_5to9.pth"
echo "== pthkit finetune-head lenet5: a new head for the digits 5-9 over a backbone trained on 0-4"
"$pthkit" finetune-head lenet5 --weights Examples/digits/lenet5_digits_0to4.pth --data "$data/train" \
    --val-data "$data/val" --output "$output" --epochs 60 --batch 64 --optimizer adam --lr 0.01 --weight-decay 0.001
echo
echo "== pthkit classify lenet5 --weights $output (class names from $(basename "$output" .pth).classes.txt)"
"$pthkit" classify lenet5 --weights "$output" --topk 2 "$data/val/7/0044.png"
"$pthkit" classify lenet5 --weights "$output" --topk 1 --image-folder "$data/val" | tail -1
