#!/usr/bin/env python3
"""Writes the checkpoint fixtures PthKit's loader tests compare against.

    python Scripts/make_checkpoint_fixtures.py --out Tests/Fixtures/checkpoints

DIR is recreated: one small file per case plus DIR/manifest.json, DIR/README.md and
DIR/generator.sha256 (the sha256 of this script, so the test runner knows when to rerun it).

manifest.json holds {"cases": [...]}; each case is one of
  {"file", "expect": "ok", "listing", "metadata", "notes"[, "must_not_create"]}
  {"file", "expect": "error", "error_contains": [...], "notes"[, "must_not_create"]}
where "listing" is exactly what `pthkit inspect FILE --json` must print.

torch is the oracle: a listing is computed from what torch.load returns for the file as written,
never from the objects that were saved. Hostile files (pickles that would run a command if Python
unpickled them) are never unpickled here: they are only disassembled with pickletools, and their
listings come from a twin file in which every payload is replaced by None.
"""

import argparse
import collections
import datetime
import hashlib
import io
import json
import os
import pickle
import pickletools
import random
import re
import shutil
import struct
import sys
import tarfile
import tempfile
import warnings
import zipfile
from contextlib import contextmanager, nullcontext
from functools import lru_cache
from pathlib import Path
from unittest import mock

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch._sources import get_source_lines_and_file

SCRIPT = Path(__file__).resolve()
FORMATS = ("zip", "legacy")

# The dtypes PthKit reads: name in the listing, numpy spelling of its little-endian bytes, and the
# storage class torch pickles for it (`torch.FloatStorage`, ...).
DTYPES = {
    torch.float32: ("float32", "<f4", "FloatStorage"),
    torch.float64: ("float64", "<f8", "DoubleStorage"),
    torch.float16: ("float16", "<f2", "HalfStorage"),
    torch.bfloat16: ("bfloat16", "<i2", "BFloat16Storage"),  # numpy has no bfloat16: hash its bits
    torch.int64: ("int64", "<i8", "LongStorage"),
    torch.int32: ("int32", "<i4", "IntStorage"),
    torch.int16: ("int16", "<i2", "ShortStorage"),
    torch.int8: ("int8", "i1", "CharStorage"),
    torch.uint8: ("uint8", "u1", "ByteStorage"),
    torch.bool: ("bool", "?", "BoolStorage"),
}

# Element size by the storage class a pickle names, for reading the legacy data section.
STORAGE_ELEMENT_SIZES = {f"torch {cls}": dtype.itemsize for dtype, (_, _, cls) in DTYPES.items()}

# What legacy files (and torch.load of them) start with; see torch/serialization.py `_legacy_save`.
LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL_VERSION = 1001


# ---------------------------------------------------------------------------------------------
# The listing: what `pthkit inspect --json` must print, computed from torch.load's result.
# ---------------------------------------------------------------------------------------------


def tensor_sha256(tensor):
    """sha256 of the logical values as contiguous little-endian row-major bytes (bool: one byte)."""
    flat = tensor.detach().reshape(-1).contiguous()
    if flat.dtype == torch.bfloat16:
        flat = flat.view(torch.int16)
    numpy_dtype = DTYPES[tensor.dtype][1]
    return hashlib.sha256(flat.numpy().astype(numpy_dtype, copy=False).tobytes()).hexdigest()


def tensor_entries(value, path=()):
    """(key, tensor) in the order torch's pickle holds them. Dicts (insertion order), lists and tuples
    are walked; a whole nn.Module contributes its state_dict(); every other object is opaque, so
    tensors inside it are not listed (PthKit keeps unknown objects inert and skips them)."""
    if isinstance(value, torch.Tensor):
        yield ".".join(path), value
    elif type(value) in (dict, collections.OrderedDict):
        for key, item in value.items():
            yield from tensor_entries(item, path + (path_component(key),))
    elif type(value) in (list, tuple):
        for index, item in enumerate(value):
            yield from tensor_entries(item, path + (str(index),))
    elif isinstance(value, nn.Module):
        for key, item in value.state_dict().items():
            yield ".".join(path + (key,)), item


def path_component(key):
    if type(key) is str:
        return key
    if type(key) is int:
        return str(key)
    raise TypeError(f"fixture uses a dict key PthKit has no path spelling for: {key!r}")


def state_dict_metadata(value, path=()):
    """{"<path of the dict>": {prefix: {"version": n}}} for every dict carrying `_metadata`. A pickled
    module carries none in the file (state_dict() makes it up on the fly), so modules are not entered."""
    found = {}
    if type(value) in (dict, collections.OrderedDict):
        metadata = getattr(value, "_metadata", None)
        if metadata is not None:
            found[".".join(path)] = {prefix: dict(entry) for prefix, entry in metadata.items()}
        for key, item in value.items():
            found.update(state_dict_metadata(item, path + (path_component(key),)))
    elif type(value) in (list, tuple):
        for index, item in enumerate(value):
            found.update(state_dict_metadata(item, path + (str(index),)))
    return found


def container_of(path):
    """("zip" | "legacy", "little" | "big") as the file declares it. Legacy storages are always
    little-endian on disk whatever the writer was: THPStorage_writeFileRaw converts them, and
    torch.load ignores sys_info's `little_endian`."""
    if not zipfile.is_zipfile(path):
        return "legacy", "little"
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        prefix = names[0].split("/", 1)[0]
        record = f"{prefix}/byteorder"
        return "zip", archive.read(record).decode() if record in names else "little"


def torch_load(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.load(path, map_location="cpu", weights_only=False)


def listing_of(path, loaded):
    file_format, byteorder = container_of(path)
    tensors = [
        {"key": key, "dtype": DTYPES[t.dtype][0], "shape": list(t.shape), "sha256": tensor_sha256(t)}
        for key, t in tensor_entries(loaded)
    ]
    return {"format": file_format, "byteorder": byteorder, "tensors": tensors}


# ---------------------------------------------------------------------------------------------
# What gets saved: tiny modules and tensors. Classes live at module level so torch.save(model)
# can pickle them (as `__main__.<Name>`, like any training script's model).
# ---------------------------------------------------------------------------------------------


class TinyNet(nn.Module):
    """conv -> batchnorm -> relu -> mean -> linear: every kind of state_dict entry (weights, biases,
    BatchNorm running stats and the int64 num_batches_tracked) in a few hundred bytes."""

    def __init__(self, classes=3):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 2, 3, bias=False), nn.BatchNorm2d(2), nn.ReLU())
        self.classifier = nn.Linear(2, classes)

    def forward(self, x):
        return self.classifier(self.features(x).mean((2, 3)))


class TiedLM(nn.Module):
    """An embedding and an output layer sharing one weight, as language models do."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(5, 3)
        self.head = nn.Linear(3, 5, bias=False)
        self.head.weight = self.embed.weight


class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.fc = nn.Linear(width, width)
        self.gate = nn.Linear(width, width, bias=False)  # `bias` stays in _parameters as None
        self.register_buffer("running_scale", torch.ones(width))
        self.register_buffer("scratch", torch.zeros(width), persistent=False)  # not in state_dict


class TinyModel(nn.Module):
    """For torch.save(model): nested submodules, a None parameter and buffer, a non-persistent buffer."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor([0.5, 2.0]))
        self.register_buffer("steps", torch.tensor(7))
        self.register_buffer("unset", None)
        self.first = Block(2)
        self.second = Block(2)
        self.head = nn.Linear(2, 1)


class RunInfo:
    """A user class: on no allowlist, so PthKit keeps it as an inert object, tensor inside included."""

    def __init__(self, name, best):
        self.name = name
        self.best = best


