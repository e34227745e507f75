#!/usr/bin/env python3
"""TorchScript archives and safetensors files, with what PyTorch and the safetensors package read.

    python Scripts/make_format_fixtures.py --out Tests/Fixtures/generated/formats

DIR/manifest.json has the shape of Tests/Fixtures/checkpoints/manifest.json: {"cases": [...]}, each
  {"file", "expect": "ok", "listing", "notes"[, "metadata_text"]}
  {"file", "expect": "error", "error_contains": [...], "notes"}
where "listing" is what `pthkit inspect FILE --json` must print: for a TorchScript archive the
tensors of `torch.jit.load(FILE).state_dict()`, for safetensors those of
`safetensors.torch.load_file(FILE)` (its key order) and the file's metadata.

DIR/run/ holds, for the scripted and traced resnet18, an input batch and the logits the TorchScript
module gives for it (`input.npy`, `<file>.logits.npy`), so a test can load the archive into
PthKit's resnet18 and compare.
"""
import argparse
import hashlib
import io
import json
import shutil
import struct
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import safetensors
import safetensors.torch
import torch
import torchvision
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_checkpoint_fixtures import DTYPES, tensor_sha256  # noqa: E402

SCRIPT = Path(__file__).resolve()
warnings.filterwarnings("ignore", category=FutureWarning)


def listing(file_format, tensors, metadata=None):
    result = {
        "format": file_format, "byteorder": "little",
        "tensors": [{"key": k, "dtype": DTYPES[t.dtype][0], "shape": list(t.shape), "sha256": tensor_sha256(t)}
                    for k, t in tensors.items()],
    }
    if metadata is not None:
        result["metadata"] = metadata
    return result


class Fixtures:
    def __init__(self, out):
        self.out = out
        self.cases = []

    def torchscript(self, name, module, notes, save_as=None):
        """Saves `module` (scripted or traced) with torch.jit.save; the listing is what torch.jit.load reads."""
        path = self.out / name
        if save_as:  # the archive's folder is named after the file torch.jit.save was given
            torch.jit.save(module, str(self.out / save_as))
            (self.out / save_as).rename(path)
        else:
            torch.jit.save(module, str(path))
        loaded = torch.jit.load(str(path))
        self.cases.append(dict(file=name, expect="ok", listing=listing("torchscript", loaded.state_dict()), notes=notes))
        return loaded

    def safetensors_file(self, name, tensors, metadata, notes):
        path = self.out / name
        safetensors.torch.save_file(tensors, str(path), metadata=metadata)
        loaded = safetensors.torch.load_file(str(path))
        with safetensors.safe_open(str(path), "pt") as opened:
            read_metadata = opened.metadata()
        self.cases.append(dict(file=name, expect="ok", listing=listing("safetensors", loaded, read_metadata), notes=notes))

    def error(self, name, data, words, notes):
        (self.out / name).write_bytes(data)
        self.cases.append(dict(file=name, expect="error", error_contains=words, notes=notes))


def seeded_resnet18():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=10).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 1.5)
                module.num_batches_tracked.fill_(2 ** 40 + 1)  # beyond float32: must stay exact
    return model


