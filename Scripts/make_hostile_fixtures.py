#!/usr/bin/env python3
"""Writes the hostile-file regression fixtures: small files that once crashed PthKit, made it allocate
on the file's word, spin for exponential time, or print raw file bytes in its error line.

    python3 Scripts/make_hostile_fixtures.py --out Tests/Fixtures/hostile

DIR is recreated with one file per case and DIR/manifest.json:
  {"cases": [{"file", "class", "command", "expect": "ok"|"error", "error_contains", "memory_mib",
              "seconds", "notes"}]}
`command` is a pthkit command line in which {file} and {out} stand for the fixture and a scratch
output path. HostileFileTests runs each one under prlimit (address space `memory_mib`, CPU
`seconds`) and checks it succeeds, or fails with exactly one clean `error:` line and exit code 1
(with `first_line_only`, a clean first line followed by printable lines).

Nothing here needs torch: the pickles are assembled opcode by opcode, because the point of most
cases is a stream torch.save would never write. Fuzzer findings are added here as cases too.
"""

import argparse
import json
import shutil
import struct
import zipfile
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
IMAGES = HERE.parent / "Tests" / "Fixtures" / "images"

# ---------------------------------------------------------------------------------------------
# A tiny pickle assembler (protocol 2 opcodes).


def glob(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def text(value):
    data = value.encode("utf-8", "surrogatepass")
    return b"X" + struct.pack("<I", len(data)) + data


def integer(value):
    if 0 <= value < 256:
        return b"K" + bytes([value])
    if -(2**31) <= value < 2**31:
        return b"J" + struct.pack("<i", value)
    data = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(data)]) + data


def tuple_of(*items):
    return b"(" + b"".join(items) + b"t"


def call(callable_, *arguments):
    return callable_ + tuple_of(*arguments) + b"R"


def storage(key, numel, storage_class=None, module="torch", legacy=False):
    storage_class = storage_class or glob(module, "FloatStorage")
    fields = [text("storage"), storage_class, text(key), text("cpu"), integer(numel)]
    if legacy:
        fields.append(b"N")
    return tuple_of(*fields) + b"Q"


def tensor(key, numel, sizes, strides, offset=0, legacy=False, storage_class=None):
    return call(
        glob("torch._utils", "_rebuild_tensor_v2"),
        storage(key, numel, storage_class, legacy=legacy),
        integer(offset),
        tuple_of(*map(integer, sizes)),
        tuple_of(*map(integer, strides)),
        b"\x89",
        call(glob("collections", "OrderedDict")),
    )


def pickle_of(body):
    return b"\x80\x02" + body + b"."


def state_dict(*entries):
    return b"}(" + b"".join(text(key) + value for key, value in entries) + b"u"


def doubled(value, times):
    """`value` memoized, then DUP TUPLE2 `times` times: one value, 2**times paths to it."""
    return value + b"q\x00" + b"\x32\x86" * times


# ---------------------------------------------------------------------------------------------
# Containers.

ZIP_TIME = (2024, 1, 1, 0, 0, 0)


def zip_checkpoint(path, data_pkl, storages, byteorder=b"little", prefix="archive/"):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        def add(name, data):
            info = zipfile.ZipInfo(prefix + name, date_time=ZIP_TIME)
            archive.writestr(info, data)
        add("data.pkl", data_pkl)
        if byteorder is not None:
            add("byteorder", byteorder)
        for key, data in storages.items():
            add("data/" + key, data)
        add("version", b"3\n")


LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