class TouchFile:
    """The classic pickle attack: unpickling calls os.system. Only ever pickled here, never loaded."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def dtype_vectors():
    """One vector per dtype, with the values that catch byte-order and bit-pattern mistakes."""
    floats = [0.0, -0.0, 1.5, -2.25, float("inf"), float("-inf"), float("nan")]
    return {
        "float32": torch.tensor(floats + [1e-45, 3.4e38], dtype=torch.float32),
        "float64": torch.tensor(floats + [5e-324, 1.7e308, 0.1], dtype=torch.float64),
        "float16": torch.tensor(floats + [6e-8, 65504.0], dtype=torch.float16),
        "bfloat16": torch.tensor(floats + [1e-40, 3.3e38], dtype=torch.bfloat16),
        "int64": torch.tensor([0, 1, -1, 2**63 - 1, -(2**63), 1 << 40], dtype=torch.int64),
        "int32": torch.tensor([0, 1, -1, 2**31 - 1, -(2**31), 1 << 20], dtype=torch.int32),
        "int16": torch.tensor([0, 1, -1, 2**15 - 1, -(2**15), 258], dtype=torch.int16),
        "int8": torch.tensor([0, 1, -1, 127, -128], dtype=torch.int8),
        "uint8": torch.tensor([0, 1, 127, 128, 255], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True, True], dtype=torch.bool),
    }


def dtype_examples():
    vectors = dtype_vectors()
    return {
        "vector": vectors,
        "scalar": {name: v[2].clone() for name, v in vectors.items()},  # 0-d, own storage
        "empty": {name: v[:0].clone() for name, v in vectors.items()},  # shape [0], empty storage
        "empty_3x0": {name: torch.empty(3, 0, dtype=v.dtype) for name, v in vectors.items()},
        "matrix": torch.randn(2, 3),
        "cube": torch.randint(-100, 100, (2, 3, 4), dtype=torch.int32),
    }


def view_examples():
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    shared = torch.randn(5)
    return {
        "base": base,
        "transposed": base.t(),
        "block": base[1:3, 2:5],  # storage offset 8, strides (6, 1)
        "every_other": base[::2, ::3],  # strides (12, 3)
        "row": base[2],
        "column": base[:, 5],
        "element": base[1, 1],  # 0-d view at offset 7
        "expanded": torch.arange(3, dtype=torch.int32).expand(4, 3),  # strides (0, 1)
        "broadcast_scalar": torch.tensor(7.0, dtype=torch.float64).expand(2, 2),  # strides (0, 0)
        "channels_last": torch.randn(1, 3, 2, 2).contiguous(memory_format=torch.channels_last),
        "slice_of_unsaved": torch.arange(40, dtype=torch.int16)[30:33],  # all 40 elements are stored
        "same_object_a": shared,
        "same_object_b": shared,  # the pickle memo hands back the first tensor
        "tied": TiedLM().state_dict(),  # two tensor objects, one storage
    }


def container_examples():
    return {
        "list_top": [
            torch.arange(3), torch.ones(2, 2, dtype=torch.float16), {"inner": torch.tensor([True, False])}, "text", 4
        ],
        "tuple_top": (torch.arange(2.0), (torch.zeros(1, dtype=torch.int8), torch.tensor(3)), None),
        "tensor_top": torch.randn(2, 3, dtype=torch.float64),
        "nested": {
            "a": [torch.randn(2), {"b": (torch.arange(4, dtype=torch.int16).reshape(2, 2), 1)}],
            7: torch.tensor([7]),
            -1: torch.tensor([-1.0]),
            "deep": {"x": {"y": [[torch.ones(1, dtype=torch.uint8)]]}},
            "empty_list": [],
            "empty_dict": {},
            "none": None,
            "after": torch.zeros(2, dtype=torch.bfloat16),
        },
    }


def tensor_rebuild_examples():
    """Every way torch pickles a plain CPU tensor: _rebuild_tensor_v2 (requires_grad both ways),
    _rebuild_parameter, _rebuild_parameter_with_state, _rebuild_from_type_v2."""
    parameter_with_attribute = nn.Parameter(torch.randn(2))
    parameter_with_attribute.lr_scale = 0.5
    tensor_with_attribute = torch.randn(3)
    tensor_with_attribute.calibrated = True
    return {
        "requires_grad": torch.ones(2, requires_grad=True),
        "parameter": nn.Parameter(torch.randn(2, 2)),
        "frozen_parameter": nn.Parameter(torch.randn(2), requires_grad=False),
        "parameter_with_attribute": parameter_with_attribute,
        "tensor_with_attribute": tensor_with_attribute,
    }


def trained_tiny_net():
    """TinyNet after one SGD step in train mode: BatchNorm stats moved, momentum buffers exist."""
    model = TinyNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    images, labels = torch.randn(4, 1, 5, 5), torch.tensor([0, 1, 2, 0])
    F.cross_entropy(model(images), labels).backward()
    optimizer.step()
    return model, optimizer


def training_checkpoint():
    model, optimizer = trained_tiny_net()
    return {
        "epoch": 3,
        "arch": "tiny",
        "state_dict": model.state_dict(),
        "optimizer": optimizer.state_dict(),  # state keyed by int parameter index
        "best_acc1": torch.tensor(71.2),
        "lr": 0.1,
        "history": [1, 2.5, None, (1, "a")],
    }


def inert_globals_checkpoint():
    model, _ = trained_tiny_net()
    return {
        "args": argparse.Namespace(arch="tiny", lr=0.1, epochs=3, data="/data/imagenet", seed=None),
        "state_dict": model.state_dict(),
        "np_scalar": np.float64(0.5),
        "np_array": np.arange(6, dtype=np.float32).reshape(2, 3),
        "counts": collections.defaultdict(int, {"cat": 2, "dog": 1}),  # REDUCE, then SETITEMS on it
        "run": RunInfo("tiny-run", best=torch.tensor([1.5])),
        "saved_at": datetime.datetime(2024, 1, 2, 3, 4, 5),
        "dtype": torch.float16,
        "device": torch.device("cpu"),
        "last": torch.tensor([1, 2, 3]),
    }


def whole_model():
    model = TinyModel()
    with torch.no_grad():
        for index, tensor in enumerate(model.state_dict().values()):
            tensor.copy_(torch.arange(tensor.numel()).reshape(tensor.shape) + index)
    return model


# ---------------------------------------------------------------------------------------------
# Writing with torch, and making its output reproducible.
# ---------------------------------------------------------------------------------------------


def torch_save(obj, path, fmt, protocol=2):
    if fmt == "zip":
        torch.save(obj, path, pickle_protocol=protocol)
    else:
        torch.save(obj, path, pickle_protocol=protocol, _use_new_zipfile_serialization=False)
        make_legacy_reproducible(path, obj)


def make_legacy_reproducible(path, obj):
    """Legacy files name storages by C pointer (`str(storage._cdata)`), write them sorted by that
    name, and for pickled modules embed the absolute path of each class's source file; all of it
    changes from run to run or machine to machine. Rename the storages to pointer-like keys in order
    of first use, write them in that (still sorted) order, and make the source paths relative.
    Everything else stays byte for byte what torch wrote. Works from disassembly alone, since some
    of these files are hostile."""
    data = Path(path).read_bytes()
    spans = legacy_pickle_spans(data)
    main, key_list = data[slice(*spans[3])], data[slice(*spans[4])]
    protocol = next(pickletools.genops(key_list))[1]  # the list starts with PROTO
    storage_types = legacy_storage_types(main)  # in order of first use
    sections, position = {}, spans[4][1]
    for key in pickle_strings(key_list):
        count = struct.unpack_from("<q", data, position)[0]
        end = position + 8 + count * STORAGE_ELEMENT_SIZES[storage_types[key]]
        sections[key], position = data[position:end], end
    assert position == len(data), f"{path}: storages do not fill the file"

    renamed = {key: storage_key("legacy", index) for index, key in enumerate(storage_types)}
    renamed.update(source_paths(obj))
    Path(path).write_bytes(
        data[: spans[3][0]]
        + rewrite_pickle_strings(main, renamed)
        + pickle.dumps([renamed[key] for key in storage_types], protocol=protocol)
        + b"".join(sections[key] for key in storage_types))


def pickle_strings(pickled):
    return [argument for opcode, argument, _ in pickletools.genops(pickled) if opcode.name.endswith("UNICODE")]


def legacy_storage_types(main_pickle):
    """{storage key: 'torch FloatStorage', ...} in order of first use, from the persistent ids
    ('storage', type, key, location, numel, view_metadata). The ids are flat tuples, so the last
    MARK before each one's TUPLE opens it."""
    items, pid, found = [], None, {}
    for name, value in resolved_opcodes(main_pickle):
        if name == "MARK":
            items = []
        elif name == "TUPLE":
            pid = tuple(items)
        elif name == "BINPERSID" and pid and pid[0] == "storage":
            found.setdefault(pid[2], pid[1])
        elif name == "STACK_GLOBAL":
            items[-2:] = [value]
        else:
            items.append(value)
    return found


