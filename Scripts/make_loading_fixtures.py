#!/usr/bin/env python3
"""Scenarios for load_state_dict, decided by PyTorch itself.

    make_loading_fixtures.py --out DIR

Each case saves a checkpoint, applies the same adapters PthKit offers (pick a key, strip a prefix,
drop mismatched shapes) in Python, calls torch's `load_state_dict` and records what it did: success or
the exact RuntimeError text, and the missing/unexpected key lists. DIR/cases.json lists them.
"""
import argparse
import collections
import json
import os
import pickletools

import numpy as np
import torch
import torchvision


def resnet18(**kwargs):
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None, **kwargs).eval()


def record(cases, out, name, checkpoint, model_name, model, *, args=None, key=None, strip_prefix=None,
           strict=True, drop_mismatched=False, save_kwargs=None):
    path = os.path.join(out, name + ".pth")
    torch.save(checkpoint, path, **(save_kwargs or {}))
    loaded = torch.load(path, weights_only=False)
    state_dict = loaded[key] if key else loaded
    if strip_prefix:
        stripped = collections.OrderedDict((k[len(strip_prefix):] if k.startswith(strip_prefix) else k, v)
                                           for k, v in state_dict.items())
        stripped._metadata = collections.OrderedDict(
            (k[len(strip_prefix):] if k.startswith(strip_prefix) else ("" if k + "." == strip_prefix else k), v)
            for k, v in getattr(state_dict, "_metadata", {}).items())
        state_dict = stripped
    dropped = []
    if drop_mismatched:
        shapes = {k: v.shape for k, v in model.state_dict().items()}
        kept = collections.OrderedDict()
        for k, v in state_dict.items():
            if k in shapes and shapes[k] != v.shape and not (len(shapes[k]) == 0 and tuple(v.shape) == (1,)):
                dropped.append(k)
            else:
                kept[k] = v
        kept._metadata = getattr(state_dict, "_metadata", None)
        if kept._metadata is None:
            del kept._metadata
        state_dict = kept
        strict = False
    expected = dict(ok=True, error=None, missing=[], unexpected=[], dropped=dropped)
    try:
        result = model.load_state_dict(state_dict, strict=strict)
        expected["missing"], expected["unexpected"] = list(result.missing_keys), list(result.unexpected_keys)
    except RuntimeError as error:
        expected["ok"], expected["error"] = False, str(error)
    cases.append(dict(name=name, file=name + ".pth", model=model_name, args=args or {}, key=key,
                      strip_prefix=strip_prefix, strict=strict, drop_mismatched=drop_mismatched,
                      expected=expected))
    return model


def legacy_storage_offset(path):
    """Where a legacy (non-zip) file's first storage's bytes start: after the magic number, protocol,
    system info, the object's pickle, the storage keys, and the storage's 8-byte element count."""
    with open(path, "rb") as handle:
        for _ in range(5):
            for _ in pickletools.genops(handle):  # walks to the pickle's STOP without running it
                pass
        return handle.tell() + 8


