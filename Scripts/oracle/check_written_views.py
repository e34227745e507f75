"""Checks that a checkpoint PthKit wrote keeps the original's tensor views as torch.save keeps them.

    check_written_views.py WRITTEN ORIGINAL

Both files are read with torch.load(weights_only=True). For every tensor (by dotted key) the written
one must have the original's dtype, shape, strides and storage offset, and a storage holding the
same bytes; and tensors must share storages exactly as the original's do (an expanded view stays a
stride-0 view of its one small storage, two views of one storage still share it). Comparing storages
and strides instead of values keeps an expanded [2**30] view cheap to check.

Prints one JSON line: {"equal": bool, "difference": str or null, "tensors": n}.
"""
import json
import sys

import torch


def tensors(value, prefix=""):
    if isinstance(value, torch.Tensor):
        yield prefix, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from tensors(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from tensors(item, f"{prefix}.{index}" if prefix else str(index))


def describe(path):
    found = dict(tensors(torch.load(path, weights_only=True)))
    groups = {}
    for key, tensor in found.items():
        groups.setdefault(tensor.untyped_storage().data_ptr(), []).append(key)
    sharing = sorted(sorted(keys) for keys in groups.values())
    return found, sharing


def first_difference(written_path, original_path):
    written, written_sharing = describe(written_path)
    original, original_sharing = describe(original_path)
    if sorted(written) != sorted(original):
        return f"keys {sorted(written)[:10]} != {sorted(original)[:10]}", len(original)
    for key, expected in original.items():
        got = written[key]
        for what in ("dtype", "shape"):
            if getattr(got, what) != getattr(expected, what):
                return f"{key}: {what} {getattr(got, what)} != {getattr(expected, what)}", len(original)
        if got.numel() == 0:
            continue
        if got.stride() != expected.stride() or got.storage_offset() != expected.storage_offset():
            return (f"{key}: strides {got.stride()} offset {got.storage_offset()} != "
                    f"{expected.stride()} offset {expected.storage_offset()}"), len(original)
        if bytes(got.untyped_storage()) != bytes(expected.untyped_storage()):
            return f"{key}: storage bytes differ", len(original)
    if written_sharing != original_sharing:
        return f"storage sharing {written_sharing} != {original_sharing}", len(original)
    return None, len(original)


def main():
    difference, count = first_difference(sys.argv[1], sys.argv[2])
    print(json.dumps({"equal": difference is None, "difference": difference, "tensors": count}))


if __name__ == "__main__":
    main()
