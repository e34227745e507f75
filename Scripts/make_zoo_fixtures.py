#!/usr/bin/env python3
"""Writes, for every model in Scripts/oracle/zoo.py, a checkpoint with random weights (batch norms with
non-trivial running statistics; large weights stored as compact strided views, see compact_views), an
input batch, PyTorch's float32 output and its float64 reference.

    make_zoo_fixtures.py --out DIR [--only NAME ...]

DIR/<name>/{model.pth, input.npy, output_f32.npy, output_f64.npy} and DIR/cases.json listing each case
with its builder arguments and PyTorch's own float32 error (max |f32 - f64|), the yardstick PthKit's
error is held to. With --only, the named cases are regenerated and merged into the cases.json already
in DIR; every other case keeps its entry.

Files are written beside their target and renamed into place: a fixture folder may be a hard-linked copy
of another checkout's, which writing in place would change too.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "oracle"))
import zoo  # noqa: E402


def signal_preserving_init(model):
    """Kaiming-normal (fan_in, ReLU gain) weights in every conv and linear layer. With PyTorch's default
    init the signal fades layer by layer (eval-mode batch norms do not renormalize it) until the logits
    barely depend on the input, and a wrong input-side operation (GoogLeNet's transform_input, a padding)
    would pass the parity bound unnoticed."""
    for module in model.modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")


def normalize_layer_outputs(model, x):
    """One eval forward pass on the fixture's own input that rescales every conv and linear layer (weight
    and bias) so that its output has unit standard deviation. Kaiming keeps each layer's output on the scale
    of its input, so every residual block multiplies the trunk's scale by about sqrt(2): after the 40-55
    blocks of EfficientNet B5-B7 the logits reach 1e6 and rounding differences grow as fast, until PyTorch's
    own float32 top-1 differs from its float64 one. Unit-scale branches make the trunk grow only as the
    square root of the depth."""
    def rescale(module, inputs, output):
        std = float(output.std())
        if std > 0:
            with torch.no_grad():
                module.weight.div_(std)
                if module.bias is not None:
                    module.bias.div_(std)
            return output / std
    layers = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    handles = [m.register_forward_hook(rescale) for m in layers]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()


def randomize_batch_norms(model, generator):
    """Running statistics far from (0, 1) so that a wrong eps or a missed buffer shows in the logits."""
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            n = module.num_features
            with torch.no_grad():
                module.running_mean.copy_(torch.randn(n, generator=generator) * 0.2)
                module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
                if module.weight is not None:
                    module.weight.copy_(torch.rand(n, generator=generator) + 0.5)
                    module.bias.copy_(torch.randn(n, generator=generator) * 0.2)
                module.num_batches_tracked.fill_(7)


ROW_STEP = 61  # odd and prime: consecutive rows share no tap, channel or column alignment


def compact_views(state_dict, least_saving=8):
    """The state dict with every large floating-point tensor replaced by an overlapping strided view of
    a storage of its own first values: row i starts ROW_STEP values after row i-1 instead of a whole
    row later. torch.save writes only those storages, so the cases take 2.4 GB instead of 15 GB
    (VGG's 25088 x 4096 classifier alone is 411 MB), and the sweep also proves strided views load.
    Rows stay distinct (each is its predecessor shifted by a prime), so a swapped or transposed weight
    still changes the logits; the values keep their layer's scale."""
    # Replaced in place: the dictionary's `_metadata` (module versions, which MNASNet's loader checks)
    # stays, as torch.save would write it.
    for key, tensor in list(state_dict.items()):
        rows = tensor.shape[0] if tensor.dim() >= 2 else 0
        columns = tensor.numel() // rows if rows else 0
        length = (rows - 1) * ROW_STEP + columns if rows else 0
        if not tensor.is_floating_point() or columns <= ROW_STEP or length * least_saving > tensor.numel():
            continue
        storage = tensor.reshape(-1)[:length].clone()
        state_dict[key] = storage.as_strided(tensor.shape, (ROW_STEP,) + tensor.stride()[1:])
    return state_dict


def write_replacing(path, write):
    """`write(temporary_path)`, then the result renamed over `path`: a new file, never a write into a
    file another directory may share through a hard link."""
    temporary = path + ".partial"
    write(temporary)
    os.replace(temporary, path)


def save_npy(path, array):
    # Through a handle: np.save given a name would append ".npy" to the temporary one.
    with open(path, "wb") as handle:
        np.save(handle, array)


def merged_cases(out, generated):
    """`generated` merged into DIR/cases.json: regenerated names replace their entries, others are kept,
    in the order zoo.MODELS lists them (unknown names last)."""
    try:
        with open(os.path.join(out, "cases.json")) as handle:
            existing = json.load(handle)["cases"]
    except FileNotFoundError:
        existing = []
    by_name = {case["name"]: case for case in existing}
    by_name.update({case["name"]: case for case in generated})
    order = {name: index for index, name in enumerate(zoo.MODELS)}
    return sorted(by_name.values(), key=lambda case: order.get(case["name"], len(order)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--only", nargs="*")
    options = parser.parse_args()
    os.makedirs(options.out, exist_ok=True)
    torch.set_num_threads(os.cpu_count() or 1)
    cases = []
    for name, spec in zoo.MODELS.items():
        if options.only and name not in options.only:
            continue
        torch.manual_seed(0)
        generator = torch.Generator().manual_seed(1)
        model = spec["build"]()
        signal_preserving_init(model)
        randomize_batch_norms(model, generator)
        model.eval()
        x = torch.rand((spec["batch"],) + tuple(spec["input"]), generator=generator) * 2 - 1
        normalize_layer_outputs(model, x)
        state_dict = compact_views(model.state_dict())
        model.load_state_dict(state_dict)
        folder = os.path.join(options.out, name)
        os.makedirs(folder, exist_ok=True)
        write_replacing(os.path.join(folder, "model.pth"), lambda path: torch.save(state_dict, path))
        with torch.no_grad():
            y32 = model(x)
            y64 = model.double()(x.double())
        if isinstance(y32, tuple):  # GoogLeNet-style outputs in eval mode are plain tensors; be safe
            y32, y64 = y32[0], y64[0]
        for file, array in [("input.npy", x.numpy().astype(np.float32)),
                            ("output_f32.npy", y32.numpy().astype(np.float32)), ("output_f64.npy", y64.numpy())]:
            write_replacing(os.path.join(folder, file), lambda path: save_npy(path, array))
        error = float((y32.double() - y64).abs().max())
        cases.append(dict(name=name, model=name.split("@")[0], args=spec["args"], torch_f32_error=error,
                          parameters=sum(p.numel() for p in model.parameters())))
        print(f"{name}: output {tuple(y32.shape)}, torch float32 error {error:.3g}", file=sys.stderr)
        del model
    if options.only:
        cases = merged_cases(options.out, cases)

    def write_cases(path):
        with open(path, "w") as handle:
            json.dump(dict(cases=cases), handle, indent=1)
    write_replacing(os.path.join(options.out, "cases.json"), write_cases)


if __name__ == "__main__":
    main()