class Global(str):
    """A global a pickle names, spelled 'module name'."""


def resolved_opcodes(pickled):
    """(opcode name, value it pushes) with memo gets and STACK_GLOBALs resolved to the strings and
    globals they stand for (other values as None): enough to read names out of a pickle without
    unpickling it."""
    memo, value, strings = {}, None, []
    for opcode, argument, _ in pickletools.genops(pickled):
        name = opcode.name
        if name in ("BINPUT", "LONG_BINPUT", "MEMOIZE"):
            memo[len(memo) if name == "MEMOIZE" else argument] = value
            continue
        if name in ("BINGET", "LONG_BINGET"):
            value = memo.get(argument)
        elif name in ("GLOBAL", "INST"):
            value = Global(argument)
        elif name == "STACK_GLOBAL":
            value = Global(" ".join(strings[-2:]))
        elif opcode.arg is None or name in ("PROTO", "FRAME"):
            value = None
        else:
            value = argument
        if type(value) is str:
            strings.append(value)
        yield name, value


def legacy_pickle_spans(data):
    """(start, end) of the five pickles a legacy file starts with: magic number, protocol version,
    sys_info, the object, the storage key list. The raw storages follow the last one."""
    spans, start = [], 0
    for _ in range(5):
        end = start + pickle_length(data[start:])
        spans.append((start, end))
        start = end
    return spans


def pickle_length(data):
    for opcode, _, position in pickletools.genops(data):
        if opcode.name == "STOP":
            return position + 1
    raise ValueError("pickle without STOP")


def source_paths(obj):
    """{source file torch recorded for each module class in obj: the same path, machine-independent}."""
    site_packages = Path(torch.__file__).resolve().parent.parent
    found = {}
    for module in modules_in(obj):
        for submodule in module.modules():
            recorded = get_source_lines_and_file(type(submodule))[2]
            resolved = Path(recorded).resolve()
            if resolved == SCRIPT:
                found[recorded] = "Scripts/" + SCRIPT.name
            elif site_packages in resolved.parents:
                found[recorded] = "site-packages/" + str(resolved.relative_to(site_packages))
    return found


