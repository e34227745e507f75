"""Writes the convolution layers of the benchmarked torchvision models, one line per call.

Each line: model N C H W OC OH OW KH KW SH SW PH PW DH DW G, traced with forward hooks on a 224x224
image (batch 1; the harness scales N). The harness times exactly these shapes.
Usage: .venv/bin/python Scripts/kernel_harness/list_conv_layers.py > Scripts/kernel_harness/layers.txt
"""
import sys

import torch
import torchvision

MODELS = ["resnet18", "resnet50", "resnext50_32x4d", "mobilenet_v2", "efficientnet_b0", "alexnet"]


def conv_lines(name):
    model = getattr(torchvision.models, name)(weights=None).eval()
    lines = []

    def record(module, inputs, output):
        n, c, h, w = inputs[0].shape
        _, oc, oh, ow = output.shape
        fields = [n, c, h, w, oc, oh, ow, *module.kernel_size, *module.stride, *module.padding,
                  *module.dilation, module.groups]
        lines.append(" ".join([name] + [str(int(v)) for v in fields]))

    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            module.register_forward_hook(record)
    with torch.no_grad():
        model(torch.zeros(1, 3, 224, 224))
    return lines


if __name__ == "__main__":
    for name in MODELS:
        sys.stdout.write("\n".join(conv_lines(name)) + "\n")
