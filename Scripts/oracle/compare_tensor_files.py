"""Compares the tensors of two files as PyTorch's own readers see them, bit for bit.

    compare_tensor_files.py WRITTEN ORIGINAL

Each file is read by content: a zip through torch.load(weights_only=True) (a TorchScript archive through
torch.jit.load(...).state_dict()), anything else through safetensors.torch.load_file. Nested dicts
become dotted keys. Prints one JSON line: {"equal": bool, "difference": str|null, "count": int,
"metadata": {...}|null} where metadata is WRITTEN's safetensors metadata.
"""
import json
import sys
import zipfile

import safetensors
import safetensors.torch
import torch


def flatten(value, prefix=""):
    if isinstance(value, torch.Tensor):
        return {prefix: value}
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            result.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return result
    raise TypeError(f"{prefix or 'the top level'} is a {type(value).__name__}")


def read(path):
    if zipfile.is_zipfile(path):
        names = zipfile.ZipFile(path).namelist()
        if any(name.endswith("/constants.pkl") for name in names):
            return flatten(dict(torch.jit.load(path).state_dict())), None
        return flatten(torch.load(path, weights_only=True)), None
    with safetensors.safe_open(path, "pt") as opened:
        metadata = opened.metadata()
    return flatten(safetensors.torch.load_file(path)), metadata


def bits(tensor):
    flat = tensor.detach().contiguous().reshape(-1)
    view = {torch.float64: torch.int64, torch.float32: torch.int32, torch.float16: torch.int16,
            torch.bfloat16: torch.int16, torch.bool: torch.uint8}.get(flat.dtype, flat.dtype)
    return flat.view(view)


def difference(written, original):
    if sorted(written) != sorted(original):
        return f"keys differ: only written {sorted(set(written) - set(original))[:5]}, only original {sorted(set(original) - set(written))[:5]}"
    for key, tensor in original.items():
        other = written[key]
        if other.dtype != tensor.dtype or other.shape != tensor.shape:
            return f"{key}: {other.dtype}{list(other.shape)} written, {tensor.dtype}{list(tensor.shape)} original"
        if not torch.equal(bits(other), bits(tensor)):
            return f"{key}: values differ"
    return None


def main():
    written, metadata = read(sys.argv[1])
    original, _ = read(sys.argv[2])
    found = difference(written, original)
    print(json.dumps({"equal": found is None, "difference": found, "count": len(written), "metadata": metadata}))


if __name__ == "__main__":
    main()