def misaligned_legacy_checkpoint(sd, path):
    """A training checkpoint holding `sd`, whose `arch` string is padded until the legacy file's
    storages start off a float boundary, as resnet50's do in torchvision's era of files (the file
    cannot then be read in place, and every float32 tensor is converted)."""
    for padding in range(4):
        checkpoint = {"arch": "resnet18" + " " * padding, "state_dict": sd}
        torch.save(checkpoint, path, _use_new_zipfile_serialization=False)
        if legacy_storage_offset(path) % 4:
            return checkpoint
    raise RuntimeError("no padding misaligns the legacy storages")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    out = parser.parse_args().out
    os.makedirs(out, exist_ok=True)
    cases = []
    source = resnet18()
    sd = source.state_dict()

    record(cases, out, "exact", sd, "resnet18", resnet18())
    record(cases, out, "legacy_format", sd, "resnet18", resnet18(),
           save_kwargs=dict(_use_new_zipfile_serialization=False))
    # Every float32 storage misaligned: converted into the parameters (on the compute threads).
    misaligned = misaligned_legacy_checkpoint(sd, os.path.join(out, "legacy_misaligned.pth"))
    record(cases, out, "legacy_misaligned", misaligned, "resnet18", resnet18(), key="state_dict",
           save_kwargs=dict(_use_new_zipfile_serialization=False))
    parallel = torch.nn.DataParallel(resnet18()).state_dict()
    record(cases, out, "dataparallel_strict", parallel, "resnet18", resnet18())
    record(cases, out, "dataparallel_stripped", parallel, "resnet18", resnet18(), strip_prefix="module.")
    optimizer = torch.optim.SGD(source.parameters(), lr=0.1, momentum=0.9)
    training = {"epoch": 4, "arch": "resnet18", "state_dict": sd, "best_acc1": 12.5, "optimizer": optimizer.state_dict(),
                "classes": [f"class {i}" for i in range(1000)]}
    record(cases, out, "training_checkpoint", training, "resnet18", resnet18(), key="state_dict")
    cases[-1]["labels"] = training["classes"]  # the checkpoint's own class names, for classify

    # Old checkpoints: no num_batches_tracked; filled when _metadata says version 1 or is absent,
    # reported missing when it says version 2.
    old = collections.OrderedDict((k, v) for k, v in sd.items() if not k.endswith("num_batches_tracked"))
    old._metadata = collections.OrderedDict((k, dict(v, version=1) if "bn" in k or "downsample.1" in k else v)
                                            for k, v in sd._metadata.items())
    record(cases, out, "old_batchnorm_version1", old, "resnet18", resnet18())
    no_metadata = collections.OrderedDict(old)  # a plain copy has no _metadata
    record(cases, out, "old_batchnorm_no_metadata", no_metadata, "resnet18", resnet18())
    v2 = collections.OrderedDict(old)
    v2._metadata = sd._metadata
    record(cases, out, "missing_batchnorm_counter_version2", v2, "resnet18", resnet18())

    extra = collections.OrderedDict(sd)
    extra._metadata = sd._metadata
    extra["fc.extra"] = torch.zeros(3)
    extra["stranger.weight"] = torch.zeros(2)
    extra["layer1.0.conv1.weight.alias"] = torch.zeros(1)
    del extra["layer4.1.bn2.running_var"]
    del extra["conv1.weight"]
    record(cases, out, "missing_and_unexpected_strict", extra, "resnet18", resnet18())
    record(cases, out, "missing_and_unexpected_nonstrict", extra, "resnet18", resnet18(), strict=False)

    record(cases, out, "head_5_classes_strict", sd, "resnet18", resnet18(num_classes=5), args={"num_classes": "5"})
    record(cases, out, "head_5_classes_nonstrict", sd, "resnet18", resnet18(num_classes=5), args={"num_classes": "5"},
           strict=False)
    head = record(cases, out, "head_5_classes_dropped", sd, "resnet18", resnet18(num_classes=5),
                  args={"num_classes": "5"}, drop_mismatched=True)
    # The head-swapped model's features (the input of fc) are the backbone's: PthKit must agree.
    generator = torch.Generator().manual_seed(3)
    x = torch.rand(2, 3, 64, 64, generator=generator)
    captured = {}
    head.fc.register_forward_hook(lambda module, inputs, output: captured.setdefault("features", inputs[0]))
    with torch.no_grad():
        head(x)
    np.save(os.path.join(out, "features_input.npy"), x.numpy())
    np.save(os.path.join(out, "features_expected.npy"), captured["features"].numpy())

    for dtype in [torch.float16, torch.bfloat16, torch.float64]:
        cast = collections.OrderedDict((k, v.to(dtype) if v.is_floating_point() else v) for k, v in sd.items())
        cast._metadata = sd._metadata
        record(cases, out, f"cast_{str(dtype).split('.')[-1]}", cast, "resnet18", resnet18())

    with open(os.path.join(out, "cases.json"), "w") as handle:
        json.dump(dict(cases=cases), handle, indent=1)


if __name__ == "__main__":
    main()
