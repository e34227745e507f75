"""Loads a checkpoint PthKit wrote with torch.load(weights_only=True) and prints what torch sees.

    check_written_checkpoint.py WRITTEN [--compare ORIGINAL [--key K] [--strip-prefix P ...] [--cast-float32]]

Prints one JSON line: {"value": <description>, "aligned": bool, "records": [...], "prefix": str} and,
with --compare, "equal" and the first "difference" against ORIGINAL as torch.load reads it (after
applying the same --key, --strip-prefix and --cast-float32 edits `pthkit convert` made).

A description is exact: tensors give dtype, shape and every element's bit pattern (as a signed
integer of the element's width), ints are decimal strings (so big ints survive JSON), floats their
IEEE bits; dicts say whether they are OrderedDicts and give `_metadata`.
"""
import argparse
import collections
import json
import struct
import sys
import zipfile

import torch

BITS_VIEW = {
    torch.float64: torch.int64, torch.float32: torch.int32, torch.float16: torch.int16,
    torch.bfloat16: torch.int16, torch.bool: torch.uint8,
}
DTYPE_NAMES = {
    torch.float32: "float32", torch.float64: "float64", torch.float16: "float16", torch.bfloat16: "bfloat16",
    torch.int64: "int64", torch.int32: "int32", torch.int16: "int16", torch.int8: "int8",
    torch.uint8: "uint8", torch.bool: "bool",
}


def describe(value, any_nan=False):
    """any_nan: every NaN is described alike (torch's own float16 -> float32 NaN bits depend on the code path)."""
    if isinstance(value, torch.Tensor):
        flat = value.detach().contiguous().reshape(-1)
        bits = flat.view(BITS_VIEW.get(flat.dtype, flat.dtype)).tolist()
        if any_nan and flat.is_floating_point():
            nans = torch.isnan(flat).tolist()
            bits = ["nan" if is_nan else b for b, is_nan in zip(bits, nans)]
        return {"type": "tensor", "dtype": DTYPE_NAMES[value.dtype], "shape": list(value.shape), "bits": bits}
    if isinstance(value, dict):
        result = {
            "type": "OrderedDict" if isinstance(value, collections.OrderedDict) else "dict",
            "items": [[describe(k, any_nan), describe(v, any_nan)] for k, v in value.items()],
        }
        metadata = getattr(value, "_metadata", None)
        if metadata is not None:
            result["metadata"] = {path: dict(fields) for path, fields in metadata.items()}
        return result
    if isinstance(value, (list, tuple)):
        return {"type": type(value).__name__, "items": [describe(v, any_nan) for v in value]}
    if value is None:
        return {"type": "None"}
    if isinstance(value, bool):
        return {"type": "bool", "value": value}
    if isinstance(value, int):
        return {"type": "int", "value": str(value)}
    if isinstance(value, float):
        return {"type": "float", "bits": struct.unpack("<q", struct.pack("<d", value))[0]}
    if isinstance(value, str):
        return {"type": "str", "value": value}
    if isinstance(value, bytes):
        return {"type": "bytes", "hex": value.hex()}
    raise TypeError(f"unexpected {type(value).__name__} in a written checkpoint")


def layout(path):
    """Record names (without the archive folder) and whether every record's data is 64-byte aligned."""
    with open(path, "rb") as handle:
        raw = handle.read()
    archive = zipfile.ZipFile(path)
    names, aligned = [], True
    prefix = archive.namelist()[0].split("/")[0]
    for info in archive.infolist():
        start = info.header_offset
        name_length, extra_length = struct.unpack("<HH", raw[start + 26:start + 30])
        data_offset = start + 30 + name_length + extra_length
        aligned = aligned and data_offset % 64 == 0 and info.compress_type == zipfile.ZIP_STORED
        names.append(info.filename[len(prefix) + 1:])
    return {"records": names, "aligned": aligned, "prefix": prefix,
            "byteorder": archive.read(f"{prefix}/byteorder").decode()}


def edited(original, key, strip_prefixes, cast):
    value = original
    for component in (key.split(".") if key else []):
        value = value[component]
    for prefix in strip_prefixes:
        renamed = collections.OrderedDict() if isinstance(value, collections.OrderedDict) else {}
        for k, v in value.items():
            renamed[k[len(prefix):] if isinstance(k, str) and k.startswith(prefix) else k] = v
        metadata = getattr(value, "_metadata", None)
        if metadata is not None:
            # As torch's consume_prefix_in_state_dict_if_present rewrites _metadata.
            dotted = prefix[:-1] if prefix.endswith(".") else prefix
            renamed._metadata = collections.OrderedDict(
                ("" if p == dotted else p[len(prefix):] if p.startswith(prefix) else p, f) for p, f in metadata.items())
        value = renamed
    if cast:
        value = cast_half(value)
    return value


def cast_half(value):
    if isinstance(value, torch.Tensor):
        return value.float() if value.dtype in (torch.float16, torch.bfloat16) else value
    if isinstance(value, dict):
        result = collections.OrderedDict() if isinstance(value, collections.OrderedDict) else {}
        for k, v in value.items():
            result[k] = cast_half(v)
        if hasattr(value, "_metadata"):
            result._metadata = value._metadata
        return result
    if isinstance(value, (list, tuple)):
        return type(value)(cast_half(v) for v in value)
    return value


def first_difference(a, b, path="$"):
    if type(a) is not type(b):
        return f"{path}: {a!r:.200} != {b!r:.200}"
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return f"{path}.{k}: present on one side only"
            found = first_difference(a[k], b[k], f"{path}.{k}")
            if found:
                return found
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items != {len(b)} items"
        for index, (x, y) in enumerate(zip(a, b)):
            found = first_difference(x, y, f"{path}[{index}]")
            if found:
                return found
        return None
    return None if a == b else f"{path}: {a!r:.200} != {b!r:.200}"


def check(written, compare=None, key=None, strip_prefix=(), cast_float32=False):
    loaded = torch.load(written, weights_only=True)
    result = {"value": describe(loaded), **layout(written)}
    if compare:
        original = edited(torch.load(compare, weights_only=False), key, list(strip_prefix), cast_float32)
        ours, theirs = describe(loaded, cast_float32), describe(original, cast_float32)
        result["difference"] = first_difference(ours, theirs)
        result["equal"] = result["difference"] is None
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("written", nargs="?")
    parser.add_argument("--compare")
    parser.add_argument("--key")
    parser.add_argument("--strip-prefix", action="append", default=[])
    parser.add_argument("--cast-float32", action="store_true")
    parser.add_argument("--pairs", help="a JSON list of {written, compare}: checks them all in one process")
    args = parser.parse_args()

    if args.pairs:
        with open(args.pairs) as handle:
            pairs = json.load(handle)
        results = {}
        for pair in pairs:
            checked = check(pair["written"], pair["compare"])
            results[pair["written"]] = {k: checked[k] for k in ("equal", "difference", "aligned")}
        print(json.dumps({"results": results}))
        return
    print(json.dumps(check(args.written, args.compare, args.key, args.strip_prefix, args.cast_float32)))


if __name__ == "__main__":
    sys.exit(main())