class WithBuffersAndConstants(nn.Module):
    """Parameters, a None parameter, persistent and int64 buffers, a plain tensor attribute (not in
    state_dict), a constant tensor in forward (constants.pkl), a ModuleList and a shared child."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.arange(6, dtype=torch.float32).reshape(2, 3))
        self.bias = None
        self.register_buffer("steps", torch.tensor([2 ** 40, -3], dtype=torch.int64))
        self.register_buffer("scale", torch.tensor(0.5, dtype=torch.float64))
        self.register_buffer("mask", torch.tensor([True, False, True]))
        self.plain = torch.ones(3)
        self.blocks = nn.ModuleList([nn.Linear(3, 3), nn.BatchNorm1d(3)])
        shared = nn.Linear(3, 2, bias=False)
        self.first = shared
        self.second = shared

    def forward(self, x):
        y = x @ self.weight.t() + torch.tensor([1.0, 2.0])
        for block in self.blocks:
            x = block(x)
        return y + self.first(x) + self.second(x) * self.scale.float() + self.plain.sum()


def replace_record(source, target, edit):
    """Copies the zip archive `source` to `target`, passing each (name, bytes) through edit (None drops it);
    asserts that the edit changed something, so a case cannot silently test an intact archive."""
    changed = False
    with zipfile.ZipFile(source) as reading, zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as writing:
        for info in reading.infolist():
            data = reading.read(info.filename)
            result = edit(info.filename, data)
            changed |= result != data
            if result is not None:
                writing.writestr(info.filename, result)
    assert changed, f"the edit left {source} unchanged"


def torchscript_cases(fx):
    model = seeded_resnet18()
    batch = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    run = fx.out / "run"
    run.mkdir()
    np.save(run / "input.npy", batch.numpy())
    scripted = fx.torchscript(
        "resnet18_scripted.pt", torch.jit.script(model),
        "torch.jit.script of torchvision resnet18 (10 classes), running stats randomized, num_batches_tracked 2**40 + 1.")
    traced = fx.torchscript(
        "resnet18_traced.pt", torch.jit.trace(model, batch),
        "torch.jit.trace of the same resnet18: mangled class names (___torch_mangle_N), traced_inputs records.")
    with torch.no_grad():
        np.save(run / "resnet18_scripted.pt.logits.npy", scripted(batch).numpy())
        np.save(run / "resnet18_traced.pt.logits.npy", traced(batch).numpy())

    custom = WithBuffersAndConstants().eval()
    fx.torchscript(
        "buffers_and_constants.pt", torch.jit.script(custom),
        "A scripted module with a None parameter, int64/float64/bool buffers, a tensor attribute that is "
        "no buffer, a ModuleList and one child under two names.")
    fx.torchscript(
        "buffers_and_constants_traced.pt", torch.jit.trace(custom, torch.ones(4, 3)),
        "The same module traced: the tensor made in forward becomes a constant (constants.pkl, constants/).")
    small = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(4)).eval()
    small(torch.zeros(1, 1, 5, 5))
    fx.torchscript(
        "traced_custom_prefix.pt", torch.jit.trace(small, torch.zeros(1, 1, 5, 5)),
        "A traced Sequential saved as another_name.pt and renamed: the archive's folder is another_name/.",
        save_as="another_name.pt")
    fx.torchscript("relu_only.pt", torch.jit.script(nn.ReLU()), "A scripted ReLU: truly no tensors.")

    source = fx.out / "buffers_and_constants.pt"
    broken = fx.out / "broken.tmp"

    # Linear's classes are mangled (linear/___torch_mangle_N.py): match the folder.
    def is_linear_code(name):
        return "code/__torch__/torch/nn/modules/linear" in name and name.endswith(".py")

    def drop_linear_code(name, data):
        return None if is_linear_code(name) else data
    replace_record(source, broken, drop_linear_code)
    fx.error("torchscript_missing_class.pt", broken.read_bytes(), ["Linear", "declared nowhere in code/"],
             "buffers_and_constants.pt without the code/ records declaring its Linear classes.")

    def garble_parameters(name, data):
        return data.replace(b'__parameters__ = ["weight", "bias", ]', b'__parameters__ = [weight, bias ]') \
            if is_linear_code(name) else data
    replace_record(source, broken, garble_parameters)
    fx.error("torchscript_malformed_parameters.pt", broken.read_bytes(), ["modules/linear", "malformed __parameters__"],
             "A __parameters__ list whose names are not quoted.")

    def phantom_buffer(name, data):
        return data.replace(b'__buffers__ = ["running_mean",', b'__buffers__ = ["phantom", "running_mean",') \
            if "batchnorm" in name and name.endswith(".py") else data
    replace_record(source, broken, phantom_buffer)
    fx.error("torchscript_phantom_buffer.pt", broken.read_bytes(), ["declares buffer phantom"],
             "code/ declares a buffer that data.pkl does not hold.")
    broken.unlink()


def every_dtype_tensors():
    values = [0.0, -0.0, 1.5, float("inf"), float("-inf"), float("nan"), 1e-40, 3.0e38]
    tensors = {
        "f32": torch.tensor(values, dtype=torch.float32).reshape(2, 4),
        "f64": torch.tensor(values + [5e-324], dtype=torch.float64),
        "f16": torch.tensor([0.0, -0.0, 1.0, 65504.0, float("inf"), float("nan"), 6e-8], dtype=torch.float16),
        "bf16": torch.tensor([0.0, -1.0, 3.0e38, float("-inf"), 1e-40], dtype=torch.bfloat16),
        "i64": torch.tensor([-(2 ** 63), -1, 0, 2 ** 40, 2 ** 63 - 1], dtype=torch.int64),
        "i32": torch.tensor([-(2 ** 31), -1, 0, 2 ** 31 - 1], dtype=torch.int32),
        "i16": torch.tensor([-(2 ** 15), -1, 0, 2 ** 15 - 1], dtype=torch.int16),
        "i8": torch.tensor([-128, -1, 0, 127], dtype=torch.int8),
        "u8": torch.tensor([0, 1, 128, 255], dtype=torch.uint8),
        "bool": torch.tensor([[True, False], [False, True]]),
        "scalar": torch.tensor(7, dtype=torch.int64),
        "empty": torch.zeros(0, 3),
        "nested.name.with.dots": torch.arange(5, dtype=torch.int32),
    }
    return tensors


def safetensors_header(entries, metadata=None, pad=True):
    """A header written by hand, for files the package would refuse to write."""
    header = dict(entries)
    if metadata is not None:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text


def safetensors_cases(fx):
    fx.safetensors_file(
        "every_dtype.safetensors", every_dtype_tensors(), {"format": "pt", "note": "héllo"},
        "All ten dtypes (inf, nan, -0.0, subnormals, integer extremes), a scalar, an empty tensor, dotted names.")
    fx.safetensors_file(
        "resnet18.safetensors", seeded_resnet18().state_dict(), {"format": "pt"},
        "resnet18's state dict (10 classes), as a user would convert it.")

    good = (fx.out / "every_dtype.safetensors").read_bytes()
    fx.error("truncated.safetensors", good[:-3], ["outside the", "bytes of data"], "every_dtype.safetensors less its last 3 bytes.")
    fx.error("header_past_end.safetensors", good[:40], ["declares a header of"], "Cut inside the header.")
    fx.error("header_over_cap.safetensors", struct.pack("<Q", 200_000_000) + b"{}", ["more than the 100000000 allowed"],
             "A header length of 200 MB in a 10-byte file: refused before any allocation.")
    fx.error("header_huge.safetensors", struct.pack("<Q", 2 ** 60) + b"{}", ["more than the 100000000 allowed"],
             "A header length of 2**60.")
    eight = struct.pack("<2f", 1.0, 2.0)
    fx.error("overlapping.safetensors",
             safetensors_header({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                 "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}) + eight,
             ["overlaps"], "Two tensors share bytes 4..8.")
    fx.error("lying_shape.safetensors",
             safetensors_header({"a": {"dtype": "F32", "shape": [1000000, 1000000], "data_offsets": [0, 8]}}) + eight,
             ["does not take the 8 bytes"], "A shape of 10^12 elements over 8 bytes of data.")
    fx.error("out_of_bounds.safetensors",
             safetensors_header({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}) + eight,
             ["outside the 8 bytes of data"], "Offsets reaching past the end of the file.")
    fx.error("overflowing_shape.safetensors",
             safetensors_header({"a": {"dtype": "F64", "shape": [2 ** 40, 2 ** 40], "data_offsets": [0, 8]}}) + eight,
             ["does not take"], "A shape whose element count overflows 64 bits.")
    fx.error("unknown_dtype.safetensors",
             safetensors_header({"a": {"dtype": "F8_E4M3", "shape": [8], "data_offsets": [0, 8]}}) + eight,
             ["F8_E4M3"], "A float8 dtype PthKit does not read.")
    fx.error("hole.safetensors",
             safetensors_header({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}) + eight,
             ["belong to no tensor"], "Bytes 0..4 of the data belong to no tensor (the package refuses this too).")
    fx.error("not_json.safetensors", struct.pack("<Q", 8) + b"{nope!!}", ["not valid JSON"], "A header that is not JSON.")
    fx.error("metadata_not_text.safetensors",
             safetensors_header({"__metadata__": {"format": 1}}), ["__metadata__"], "A metadata value that is a number.")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path)
    out = parser.parse_args().out.resolve()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    fx = Fixtures(out)
    torchscript_cases(fx)
    safetensors_cases(fx)
    (out / "manifest.json").write_text(json.dumps({"cases": fx.cases}, indent=1, ensure_ascii=False), encoding="utf-8")
    print(f"{len(fx.cases)} cases in {out}")


if __name__ == "__main__":
    main()