def modules_in(value):
    if isinstance(value, nn.Module):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from modules_in(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from modules_in(item)


def rewrite_pickle_strings(data, replacements):
    """The same pickle with some string constants replaced; FRAME lengths (protocol 4+) follow."""
    opcodes = list(pickletools.genops(data))
    out = bytearray()
    frame = None  # [bytes of the original frame still to come, the rewritten frame so far]
    for index, (opcode, argument, position) in enumerate(opcodes):
        end = opcodes[index + 1][2] if index + 1 < len(opcodes) else position + 1
        raw = data[position:end]
        if opcode.name == "FRAME":
            frame = [argument, bytearray()]
            continue
        if opcode.name in ("SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8") and argument in replacements:
            raw = unicode_opcode(replacements[argument], short=opcode.name == "SHORT_BINUNICODE")
        if frame is None:
            out += raw
            continue
        frame[1] += raw
        frame[0] -= end - position
        if frame[0] == 0:
            out += pickle.FRAME + struct.pack("<Q", len(frame[1])) + frame[1]
            frame = None
    return bytes(out)


def unicode_opcode(text, short=False):
    encoded = text.encode("utf-8")
    if short and len(encoded) < 256:
        return pickle.SHORT_BINUNICODE + bytes([len(encoded)]) + encoded
    return pickle.BINUNICODE + struct.pack("<I", len(encoded)) + encoded


@contextmanager
def pretend_big_endian_host():
    """torch.save asks sys.byteorder what to record: zip files get a `byteorder` record, legacy files
    a sys_info `little_endian` flag. Storage bytes are whatever is in memory (zip) or always
    little-endian (legacy, converted in C++), so this is exactly what a big-endian host writes as long
    as zip tensors hold big-endian bytes."""
    with mock.patch.object(sys, "byteorder", "big"):
        yield


def byteswap_storages_in_place(obj):
    swapped = set()
    for _, tensor in tensor_entries(obj):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in swapped:
            swapped.add(storage.data_ptr())
            storage.byteswap(tensor.dtype)


# ---------------------------------------------------------------------------------------------
# Zip archives: torch's records re-packed, or written from scratch.
# ---------------------------------------------------------------------------------------------


def read_zip_records(path):
    """(prefix, [(name without prefix, bytes)]) in archive order."""
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        prefix = infos[0].filename.split("/", 1)[0]
        return prefix, [(info.filename[len(prefix) + 1 :], archive.read(info)) for info in infos]


def write_zip(path, records, prefix, compression=zipfile.ZIP_STORED, zip64=False):
    """A reproducible zip (fixed timestamps) of `prefix/name` records."""
    with zip64_everywhere() if zip64 else nullcontext(), zipfile.ZipFile(path, "w") as archive:
        for name, data in records:
            info = zipfile.ZipInfo(f"{prefix}/{name}", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = compression
            with archive.open(info, "w", force_zip64=zip64) as entry:
                entry.write(data)


@contextmanager
def zip64_everywhere():
    """zipfile only writes zip64 central-directory fields and the zip64 end record past 2 GiB (and
    force_zip64 only affects local headers); lowering its limit gives a small archive that uses them
    all, as torch's writer does for huge checkpoints."""
    with mock.patch.object(zipfile, "ZIP64_LIMIT", 0):
        yield


def rezip(source, destination, prefix=None, compression=zipfile.ZIP_STORED, zip64=False, edit=None):
    """Re-pack torch's records under `prefix` (by default the destination's stem, as torch.save
    would name them), optionally compressed, zip64, or edited by edit(records) -> records."""
    _, records = read_zip_records(source)
    if edit:
        records = edit(records)
    write_zip(destination, records, prefix or Path(destination).stem, compression, zip64)


def torch_zip_records(data_pkl, storages, byteorder="little"):
    """The records torch.save writes, in its order (torch.load does not need .data/serialization_id)."""
    records = [("data.pkl", data_pkl), (".format_version", b"1"), (".storage_alignment", b"64")]
    records.append(("byteorder", byteorder.encode()))
    records += [(f"data/{key}", data) for key, data in storages.items()]
    records.append(("version", b"3\n"))
    return records


# ---------------------------------------------------------------------------------------------
# Hand-made pickles, for what torch cannot be asked to write.
# ---------------------------------------------------------------------------------------------


class RawGlobal:
    """`module.name` as GLOBAL (STACK_GLOBAL from protocol 4), importable here or not."""

    def __init__(self, module, name):
        self.module, self.name = module, name

    def __call__(self, *args):  # pickle requires REDUCE targets to be callable
        raise TypeError("fixture objects are only ever pickled")


@lru_cache(maxsize=None)
def raw_global(module, name):
    return RawGlobal(module, name)  # one object per name, so the pickle memo shares it like torch's


class Call:
    """func(*args), pickled as func, args, REDUCE."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)

    __call__ = RawGlobal.__call__


class ModuleClass:
    """A legacy file's persistent id for a module class: ('module', cls, source_file, source)."""

    def __init__(self, cls):
        self.cls = cls

    __call__ = RawGlobal.__call__


class RawStorage:
    """A storage record: `data` bytes, and the element count the pickle claims (by default the truth)."""

    def __init__(self, key, dtype, data, numel=None, storage_type=None):
        self.key, self.dtype, self.data = key, dtype, data
        self.numel = len(data) // dtype.itemsize if numel is None else numel
        self.storage_type = storage_type or raw_global("torch", DTYPES[dtype][2])


def tensor_bytes(tensor):
    """A contiguous tensor's storage bytes as this (little-endian) host holds them."""
    return tensor.contiguous().view(torch.uint8).numpy().tobytes() if tensor.numel() else b""


class RawTensor:
    """_rebuild_tensor_v2(storage, offset, size, stride, requires_grad, OrderedDict()), as torch
    pickles a tensor, with whatever geometry the case needs."""

    def __init__(self, storage, size, stride, offset=0):
        self.storage, self.size, self.stride, self.offset = storage, tuple(size), tuple(stride), offset

    def __reduce__(self):
        rebuild = raw_global("torch._utils", "_rebuild_tensor_v2")
        return (rebuild, (self.storage, self.offset, self.size, self.stride, False, collections.OrderedDict()))


class FixturePickler(pickle._Pickler):  # the pure-Python pickler, whose dispatch table we can extend
    dispatch = pickle._Pickler.dispatch.copy()

    def __init__(self, file, protocol, legacy):
        super().__init__(file, protocol)
        self.legacy = legacy
        self.storages = {}

    def persistent_id(self, obj):
        if isinstance(obj, RawStorage):
            self.storages.setdefault(obj.key, obj)
            pid = ("storage", obj.storage_type, obj.key, "cpu", obj.numel)
            return pid + (None,) if self.legacy else pid  # legacy adds view_metadata, always None
        if isinstance(obj, ModuleClass):
            return ("module", obj.cls, None, None)
        return None

    def save_raw_global(self, obj):
        if self.proto >= 4:
            self.save(obj.module)
            self.save(obj.name)
            self.write(pickle.STACK_GLOBAL)
        else:
            self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
        self.memoize(obj)

    dispatch[RawGlobal] = save_raw_global


def fixture_pickle(obj, legacy=False, protocol=2):
    """(pickle bytes, {key: RawStorage} in first-use order)."""
    buffer = io.BytesIO()
    pickler = FixturePickler(buffer, protocol, legacy)
    pickler.dump(obj)
    return buffer.getvalue(), pickler.storages


def legacy_file_bytes(main_pickle, storages):
    """The legacy layout around a main pickle: magic number, protocol version and sys_info pickles,
    the main pickle, the storage key list, then per storage an int64 element count and the bytes."""
    sys_info = {
        "protocol_version": LEGACY_PROTOCOL_VERSION,
        "little_endian": True,
        "type_sizes": {"short": 2, "int": 4, "long": 4},
    }
    out = bytearray()
    for value in (LEGACY_MAGIC_NUMBER, LEGACY_PROTOCOL_VERSION, sys_info):
        out += pickle.dumps(value, protocol=2)
    out += main_pickle
    out += pickle.dumps([storage.key for storage in storages], protocol=2)
    for storage in storages:
        out += struct.pack("<q", len(storage.data) // storage.dtype.itemsize) + storage.data
    return bytes(out)


def write_handmade(path, obj, fmt, protocol=2, compression=zipfile.ZIP_STORED):
    pickled, storages = fixture_pickle(obj, legacy=fmt == "legacy", protocol=protocol)
    write_container(path, pickled, fmt, list(storages.values()), compression)


def write_container(path, main_pickle, fmt, storages=(), compression=zipfile.ZIP_STORED):
    if fmt == "zip":
        records = torch_zip_records(main_pickle, {s.key: s.data for s in storages})
        write_zip(path, records, Path(path).stem, compression)
    else:
        Path(path).write_bytes(legacy_file_bytes(main_pickle, storages))


def storage_key(fmt, index):
    """Keys as torch writes them: an index in zip files, a pointer in legacy ones."""
    return str(index) if fmt == "zip" else str(0x7F3A_0000_0000 + 0x40 * index)


def opcodes(*parts):
    """Raw pickle bytes from opcodes (pickle.X constants) and their already-encoded arguments."""
    return b"".join(parts)


def u64(number):
    return struct.pack("<Q", number)


# ---------------------------------------------------------------------------------------------
# The fixture set: files plus their manifest entries.
# ---------------------------------------------------------------------------------------------


class FixtureSet:
    def __init__(self, out, scratch):
        self.out, self.scratch = Path(out), Path(scratch)
        self.cases = []
        self.torch_disagrees = []  # error cases torch.load accepts, reported at the end

    def path(self, file):
        return self.out / file

    def twin_path(self, file):
        return self.scratch / file

    # -- recording cases --

    def ok(self, file, notes, listing_from=None, must_not_create=None):
        """A file that must load. Its listing is what torch.load returns for it, or, for a hostile
        file, for `listing_from`: a twin with every payload replaced by None."""
        if must_not_create and not listing_from:
            raise ValueError(f"{file}: a hostile file's listing must come from a twin")
        loaded = torch_load(listing_from or self.path(file))
        listing = listing_of(self.path(file), loaded)
        metadata = state_dict_metadata(loaded)
        self.add({"file": file, "expect": "ok", "listing": listing, "metadata": metadata, "notes": notes}, must_not_create)
        return listing

    def ok_without_tensors(self, file, notes, must_not_create):
        """A hostile file that is still a well-formed checkpoint but holds no tensors."""
        file_format, byteorder = container_of(self.path(file))
        listing = {"format": file_format, "byteorder": byteorder, "tensors": []}
        self.add({"file": file, "expect": "ok", "listing": listing, "metadata": {}, "notes": notes}, must_not_create)

    def error(self, file, error_contains, notes, must_not_create=None):
        # The loader's message names the file, so a substring the path contains would prove nothing.
        shown_path = f"Tests/Fixtures/checkpoints/{file}".lower()
        for word in error_contains:
            if word.lower() in shown_path:
                raise ValueError(f"{file}: error_contains {word!r} already occurs in the file's path")
        if not must_not_create:
            self.check_torch_rejects(file)
        self.add({"file": file, "expect": "error", "error_contains": error_contains, "notes": notes}, must_not_create)

    def add(self, case, must_not_create):
        if must_not_create:
            case["must_not_create"] = must_not_create
        self.cases.append(case)

    def check_torch_rejects(self, file):
        """Broken (not hostile) files are ours and safe to hand to torch; note where it is lenient."""
        try:
            torch_load(self.path(file))
        except Exception:
            return
        self.torch_disagrees.append(file)

    # -- writing helpers that also record --

    def torch_file(self, file, obj, fmt, notes, protocol=2):
        torch_save(obj, self.path(file), fmt, protocol)
        return self.ok(file, notes)

    def hostile(self, file, expect_globals, make, notes, error_contains=None):
        """make(path, payload_command) writes the file. It is checked only by disassembly: each name
        in expect_globals must appear as a global in the pickle that would run it."""
        target = f"/tmp/pthkit-pwned-{Path(file).stem}"
        make(self.path(file), f"touch {target}")
        found = pickle_globals(self.path(file))
        for name in expect_globals:
            if name not in found:
                raise AssertionError(f"{file}: {name!r} not found in its pickle")
        if error_contains:
            self.error(file, error_contains, notes, must_not_create=target)
        else:
            self.ok_without_tensors(file, notes, must_not_create=target)
        return target


def main_pickle_of(path):
    if zipfile.is_zipfile(path):
        return dict(read_zip_records(path)[1])["data.pkl"]
    data = Path(path).read_bytes()
    return data[slice(*legacy_pickle_spans(data)[3])]


def pickle_globals(path):
    """The globals ('module name') the main pickle names, found by disassembly alone. pickletools.dis
    runs first so that a malformed hostile pickle fails here rather than in the Swift tests."""
    pickled = main_pickle_of(path)
    pickletools.dis(pickled, out=io.StringIO())
    return {value for _, value in resolved_opcodes(pickled) if isinstance(value, Global)}


# ---------------------------------------------------------------------------------------------
# Cases: well-formed checkpoints.
# ---------------------------------------------------------------------------------------------


def cases_every_dtype(fx):
    for fmt in FORMATS:
        fx.torch_file(
            f"dtypes_{fmt}.pth", dtype_examples(), fmt,
            "All ten dtypes as vectors (inf, nan, -0.0, subnormals, integer extremes), 0-d scalars, "
            "empty [0] and [3, 0] tensors (zero-byte storages), a float matrix and an int32 cube.")


def cases_views(fx):
    for fmt in FORMATS:
        fx.torch_file(
            f"views_{fmt}.pth", view_examples(), fmt,
            "Views of one 4x6 storage (transposed, offset block, strided, row, column, 0-d element), "
            "stride-0 expansions, channels_last, a 3-element slice whose whole 40-element storage is "
            "saved, one tensor object stored twice (memo), and tied weights (two tensors, one storage).")


def cases_state_dict(fx):
    for fmt in FORMATS:
        model, _ = trained_tiny_net()
        fx.torch_file(
            f"state_dict_{fmt}.pth", model.state_dict(), fmt,
            "A bare state_dict of conv+BatchNorm+linear after one training step: BatchNorm buffers "
            "incl. int64 num_batches_tracked; _metadata set on the OrderedDict by BUILD.")


def cases_training_checkpoint(fx):
    for fmt in FORMATS:
        fx.torch_file(
            f"training_{fmt}.pth", training_checkpoint(), fmt,
            "ImageNet-example style checkpoint: epoch, arch, state_dict (with _metadata), SGD "
            "optimizer state after a step (momentum buffers under int keys), 0-d best_acc1, history.")


def cases_containers(fx):
    examples = container_examples()
    notes = {
        "list_top": "A list at the top: keys are indices.",
        "tuple_top": "A tuple at the top with a nested tuple and None.",
        "tensor_top": "A single float64 tensor at the top: its key is the empty string.",
        "nested": "Dicts, lists and tuples mixed; int dict keys (7, -1) become decimal path parts.",
    }
    for name, obj in examples.items():
        for fmt in FORMATS:
            fx.torch_file(f"{name}_{fmt}.pth", obj, fmt, notes[name])


def cases_tensor_rebuilds(fx):
    for fmt in FORMATS:
        fx.torch_file(
            f"rebuilds_{fmt}.pth", tensor_rebuild_examples(), fmt,
            "Every rebuild function a CPU tensor pickles with: _rebuild_tensor_v2 (requires_grad "
            "False and True), _rebuild_parameter (requires_grad True and False), "
            "_rebuild_parameter_with_state (a Parameter with an attribute) and "
            "torch._tensor._rebuild_from_type_v2 (a tensor with an attribute).")


def cases_whole_model(fx):
    for fmt in FORMATS:
        fx.torch_file(
            f"model_{fmt}.pth", whole_model(), fmt,
            "torch.save(model) of a custom nn.Module: nested submodules, a None bias and a None buffer "
            "(skipped), a non-persistent buffer (not listed), a persistent one. Keys and order are "
            "model.state_dict()'s. Legacy: module classes are persistent ids ('module', cls, file, source).")
        fx.torch_file(
            f"model_in_dict_{fmt}.pth", {"model": whole_model(), "epoch": 1}, fmt,
            "The same pickled module inside a dict: its state_dict keys under the prefix `model.`.")


def cases_inert_globals(fx):
    for fmt in FORMATS:
        fx.torch_file(
            f"inert_globals_{fmt}.pth", inert_globals_checkpoint(), fmt,
            "Globals no allowlist has, around a state_dict: argparse.Namespace, numpy scalar and array "
            "(numpy._core.multiarray, _codecs.encode bytes), defaultdict(int) (SETITEMS on a REDUCE "
            "result), a user class holding a tensor (inert: that tensor is not listed), datetime, "
            "torch.float16, torch.device. The tensor after them must still load.")


def cases_protocols(fx):
    builders = {
        "training": (training_checkpoint, "the training checkpoint"),
        "inert_globals": (
            inert_globals_checkpoint, "the inert-globals checkpoint (protocol 5 stores the numpy array as BYTEARRAY8)"),
        "model": (whole_model, "a pickled module (its sets of non-persistent buffer names are EMPTY_SET + ADDITEMS)"),
    }
    for protocol in (4, 5):
        for name, (build, what) in builders.items():
            for fmt in FORMATS:
                fx.torch_file(
                    f"{name}_p{protocol}_{fmt}.pth", build(), fmt,
                    f"pickle_protocol={protocol}: {what}; FRAME, MEMOIZE, STACK_GLOBAL, SHORT_BINUNICODE.",
                    protocol=protocol)


def endianness_examples():
    base = torch.arange(6, dtype=torch.float64).reshape(2, 3)
    vectors = dtype_vectors()
    return {
        "vector": vectors,
        "scalar": {name: v[3].clone() for name, v in vectors.items()},
        "empty": torch.empty(0, dtype=torch.int32),
        "base": base,
        "transposed": base.t(),
    }


def cases_big_endian(fx):
    reference = fx.twin_path("little_endian_reference.pth")
    torch_save(endianness_examples(), reference, "zip")
    expected = listing_of(reference, torch_load(reference))["tensors"]

    big = endianness_examples()
    byteswap_storages_in_place(big)  # memory now holds what a big-endian host would have
    with pretend_big_endian_host():
        torch_save(big, fx.path("big_endian_zip.pth"), "zip")
        torch_save(endianness_examples(), fx.path("big_endian_legacy.pth"), "legacy")

    listing = fx.ok(
        "big_endian_zip.pth",
        "Written as a big-endian host would: `byteorder` record says big and every storage holds "
        "big-endian bytes (swapped per element size; bool/uint8/int8 unchanged). torch.load swaps "
        "them back: the values and hashes equal the little-endian original's.")
    assert listing["byteorder"] == "big" and listing["tensors"] == expected, "big-endian zip round trip"

    listing = fx.ok(
        "big_endian_legacy.pth",
        "Legacy file written as a big-endian host would: sys_info little_endian=False. The storage "
        "bytes are still little-endian (THPStorage_writeFileRaw converts on big-endian hosts) and "
        "torch.load ignores the flag, so byteorder is little and the values are the original ones. "
        "A loader must NOT swap legacy storages because of little_endian=False.")
    assert listing["tensors"] == expected, "legacy big-endian round trip"


def cases_zip_variants(fx):
    checkpoint = training_checkpoint()
    source = fx.twin_path("training_source.pth")
    torch_save(checkpoint, source, "zip")
    expected = listing_of(source, torch_load(source))["tensors"]

    def variant(file, notes):
        listing = fx.ok(file, notes)
        assert listing["tensors"] == expected, f"{file} loads differently from the torch original"

    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    fx.path("zip_prefix_archive.pth").write_bytes(buffer.getvalue())
    variant("zip_prefix_archive.pth", "Saved to a buffer, so the record prefix is `archive/`, not the file stem.")

    rezip(source, fx.path("zip_prefix_odd.pth"), prefix="ckpt-é (epoch 3).best")
    variant("zip_prefix_odd.pth",
            "Records re-zipped under the prefix `ckpt-é (epoch 3).best/` (UTF-8 flagged name, spaces, "
            "dots): the prefix is whatever precedes the first `/`.")

    rezip(source, fx.path("zip_deflated.pth"), compression=zipfile.ZIP_DEFLATED)
    variant("zip_deflated.pth", "Every record re-zipped with ZIP_DEFLATED; torch.load reads it.")

    rezip(source, fx.path("zip64.pth"), zip64=True)
    variant("zip64.pth",
            "Zip64 throughout: zip64 extra fields in local and central headers (32-bit sizes and offsets "
            "0xFFFFFFFF), a zip64 end-of-central-directory record and its locator.")

    rezip(source, fx.path("zip_reordered.pth"), edit=lambda records: records[::-1])
    variant("zip_reordered.pth",
            "Records in reverse order (version first, data.pkl last): find records by name, not position.")

    torch.save(checkpoint, fx.path("zip_no_byteorder.pth"), _disable_byteorder_record=True)
    variant("zip_no_byteorder.pth", "No `byteorder` record (older torch versions wrote none): little-endian.")


# ---------------------------------------------------------------------------------------------
# Cases: damaged files. Each must fail with a message naming the problem. File names avoid the
# expected words, since the message also names the file.
# ---------------------------------------------------------------------------------------------


def cases_broken_containers(fx):
    zip_source = fx.twin_path("broken_source_zip.pth")
    legacy_source = fx.twin_path("broken_source_legacy.pth")
    torch_save(training_checkpoint(), zip_source, "zip")
    torch_save(training_checkpoint(), legacy_source, "legacy")
    zip_bytes, legacy_bytes = zip_source.read_bytes(), legacy_source.read_bytes()

    fx.path("bad_cut_archive.pth").write_bytes(zip_bytes[: len(zip_bytes) * 6 // 10])
    fx.error("bad_cut_archive.pth", ["zip"],
             "A torch zip checkpoint cut at 60%: starts like a zip, has no end-of-central-directory record.")

    damaged = bytearray(zip_bytes)
    end_record = damaged.rindex(b"PK\x05\x06")
    position = struct.unpack_from("<I", damaged, end_record + 16)[0]  # central directory offset
    while (position := damaged.find(b"PK\x01\x02", position)) != -1:
        damaged[position : position + 2] = b"XX"
    fx.path("bad_central_directory.pth").write_bytes(bytes(damaged))
    fx.error("bad_central_directory.pth", ["zip"],
             "Every central-directory header's signature overwritten; the end record still points at them.")

    rezip(zip_source, fx.path("bad_no_main_pickle.pth"), edit=lambda rs: [r for r in rs if r[0] != "data.pkl"])
    fx.error("bad_no_main_pickle.pth", ["data.pkl"], "A torch zip checkpoint without its data.pkl record.")

    rezip(zip_source, fx.path("bad_record_missing.pth"), edit=lambda rs: [r for r in rs if r[0] != "data/1"])
    fx.error("bad_record_missing.pth", ["storage"],
             "data.pkl refers to storage key '1' but the archive has no data/1 record.")

    def halve_first_storage(records):
        return [(name, data[: len(data) // 2] if name == "data/0" else data) for name, data in records]

    rezip(zip_source, fx.path("bad_short_record.pth"), edit=halve_first_storage)
    fx.error("bad_short_record.pth", ["data/0"],
             "The data/0 record holds half the bytes its persistent id's numel needs; the message names it.")

    fx.path("bad_legacy_cut_in_data.pth").write_bytes(legacy_bytes[:-3])
    fx.error("bad_legacy_cut_in_data.pth", ["storage"],
             "A legacy checkpoint missing the last 3 bytes of its last storage.")

    spans = legacy_pickle_spans(legacy_bytes)
    cut = spans[3][0] + mid_opcode_cut(legacy_bytes[slice(*spans[3])])
    fx.path("bad_legacy_cut_in_pickle.pth").write_bytes(legacy_bytes[:cut])
    fx.error("bad_legacy_cut_in_pickle.pth", ["truncated"],
             "A legacy checkpoint that ends inside the length field of a BINUNICODE halfway through its main pickle.")

    wrong_magic = pickle.dumps(LEGACY_MAGIC_NUMBER + 1, protocol=2)
    fx.path("bad_legacy_first_number.pth").write_bytes(wrong_magic + legacy_bytes[spans[0][1] :])
    fx.error("bad_legacy_first_number.pth", ["magic"],
             "A torch legacy checkpoint whose first pickle is the magic number plus one.")

    storage = RawStorage(storage_key("legacy", 0), torch.float32, bytes(16), numel=6)
    main, _ = fixture_pickle({"weight": RawTensor(storage, (6,), (1,))}, legacy=True)
    fx.path("bad_legacy_count.pth").write_bytes(legacy_file_bytes(main, [storage]))
    fx.error("bad_legacy_count.pth", ["storage"],
             "The pickle declares a 6-element FloatStorage; the data section's count says 4 and holds "
             "16 bytes, then the file ends.")

    present = RawStorage(storage_key("legacy", 0), torch.float32, bytes(8))
    absent = RawStorage(storage_key("legacy", 1), torch.float32, bytes(8))
    main, _ = fixture_pickle({"a": RawTensor(present, (2,), (1,)), "b": RawTensor(absent, (2,), (1,))}, legacy=True)
    fx.path("bad_legacy_key_unlisted.pth").write_bytes(legacy_file_bytes(main, [present]))
    fx.error("bad_legacy_key_unlisted.pth", ["storage"],
             f"The pickle refers to storage {absent.key}, which the key list and data section lack. "
             "torch.load accepts it and hands back uninitialized memory for that tensor.")


def cases_broken_tensors(fx):
    # (file, size, stride, offset, words, notes), each over a 6-element float32 storage
    geometries = [
        ("bad_size_past_end", (3, 3), (3, 1), 0, ["storage"], "A 3x3 tensor."),
        ("bad_offset_past_end", (2,), (1,), 5, ["storage"], "Offset 5, size 2."),
        ("bad_stride_past_end", (2, 3), (1, 3), 0, ["storage"],
         "Size (2, 3), strides (1, 3): the last element is at index 7."),
        ("bad_size_below_zero", (-1, 3), (3, 1), 0, ["negative"], "Size (-1, 3)."),
        ("bad_stride_below_zero", (3,), (-1,), 2, ["negative"],
         "Stride -1 from offset 2: every index is inside the storage, but torch has no negative strides."),
        ("bad_numel_too_big", (2**40, 2**40), (0, 0), 0, ["overflow"],
         "Size (2^40, 2^40) with stride 0: every index is 0, but the element count 2^80 overflows int64."),
    ]
    for name, size, stride, offset, words, notes in geometries:
        storage = RawStorage("0", torch.float32, tensor_bytes(torch.arange(6.0)))
        write_handmade(fx.path(f"{name}.pth"), {"weight": RawTensor(storage, size, stride, offset)}, "zip")
        fx.error(f"{name}.pth", words, f"{notes} Over a 6-element float32 storage.")

    for file, dtype, word in (("bad_dtype_cplx.pth", torch.complex64, "complex"),
                              ("bad_dtype_u16.pth", torch.uint16, "uint16")):
        torch.save({"ok": torch.ones(2), "odd": torch.ones(2, dtype=dtype)}, fx.path(file))
        fx.error(file, [word],
                 f"A {dtype} tensor beside a float32 one. torch.load reads it; PthKit reads ten dtypes and "
                 "must name the one it met. (uint16 pickles as _rebuild_tensor_v3 over "
                 "torch.storage.UntypedStorage with a trailing torch.uint16.)")


def cases_broken_pickles(fx):
    proto2, proto4 = pickle.PROTO + b"\x02", pickle.PROTO + b"\x04"
    depth = 100_000
    broken = [
        ("bad_byte_f0", ["opcode"], "Opcode 0xf0 after an EMPTY_DICT.",
         opcodes(proto2, pickle.EMPTY_DICT, b"\xf0", pickle.STOP)),
        ("bad_underflow", ["stack"], "TUPLE2 on an empty stack.",
         opcodes(proto2, pickle.TUPLE2, pickle.STOP)),
        ("bad_get_unset", ["memo"], "BINGET 5 with nothing memoized.",
         opcodes(proto2, pickle.BINGET + b"\x05", pickle.STOP)),
        ("bad_tuple_unopened", ["mark"], "TUPLE with no MARK on the stack.",
         opcodes(proto2, pickle.NONE, pickle.TUPLE, pickle.STOP)),
        ("bad_unicode8_length", ["BINUNICODE8"], "BINUNICODE8 declaring 2^62 bytes, followed by 4.",
         opcodes(proto4, pickle.BINUNICODE8 + u64(2**62), b"abc", pickle.STOP)),
        ("bad_bytes8_length", ["BINBYTES8"], "BINBYTES8 declaring 2^62 bytes, followed by 4.",
         opcodes(proto4, pickle.BINBYTES8 + u64(2**62), b"abc", pickle.STOP)),
        ("bad_bytes8_length_all_ones", ["BINBYTES8"], "BINBYTES8 declaring 2^64-1 bytes (-1 if read as signed).",
         opcodes(proto4, pickle.BINBYTES8 + u64(2**64 - 1), b"abc", pickle.STOP)),
        ("bad_unterminated", ["stop"], "A well-formed dict pickle that ends without STOP.",
         opcodes(proto2, pickle.EMPTY_DICT, unicode_opcode("a"), pickle.NONE, pickle.SETITEM)),
        ("bad_deep_lists", ["nest"],
         f"{depth} EMPTY_LISTs then {depth - 1} APPENDs: lists nested {depth} deep (a deflated record, 200 KB "
         "inflated). torch.load accepts it; PthKit must refuse it rather than overflow its stack.",
         opcodes(proto2, pickle.EMPTY_LIST * depth, pickle.APPEND * (depth - 1), pickle.STOP)),
        ("bad_deep_marks", ["nest"],
         f"{depth} MARKs then {depth} LISTs: lists nested {depth} deep built through the mark stack "
         "(a deflated record). torch.load accepts it.",
         opcodes(proto2, pickle.MARK * depth, pickle.LIST * depth, pickle.STOP)),
    ]
    for name, words, notes, pickled in broken:
        compression = zipfile.ZIP_DEFLATED if len(pickled) > 10_000 else zipfile.ZIP_STORED
        write_container(fx.path(f"{name}.pth"), pickled, "zip", compression=compression)
        fx.error(f"{name}.pth", words, f"{notes} (data.pkl of an otherwise valid zip)")
        if name in ("bad_byte_f0", "bad_get_unset"):
            write_container(fx.path(f"{name}_legacy.pth"), pickled, "legacy")
            fx.error(f"{name}_legacy.pth", words, f"{notes} (main pickle of a legacy file)")

    source = fx.twin_path("pickle_source.pth")
    torch_save(training_checkpoint(), source, "zip")

    def cut_main_pickle(records):
        return [(name, data[: mid_opcode_cut(data)] if name == "data.pkl" else data) for name, data in records]

    rezip(source, fx.path("bad_cut_pickle.pth"), edit=cut_main_pickle)
    fx.error("bad_cut_pickle.pth", ["truncated"],
             "torch's own data.pkl cut inside the length field of a BINUNICODE halfway through, in an "
             "otherwise intact zip.")


def mid_opcode_cut(pickled):
    """A length that ends a pickle inside an opcode's argument: 3 bytes into the first BINUNICODE
    past the middle, so the cut is unambiguously mid-opcode."""
    for opcode, _, position in pickletools.genops(pickled):
        if opcode.name == "BINUNICODE" and position > len(pickled) // 2:
            return position + 3
    raise ValueError("no BINUNICODE in the second half")


def cases_not_checkpoints(fx):
    fx.path("bad_zero_bytes.pth").write_bytes(b"")
    fx.error("bad_zero_bytes.pth", ["empty"], "A zero-byte file.")

    noise = random.Random(1950).randbytes(2048)
    fx.path("bad_noise.pth").write_bytes(b"\x13" + noise[1:])  # neither PK nor a pickle PROTO
    fx.error("bad_noise.pth", ["pytorch"],
             "2 KB of random bytes: neither zip nor pickle, so not a PyTorch checkpoint.")

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in (("notes.txt", b"not a checkpoint\n"), ("weights.bin", bytes(64))):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    fx.path("bad_tape_archive.pth").write_bytes(buffer.getvalue())
    fx.error("bad_tape_archive.pth", ["tar"],
             "A ustar archive of two unrelated files, not torch's pre-0.4 tar format (sys_info, pickle, "
             "storages and tensors members).")


# ---------------------------------------------------------------------------------------------
# Cases: hostile files. Unpickled by Python they would run `touch /tmp/pthkit-pwned-<file stem>`.
# ---------------------------------------------------------------------------------------------


def os_system(cmd):
    return Call(raw_global("os", "system"), cmd)


def eval_system(cmd, module="builtins"):
    return Call(raw_global(module, "eval"), f"__import__('os').system({cmd!r})")


def getattr_chain(cmd):
    """getattr(__import__('os'), 'system')(cmd): no dangerous name appears as a global."""
    imported = Call(raw_global("builtins", "__import__"), "os")
    return Call(Call(raw_global("builtins", "getattr"), imported, "system"), cmd)


# name: (payload for a command, the globals its pickle must name)
PAYLOADS = {
    "os_system": (os_system, ["os system"]),
    "posix_system": (lambda cmd: Call(raw_global("posix", "system"), cmd), ["posix system"]),
    "builtins_eval": (eval_system, ["builtins eval"]),
    "builtin_eval_py2": (lambda cmd: eval_system(cmd, "__builtin__"), ["__builtin__ eval"]),
    "subprocess_call": (lambda cmd: Call(raw_global("subprocess", "call"), cmd.split()), ["subprocess call"]),
    "subprocess_popen": (lambda cmd: Call(raw_global("subprocess", "Popen"), cmd.split()), ["subprocess Popen"]),
    "getattr_chain": (getattr_chain, ["builtins getattr", "builtins __import__"]),
}


def cases_hostile(fx):
    for name, (payload, names) in PAYLOADS.items():
        for fmt in FORMATS:
            fx.hostile(
                f"hostile_{name}_{fmt}.pth", names,
                lambda path, cmd, fmt=fmt, payload=payload: write_handmade(path, payload(cmd), fmt),
                f"The whole main pickle is a call of {' via '.join(names)}. A well-formed {fmt} checkpoint "
                "without tensors: loads as one inert object.")

    for fmt in FORMATS:
        fx.hostile(
            f"hostile_reduce_class_{fmt}.pth", ["posix system"],
            lambda path, cmd, fmt=fmt: torch_save(TouchFile(cmd.split()[-1]), path, fmt, protocol=4),
            "Written by torch.save: an object whose __reduce__ returns (os.system, (cmd,)), protocol 4, "
            "so STACK_GLOBAL 'posix' 'system' then REDUCE.")

    fx.hostile(
        "hostile_module_pid_legacy.pth", ["os system"],
        lambda path, cmd: write_handmade(path, Call(ModuleClass(raw_global("os", "system")), cmd), "legacy"),
        "Legacy only: the persistent id ('module', os.system, None, None), which torch's persistent_load "
        "returns as the class, then REDUCE calls it. Loads as an inert object.")

    fx.hostile(
        "hostile_inst.pth", ["os system"],
        lambda path, cmd: write_container(
            path, opcodes(pickle.MARK, unicode_opcode(cmd), pickle.INST + b"os\nsystem\n", pickle.STOP), "zip"),
        "Protocol 0's INST 'os system' over MARK + command: INST calls the class. Inert object, no tensors.")
    fx.hostile(
        "hostile_obj.pth", ["os system"],
        lambda path, cmd: write_container(
            path, opcodes(pickle.MARK, pickle.GLOBAL + b"os\nsystem\n", unicode_opcode(cmd), pickle.OBJ, pickle.STOP),
            "zip"),
        "Protocol 1's OBJ: MARK, GLOBAL 'os system', the command, OBJ (calls the class). Inert object, no tensors.")

    def storage_type_payload(path, cmd):
        storage = RawStorage("0", torch.float32, bytes(8), storage_type=os_system(cmd))
        write_handmade(path, {"weight": RawTensor(storage, (2,), (1,))}, "zip")

    fx.hostile(
        "hostile_pid_type.pth", ["os system"], storage_type_payload,
        "A tensor whose persistent id has os.system(cmd) where the storage class belongs. That is an "
        "inert object, not a storage class PthKit knows: an error.",
        error_contains=["storage"])

    cases_hostile_inside_state_dicts(fx)


def cases_hostile_inside_state_dicts(fx):
    for fmt in FORMATS:
        file = f"hostile_in_state_dict_{fmt}.pth"
        target = f"/tmp/pthkit-pwned-{Path(file).stem}"

        model, _ = trained_tiny_net()

        def state_dict(exploit):
            entries = model.state_dict()
            entries["exploit"] = exploit
            entries.move_to_end("exploit", last=False)
            entries["classifier.extra"] = torch.tensor([1, 2])
            return entries

        torch_save(state_dict(TouchFile(target)), fx.path(file), fmt)
        torch_save(state_dict(None), fx.twin_path(file), fmt)
        assert "posix system" in pickle_globals(fx.path(file))
        fx.ok(file,
              "torch.save of a real state_dict whose first entry is an object reducing to os.system "
              "(GLOBAL 'posix system'). The entry stays inert and is skipped; every tensor and the "
              "_metadata load.",
              listing_from=fx.twin_path(file), must_not_create=target)

    for fmt in FORMATS:
        file = f"hostile_mixed_{fmt}.pth"
        target = f"/tmp/pthkit-pwned-{Path(file).stem}"
        payloads = [payload(f"touch {target}") for payload, _ in PAYLOADS.values()]

        def state_dict(with_payloads):
            weight = RawStorage(storage_key(fmt, 0), torch.float32, tensor_bytes(torch.arange(6.0)))
            steps = RawStorage(storage_key(fmt, 1), torch.int64, tensor_bytes(torch.tensor([3, 4])))
            entries = [(f"exploit_{i}", payload if with_payloads else None) for i, payload in enumerate(payloads)]
            entries.insert(0, ("conv.weight", RawTensor(weight, (2, 3), (3, 1))))
            entries.insert(3, ("conv.weight_t", RawTensor(weight, (3, 2), (1, 3))))
            entries.append(("steps", RawTensor(steps, (2,), (1,))))
            return collections.OrderedDict(entries)

        write_handmade(fx.path(file), state_dict(True), fmt)
        write_handmade(fx.twin_path(file), state_dict(False), fmt)
        expected = {name for _, names in PAYLOADS.values() for name in names}
        assert expected <= pickle_globals(fx.path(file)), f"{file}: payload globals missing"
        fx.ok(file,
              "A hand-made state dict with tensors between every payload of the hostile_* files. The "
              "payloads stay inert and are skipped; the three tensors (two sharing a storage) load.",
              listing_from=fx.twin_path(file), must_not_create=target)


# ---------------------------------------------------------------------------------------------


CASES = [
    cases_every_dtype,
    cases_views,
    cases_state_dict,
    cases_training_checkpoint,
    cases_containers,
    cases_tensor_rebuilds,
    cases_whole_model,
    cases_inert_globals,
    cases_protocols,
    cases_big_endian,
    cases_zip_variants,
    cases_broken_containers,
    cases_broken_tensors,
    cases_broken_pickles,
    cases_not_checkpoints,
    cases_hostile,
]

README = """\
# Checkpoint fixtures

Written by `Scripts/make_checkpoint_fixtures.py`; do not edit by hand. To regenerate:

    .venv/bin/python Scripts/make_checkpoint_fixtures.py --out Tests/Fixtures/checkpoints

(`Scripts/ensure-python-oracle.sh` creates `.venv` with the pinned torch.) The test runner reruns
the script when its sha256 no longer matches `generator.sha256`.

`manifest.json` lists every file with what loading it must give: for `"expect": "ok"` the exact
`pthkit inspect FILE --json` output (`listing`, computed from what torch.load returns) and the
`_metadata` of each state dict; for `"expect": "error"` substrings the error message must contain
(case-insensitively; match them against the message with the file path removed). Files with
`must_not_create` are hostile: unpickled by Python they would create that path.
"""


def seed_everything():
    torch.manual_seed(0)
    random.seed(0)
    np.random.seed(0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="directory to (re)create")
    out = parser.parse_args().out.resolve()
    if out.exists() and any(out.iterdir()) and not (out / "manifest.json").exists():
        sys.exit(f"{out} is not empty and has no manifest.json; refusing to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)

    # Build next to DIR and swap it in at the end, so a failed run leaves the old fixtures alone.
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        with tempfile.TemporaryDirectory(prefix="pthkit-fixtures-") as scratch:
            fixtures = FixtureSet(staging, scratch)
            for add_cases in CASES:
                seed_everything()  # each group starts from the same seed, so adding one changes no other
                add_cases(fixtures)
        write_index(staging, fixtures.cases)
        if out.exists():
            shutil.rmtree(out)
        staging.chmod(0o755)  # mkdtemp makes it private
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    total = sum(p.stat().st_size for p in out.iterdir())
    print(f"{len(fixtures.cases)} cases, {total / 1024:.0f} KiB in {out}")
    for file in fixtures.torch_disagrees:
        print(f"note: torch.load accepts {file}, which PthKit must reject (see its notes)")


def manifest_json(cases):
    """Indented JSON with every innermost object (a tensor, an error case) on one line, for diffs."""
    def one_line(match):
        try:
            return json.dumps(json.loads(match.group()), ensure_ascii=False)
        except ValueError:  # braces inside a string: leave it as it is
            return match.group()

    text = json.dumps({"cases": cases}, indent=1, ensure_ascii=False)
    return re.sub(r"\{[^{}]*\}", one_line, text) + "\n"


def write_index(directory, cases):
    """manifest.json, README.md and generator.sha256 beside the fixture files."""
    files = [case["file"] for case in cases]
    assert len(files) == len(set(files)), "two cases share a file"
    assert sorted(files) == sorted(p.name for p in directory.iterdir()), "files without cases, or cases without files"
    (directory / "manifest.json").write_text(manifest_json(cases), encoding="utf-8")
    (directory / "README.md").write_text(README, encoding="utf-8")
    (directory / "generator.sha256").write_text(hashlib.sha256(SCRIPT.read_bytes()).hexdigest() + "\n")


if __name__ == "__main__":
    main()