def legacy_checkpoint(path, main_pickle, storages):
    """torch < 1.6 layout: magic, protocol, sys info, main pickle, key list, then the storages."""
    sys_info = state_dict(("protocol_version", integer(1001)), ("little_endian", b"\x88"))
    parts = [
        pickle_of(integer(LEGACY_MAGIC)),
        pickle_of(integer(1001)),
        pickle_of(sys_info),
        main_pickle,
        pickle_of(b"]" + b"(" + b"".join(text(key) for key in storages) + b"e"),
    ]
    for data in storages.values():
        parts.append(struct.pack("<q", len(data) // 4) + data)
    Path(path).write_bytes(b"".join(parts))


FLOAT = struct.pack("<f", 1.5)

# ---------------------------------------------------------------------------------------------
# Images.


def jpeg_with_frame(source, width, height):
    """`source` with its frame header (SOF0/1/2) claiming width x height."""
    data = bytearray(source.read_bytes())
    index = 2
    while index < len(data):
        marker = data[index + 1]
        length = struct.unpack(">H", data[index + 2 : index + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            data[index + 5 : index + 9] = struct.pack(">HH", height, width)
            return bytes(data)
        index += 2 + length
    raise SystemExit(f"{source}: no frame header")


def jpeg_with_repeated_scan(source, copies):
    """A progressive JPEG whose shortest scan is repeated `copies` times (libjpeg only warns that
    the progression is bogus, and goes on)."""
    data = source.read_bytes()
    spans = []
    start = data.find(b"\xff\xda")
    while start >= 0:
        end = start + 2
        while not (data[end] == 0xFF and data[end + 1] not in (0x00, 0xFF) and not 0xD0 <= data[end + 1] <= 0xD7):
            end += 1
        spans.append((end - start, start, end))
        start = data.find(b"\xff\xda", end)
    _, start, end = min(spans)
    return data[:start] + data[start:end] * copies + data[end:]


def png_chunk(kind, payload):
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png(width, height, bit_depth, colour_type, raw):
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(raw, 9))
            + png_chunk(b"IEND", b""))


# ---------------------------------------------------------------------------------------------
# The cases.

CASES = []


def case(file, cls, command, expect, notes, error_contains=(), memory_mib=1024, seconds=20, first_line_only=False):
    """first_line_only: the command may follow its one `error:` line with torch's own multi-line
    text (load-check prints load_state_dict's message as torch words it)."""
    CASES.append({
        "file": file, "class": cls, "command": command, "expect": expect,
        "error_contains": list(error_contains), "memory_mib": memory_mib, "seconds": seconds, "notes": notes,
        "first_line_only": first_line_only,
    })


def make(out):
    inspect = ["inspect", "--json", "{file}"]
    convert = ["convert", "{file}", "{out}"]

    # 1. Sizes whose element or byte count overflows 64 bits, over a one-element storage.
    for name, sizes, strides in [("2p61", [2**61], [0]), ("2p31x2p31", [2**31, 2**31], [0, 0])]:
        file = f"overflow_sizes_{name}.pth"
        zip_checkpoint(out / file, pickle_of(state_dict(("w", tensor("0", 1, sizes, strides)))), {"0": FLOAT})
        case(file, "overflow", inspect, "error", f"sizes {sizes}, strides {strides}: count * element size overflows",
             ["overflow"])

    # 2. Expanded (stride-0) views claiming far more elements than the storage holds. torch.load
    # keeps them as views (in ms); so does PthKit: only a consumer without strides copies them.
    for fmt in ("zip", "legacy"):
        file = f"expand_2p30_{fmt}.pth"
        body = pickle_of(state_dict(("w", tensor("0", 1, [2**30], [0], legacy=fmt == "legacy"))))
        if fmt == "zip":
            zip_checkpoint(out / file, body, {"0": FLOAT})
        else:
            legacy_checkpoint(out / file, body, {"0": FLOAT})
        case(file, "expand", ["inspect", "{file}"], "ok",
             "2**30 floats (4 GiB) over a 4-byte storage: listed as a view, as torch.load keeps it",
             memory_mib=256, seconds=5)
    case("expand_2p30_zip.pth", "expand", ["convert", "{file}", "{out}"], "ok",
         "written again as torch.save writes it: the 4-byte storage and the stride-0 view", memory_mib=256, seconds=5)
    case("expand_2p30_zip.pth", "expand", ["convert", "{file}", "{out}.safetensors"], "error",
         "safetensors has no strides: a dense copy on the file's word, refused past the allowance", ["allowance"],
         memory_mib=256, seconds=5)
    file = "expand_2p28_zip.pth"
    zip_checkpoint(out / file, pickle_of(state_dict(("w", tensor("0", 1, [2**14, 2**14], [0, 0])))), {"0": FLOAT})
    case(file, "expand", ["inspect", "--json", "--view-copy-allowance", "2048", "{file}"], "ok",
         "sha256 of 1 GiB of expanded values (allowed by the option), streamed under a 512 MiB limit",
         memory_mib=512, seconds=20)
    case("expand_2p30_zip.pth", "expand", inspect, "error",
         "hashing 4 GiB of expanded values is the file's word: past the default allowance", ["allowance"],
         memory_mib=256, seconds=5)
    file = "expand_small_zip.pth"
    zip_checkpoint(out / file, pickle_of(state_dict(("w", tensor("0", 1, [1000], [0])))), {"0": FLOAT})
    case(file, "expand", inspect, "ok", "a modest expanded view still loads (1000 copies of one float)")
    # Into a model: the model's parameters decide what is copied, after the shapes are checked.
    lenet5 = [("conv.0.weight", [6, 1, 5, 5]), ("conv.0.bias", [6]), ("conv.3.weight", [16, 6, 5, 5]),
              ("conv.3.bias", [16]), ("conv.6.weight", [120, 16, 5, 5]), ("conv.6.bias", [120]),
              ("classifier.0.weight", [84, 120]), ("classifier.0.bias", [84]),
              ("classifier.1.weight", [10, 84]), ("classifier.1.bias", [10])]
    def expanded(shape):
        return tensor("0", 1, shape, [0] * len(shape))
    file = "expand_lenet5.pth"
    zip_checkpoint(out / file, pickle_of(state_dict(*[(key, expanded(shape)) for key, shape in lenet5])), {"0": FLOAT})
    case(file, "expand", ["load-check", "lenet5", "--weights", "{file}"], "ok",
         "every parameter an expanded view of one float: loads", memory_mib=1024, seconds=20)
    file = "expand_lenet5_2p30_weight.pth"
    entries = [(key, expanded([2**30] if key == "conv.0.weight" else shape)) for key, shape in lenet5]
    zip_checkpoint(out / file, pickle_of(state_dict(*entries)), {"0": FLOAT})
    case(file, "expand", ["load-check", "lenet5", "--weights", "{file}"], "error",
         "a [2**30] expanded view where the model has [6, 1, 5, 5]: the shape check comes first", ["size mismatch"],
         memory_mib=1024, seconds=20, first_line_only=True)

    # 3. One value reachable through 2**k paths via the memo and DUP.
    shared = tensor("0", 1, [1], [1])
    zip_checkpoint(out / "shared_tuples_2p40_zip.pth", pickle_of(doubled(shared, 40)), {"0": FLOAT})
    case("shared_tuples_2p40_zip.pth", "shared", inspect, "error", "DUP TUPLE2 x40 over one tensor",
         ["shared references"], seconds=10)
    zip_checkpoint(out / "shared_tuples_2p40_convert.pth", pickle_of(doubled(shared, 40)), {"0": FLOAT})
    case("shared_tuples_2p40_convert.pth", "shared", convert, "error", "the same, for convert's rewriting",
         ["shared references"], seconds=10)
    legacy_checkpoint(out / "shared_tuples_2p40_legacy.pth",
                      pickle_of(doubled(tensor("0", 1, [1], [1], legacy=True), 40)), {"0": FLOAT})
    case("shared_tuples_2p40_legacy.pth", "shared", inspect, "error", "the same in a legacy file (storage scan)",
         ["shared references"], seconds=10)
    # Lists: EMPTY_LIST MARK GET GET APPENDS, nested; each list is memoized in turn.
    body = shared + b"q\x000"
    for index in range(1, 41):
        previous = b"h" + bytes([index - 1])
        body += b"](" + previous + previous + b"eq" + bytes([index]) + b"0"
    body += b"h" + bytes([40])
    zip_checkpoint(out / "shared_lists_2p40_zip.pth", pickle_of(body), {"0": FLOAT})
    case("shared_lists_2p40_zip.pth", "shared", inspect, "error", "lists of [x, x] nested 40 times",
         ["shared references"], seconds=10)
    # Within the bound: 4096 paths to one tensor load, and convert writes its storage once.
    zip_checkpoint(out / "shared_tuples_2p10_zip.pth", pickle_of(doubled(shared, 10)), {"0": FLOAT})
    case("shared_tuples_2p10_zip.pth", "shared", convert, "ok", "1024 paths to one tensor: allowed, converted and written once")

    # Dotted key paths repeat their prefixes: 400 nested dicts with 200-character keys above 4096
    # paths to one tensor would spell out 330 MB of keys from an 85 KB file.
    body = doubled(shared, 12) + b"q\x010"
    for level in range(400):
        body += b"(" + text(f"{level:03d}" + "k" * 197) + b"h\x01dq\x010"
    zip_checkpoint(out / "paths_deep_long_keys.pth", pickle_of(body + b"h\x01"), {"0": FLOAT})
    case("paths_deep_long_keys.pth", "paths", inspect, "error", "330 MB of dotted key paths from an 85 KB file",
         ["key paths"], seconds=20)

    # 4. Names that would forge lines or drive the terminal if printed raw.
    zip_checkpoint(out / "names_byteorder_escape.pth", pickle_of(state_dict()), {},
                   byteorder=b"\x1b]0;owned\x07\n\x00little")
    case("names_byteorder_escape.pth", "names", inspect, "error", "OSC escape, newline and NUL in byteorder",
         ["byte order", "\\x1b", "\\n"])
    zip_checkpoint(out / "names_storage_key_newline.pth",
                   pickle_of(state_dict(("w", tensor("0\nerror: forged line\x1b[2J", 1, [1], [1])))), {})
    case("names_storage_key_newline.pth", "names", inspect, "error", "a storage key with a newline and ESC",
         ["\\n", "\\x1b"])
    evil_class = text("torch") + text("Evil\x1b[31mStorage\r\x00") + b"\x93"
    zip_checkpoint(out / "names_storage_class_escape.pth",
                   pickle_of(state_dict(("w", tensor("0", 1, [1], [1], storage_class=evil_class)))), {"0": FLOAT})
    case("names_storage_class_escape.pth", "names", inspect, "error", "a storage class name with ESC, CR, NUL",
         ["storage type", "\\x1b", "\\r", "\\x00"])
    zip_checkpoint(out / "names_long_key.pth",
                   pickle_of(state_dict(("w", tensor("k" * 5000, 1, [1], [1])))), {})
    case("names_long_key.pth", "names", inspect, "error", "a 5000-character storage key is cut", ["…"])
    zip_checkpoint(out / "names_zip_entry_escape.pth", b"\x80\x02K\x01", {}, prefix="a\x1b[2J\n/")
    case("names_zip_entry_escape.pth", "names", inspect, "error", "a zip folder name with ESC and newline",
         ["\\x1b", "\\n"])
    legacy_checkpoint(out / "names_legacy_key_escape.pth",
                      pickle_of(state_dict(("w", tensor("0", 1, [1], [1], legacy=True)))),
                      {"0\x1b[1m\n": FLOAT})
    case("names_legacy_key_escape.pth", "names", inspect, "error", "a legacy storage key list entry with ESC",
         ["\\x1b"])

    # 5. Image bombs: headers claiming far more pixels than the file's bytes could describe.
    preprocess = ["preprocess", "resnet18", "{file}", "--output", "{out}"]
    (out / "image_jpeg_frame_32768x4800.jpg").write_bytes(
        jpeg_with_frame(IMAGES / "jpeg_420_37x53.jpg", 32768, 4800))
    case("image_jpeg_frame_32768x4800.jpg", "image", preprocess, "error",
         "a JPEG frame header claiming 157M pixels over a few hundred bytes of data", ["budget"], seconds=10)
    (out / "image_jpeg_600_scans.jpg").write_bytes(
        jpeg_with_repeated_scan(IMAGES / "jpeg_progressive_37x53.jpg", 600))
    case("image_jpeg_600_scans.jpg", "image", preprocess, "error", "a progressive JPEG with 600 scans",
         ["scans"], seconds=10)
    # Rows of zero bytes compress about 1000:1; the header claims far more rows than IDAT holds.
    (out / "image_png_claims_30000x30000.png").write_bytes(png(30000, 30000, 8, 2, b"\x00" * (30000 * 3 + 1) * 64))
    case("image_png_claims_30000x30000.png", "image", preprocess, "error",
         "an RGB PNG claiming 900M pixels (past the pixel cap)", ["pixels"], seconds=10)
    (out / "image_png_claims_12000x12000.png").write_bytes(png(12000, 12000, 8, 2, b"\x00" * (12000 * 3 + 1) * 16))
    case("image_png_claims_12000x12000.png", "image", preprocess, "error",
         "an RGB PNG under the pixel cap whose data could not fit in the file", ["file can hold"], seconds=10)
    # Genuinely this size: 13000x13000 1-bit gray, all zero, ~20 KB; as RGB it would take 507 MB.
    (out / "image_png_1bit_13000x13000.png").write_bytes(png(13000, 13000, 1, 0, (b"\x00" * (1 + (13000 + 7) // 8)) * 13000))
    case("image_png_1bit_13000x13000.png", "image", preprocess, "error",
         "a real 1-bit PNG whose RGB would be 507 MB from ~20 KB", ["budget"], seconds=10)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    out = parser.parse_args().out
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    make(out)
    (out / "manifest.json").write_text(json.dumps({"cases": CASES}, indent=1, ensure_ascii=True) + "\n")
    print(f"wrote {len(CASES)} hostile fixtures to {out}")


if __name__ == "__main__":
    main()
