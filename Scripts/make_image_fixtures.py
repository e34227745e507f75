#!/usr/bin/env python3
"""Writes the oracle for Sources/PthKitVision: image files, what Pillow decodes them to, and what
torchvision's classification transforms make of them.

    .venv/bin/python Scripts/make_image_fixtures.py --out Tests/Fixtures/images

- PNGs in every colour type and bit depth (1/2/4/8/16-bit gray, gray+alpha, palette with and without
  tRNS, RGB, RGBA), plain and Adam7-interlaced, written by the small encoder below (Pillow cannot
  write interlaced or 16-bit RGB PNGs); JPEGs written by Pillow (4:2:0, 4:2:2, 4:4:4, progressive,
  grayscale, CMYK, restart markers, EXIF orientation) and a crop of scikit-learn's china.jpg photo.
- For each: `Image.open(f).convert("RGB")` (torchvision's default loader) as <file>.rgb.npy (uint8,
  HWC), or only its sha256 when the array would be large.
- For preprocessing cases: torchvision's output tensor (float32 NCHW .npy) when the crop is small;
  for 224-pixel crops, the uint8 image torchvision turns into that tensor (Pillow's resize and
  center crop) as a lossless PNG plus the sha256 of the float32 tensor, to stay within the size
  budget.
- Pillow's Image.resize of one image to assorted sizes, each axis independently, as uint8 .npy.
- Broken files, each checked to be rejected by Pillow as well.

manifest.json lists all of it. Deterministic (fixed seed) and committed; Scripts/test.sh regenerates
the folder when this script or the pinned oracle versions change (generator.sha256).
"""
import argparse
import hashlib
import io
import json
import re
import shutil
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import sklearn
import torch
from PIL import Image, ImageFile
from torchvision import transforms as T
from torchvision.transforms import InterpolationMode
from torchvision.transforms._presets import ImageClassification

assert not ImageFile.LOAD_TRUNCATED_IMAGES
rng = np.random.default_rng(20240601)
SIZE_BUDGET = 2_000_000
# Decoded synthetic images above this many pixels are checked by hash only.
MAX_STORED_PIXELS = 20_000


# --------------------------------------------------------------------------------------------
# Synthetic pixel data: smooth gradients plus noise, so resampling meets both slopes and edges.

def pattern(height, width, channels, maximum, noise=0.04):
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    planes = []
    for c in range(channels):
        phase = 1.7 * c
        base = 0.5 + 0.35 * np.sin(x / (3.0 + 2 * c) + phase) * np.cos(y / (4.0 + c) - phase)
        base += 0.15 * ((x + 2 * y + 5 * c) % 11) / 11
        planes.append(base)
    values = np.stack(planes, axis=-1)
    values = values + rng.normal(0, noise, values.shape)
    return np.clip(np.rint(values * maximum), 0, maximum).astype(np.int64)


def gray16_pattern(height, width, noise=0.04):
    """16-bit gray spanning both sides of 255: Pillow clips I;16 to 255 when converting to RGB."""
    values = pattern(height, width, 1, 65535, noise)
    small = rng.integers(0, 300, values.shape)
    mask = (np.add.outer(np.arange(height), np.arange(width)) % 3 == 0)[..., None]
    return np.where(mask, small, values)


def shapes(height, width, channels, maximum):
    """Gradients, flat discs and bars, and a checkerboard patch: hard edges make bicubic overshoot
    and clip, and the picture compresses well enough for the larger fixtures."""
    y, x = np.mgrid[0:height, 0:width]
    image = np.stack([(x * (c + 1) * maximum // (3 * width) + y * maximum // (2 * height)) % (maximum + 1)
                      for c in range(channels)], axis=-1)
    for _ in range(12):
        cy, cx = rng.integers(0, height), rng.integers(0, width)
        radius = rng.integers(3, max(4, min(height, width) // 4))
        if rng.random() < 0.5:
            mask = (y - cy) ** 2 + (x - cx) ** 2 < radius ** 2
        else:
            mask = (abs(y - cy) < radius) & (abs(x - cx) < radius // 2 + 1)
        image[mask] = rng.integers(0, maximum + 1, channels)
    image[((y // 2 + x // 2) % 2 == 0) & (y < height // 5) & (x > width * 3 // 4)] = maximum
    return image


# --------------------------------------------------------------------------------------------
# A PNG encoder for the variants Pillow does not write. Rows cycle through all five filter types.

ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def png_chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def pack_row(row, bit_depth):
    """row: (width * channels,) ints -> bytes of one unfiltered scanline."""
    if bit_depth == 16:
        return row.astype(">u2").tobytes()
    if bit_depth == 8:
        return row.astype(np.uint8).tobytes()
    per_byte = 8 // bit_depth
    padded = np.zeros(-(-len(row) // per_byte) * per_byte, dtype=np.int64)
    padded[: len(row)] = row
    padded = padded.reshape(-1, per_byte)
    shifts = bit_depth * np.arange(per_byte - 1, -1, -1)
    return (padded << shifts).sum(axis=1).astype(np.uint8).tobytes()


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def filter_rows(rows, bpp):
    out = bytearray()
    prior = bytes(len(rows[0])) if rows else b""
    for index, row in enumerate(rows):
        kind = index % 5
        encoded = bytearray(len(row))
        for i, value in enumerate(row):
            a = row[i - bpp] if i >= bpp else 0
            b = prior[i]
            c = prior[i - bpp] if i >= bpp else 0
            predictor = [0, a, b, (a + b) // 2, paeth(a, b, c)][kind]
            encoded[i] = (value - predictor) & 0xFF
        out.append(kind)
        out += encoded
        prior = row
    return bytes(out)


def encode_png(samples, color_type, bit_depth, palette=None, trns=None, interlace=False,
               extra_chunks=(), idat_pieces=1):
    """samples: (H, W, C) ints already in the file's range (palette indices for colour type 3)."""
    height, width, channels = samples.shape
    assert channels == CHANNELS[color_type]
    bpp = max(1, channels * bit_depth // 8)
    raw = b""
    for x0, y0, dx, dy in (ADAM7 if interlace else [(0, 0, 1, 1)]):
        sub = samples[y0::dy, x0::dx]
        if sub.shape[0] == 0 or sub.shape[1] == 0:
            continue  # empty passes have no scanlines at all
        rows = [pack_row(r.reshape(-1), bit_depth) for r in sub]
        raw += filter_rows(rows, bpp)
    data = zlib.compress(raw, 9)
    cuts = np.linspace(0, len(data), idat_pieces + 1).astype(int)
    out = b"\x89PNG\r\n\x1a\n"
    out += png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, int(interlace)))
    for tag, body in extra_chunks:
        out += png_chunk(tag, body)
    if palette is not None:
        out += png_chunk(b"PLTE", bytes(np.asarray(palette, dtype=np.uint8).reshape(-1)))
    if trns is not None:
        out += png_chunk(b"tRNS", trns)
    for start, end in zip(cuts[:-1], cuts[1:]):
        out += png_chunk(b"IDAT", data[start:end])
    return out + png_chunk(b"IEND", b"")


def png_variant(kind, depth, height, width, with_trns=False, noise=0.04, **options):
    """PNG bytes for a colour type at a bit depth, with a fitting tRNS chunk when asked."""
    maximum = (1 << depth) - 1

    def plane(channels, top=maximum):
        return pattern(height, width, channels, top, noise)

    def gray():
        return gray16_pattern(height, width, noise) if depth == 16 else plane(1)

    if kind == "gray":
        return encode_png(gray(), 0, depth, trns=struct.pack(">H", maximum // 2) if with_trns else None, **options)
    if kind == "graya":
        return encode_png(np.concatenate([gray(), plane(1)[..., ::-1]], axis=-1), 4, depth, **options)
    if kind == "pal":
        entries = min(256, 1 << depth)
        alpha = bytes(rng.integers(0, 256, entries // 2).astype(np.uint8)) if with_trns else None
        return encode_png(plane(1, entries - 1), 3, depth, palette=rng.integers(0, 256, (entries, 3)), trns=alpha,
                          **options)
    if kind == "rgb":
        samples = plane(3)
        key = struct.pack(">HHH", *samples[0, 0]) if with_trns else None
        return encode_png(samples, 2, depth, trns=key, **options)
    if kind == "rgba":
        return encode_png(plane(4), 6, depth, **options)
    raise ValueError(kind)


PNG_TYPES = [("gray", 1), ("gray", 2), ("gray", 4), ("gray", 8), ("gray", 16), ("graya", 8), ("graya", 16),
             ("pal", 1), ("pal", 2), ("pal", 4), ("pal", 8), ("rgb", 8), ("rgb", 16), ("rgba", 8), ("rgba", 16)]


# --------------------------------------------------------------------------------------------
# JPEGs, written by Pillow.

def jpeg_bytes(image, **options):
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", **options)
    return buffer.getvalue()


def rgb_image(height, width):
    return Image.fromarray(pattern(height, width, 3, 255).astype(np.uint8), "RGB")


def exif_with_orientation(orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def china_photo():
    """scikit-learn's china.jpg (640x427, 196 kB) downscaled to 360x240."""
    path = Path(sklearn.__file__).parent / "datasets" / "images" / "china.jpg"
    with Image.open(path) as photo:
        return photo.convert("RGB").resize((360, 240), Image.Resampling.LANCZOS)


# --------------------------------------------------------------------------------------------
# Broken files.

def with_huge_png_dimensions(png):
    ihdr = bytearray(png[16:29])
    ihdr[0:8] = struct.pack(">II", 100_000, 100_000)
    chunk = struct.pack(">I", 13) + b"IHDR" + bytes(ihdr) + struct.pack(">I", zlib.crc32(b"IHDR" + bytes(ihdr)) & 0xFFFFFFFF)
    return png[:8] + chunk + png[33:]


def with_huge_jpeg_dimensions(jpeg):
    data = bytearray(jpeg)
    sof = next(i for i in range(2, len(data) - 1) if data[i] == 0xFF and data[i + 1] in (0xC0, 0xC1, 0xC2))
    data[sof + 5:sof + 9] = struct.pack(">HH", 65000, 65000)
    return bytes(data)


def with_bad_ihdr_crc(png):
    data = bytearray(png)
    data[29] ^= 0xFF
    return bytes(data)


def with_garbage_idat(png):
    start = png.index(b"IDAT") + 4
    length = struct.unpack(">I", png[start - 8:start - 4])[0]
    garbage = bytes(rng.integers(0, 256, length).astype(np.uint8))
    body = b"IDAT" + garbage
    return png[:start - 4] + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF) + png[start + length + 4:]


def without_scans(jpeg):
    sos = jpeg.index(b"\xff\xda")
    return jpeg[:sos] + b"\xff\xd9"


# --------------------------------------------------------------------------------------------
# Preprocessing: torchvision's own transforms on the Pillow image.

IMAGENET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
MNIST = {"mean": [0.1307], "std": [0.3081]}
MODES = {"nearest": InterpolationMode.NEAREST, "bilinear": InterpolationMode.BILINEAR,
         "bicubic": InterpolationMode.BICUBIC}
MODES_PIL = {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR,
             "bicubic": Image.Resampling.BICUBIC}


def setting(resize, crop, interpolation="bilinear", grayscale=False):
    stats = MNIST if grayscale else IMAGENET
    return {"resizeSize": resize, "cropSize": crop, "interpolation": interpolation, "grayscale": grayscale, **stats}


def torchvision_pipeline(s):
    """The steps PthKit's Preprocessing mirrors, as torchvision transforms; the uint8 image before
    the float conversion is returned too."""
    steps = []
    if s["grayscale"]:
        steps.append(T.Grayscale(num_output_channels=1))
    if s["resizeSize"] is not None:
        steps.append(T.Resize(s["resizeSize"], interpolation=MODES[s["interpolation"]], antialias=True))
    if s["cropSize"] is not None:
        steps.append(T.CenterCrop(s["cropSize"]))
    to_uint8 = T.Compose(steps + [T.PILToTensor()])
    to_float = T.Compose([T.ConvertImageDtype(torch.float), T.Normalize(s["mean"], s["std"])])
    return to_uint8, to_float


def preprocess(image, s):
    to_uint8, to_float = torchvision_pipeline(s)
    crop = to_uint8(image)
    tensor = to_float(crop).unsqueeze(0)
    if not s["grayscale"] and s["resizeSize"] is not None and s["cropSize"] is not None:
        # The pipeline above is the weights' own transform, step for step.
        preset = ImageClassification(crop_size=s["cropSize"], resize_size=s["resizeSize"], mean=s["mean"],
                                     std=s["std"], interpolation=MODES[s["interpolation"]])
        assert torch.equal(preset(image).unsqueeze(0), tensor)
    # The float step is exactly (uint8 / 255 - mean) / std in float32, so a test may rebuild the
    # tensor from the uint8 crop.
    rebuilt = (crop.numpy().astype(np.float32) / np.float32(255)
               - np.array(s["mean"], np.float32)[:, None, None]) / np.array(s["std"], np.float32)[:, None, None]
    assert np.array_equal(rebuilt[None], tensor.numpy())
    return crop.permute(1, 2, 0).numpy(), tensor.numpy().astype(np.float32)


SMALL = [("r32_c28_bilinear", setting(32, 28)),
         ("r32_c28_bicubic", setting(32, 28, "bicubic")),
         ("r32_c28_nearest", setting(32, 28, "nearest")),
         ("gray_r32_c28_bilinear", setting(32, 28, grayscale=True)),
         ("c28_pad", setting(None, 28)),
         ("r20_c28_pad", setting(20, 28, "bicubic")),
         ("r9_nocrop_bicubic", setting(9, None, "bicubic"))]
LARGE = [("r256_c224_bilinear", setting(256, 224)),
         ("r232_c224_bilinear", setting(232, 224)),
         ("r256_c224_bicubic", setting(256, 224, "bicubic"))]


# --------------------------------------------------------------------------------------------

class Writer:
    def __init__(self, out):
        self.out = out
        self.images, self.broken, self.cases, self.resizes = [], [], [], []

    def write(self, name, data):
        (self.out / name).write_bytes(data)
        return name

    def sha256(self, array):
        return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()

    def image(self, name, data, note, store_rgb=None):
        self.write(name, data)
        with Image.open(io.BytesIO(data)) as opened:
            mode = opened.mode
            rgb = np.asarray(opened.convert("RGB"))
        entry = {"file": name, "note": note, "pillowMode": mode, "width": rgb.shape[1], "height": rgb.shape[0],
                 "rgbSHA256": self.sha256(rgb)}
        if store_rgb or (store_rgb is None and rgb.shape[0] * rgb.shape[1] <= MAX_STORED_PIXELS):
            entry["rgb"] = name + ".rgb.npy"
            np.save(self.out / entry["rgb"], rgb)
        self.images.append(entry)
        return name

    def broken_file(self, name, data, note):
        self.write(name, data)
        try:
            with Image.open(io.BytesIO(data)) as opened:
                opened.convert("RGB")
        except Exception as error:  # noqa: BLE001 - any refusal will do
            message = re.sub(r" at 0x[0-9a-f]+", "", f"{type(error).__name__}: {error}")  # no object addresses
            self.broken.append({"file": name, "note": note, "pillowError": message})
            return
        raise AssertionError(f"Pillow accepts {name}, so it is not broken")

    def resize(self, image_name, width, height, interpolation):
        """Pillow's Image.resize to any size, each axis on its own (torchvision only ever asks for
        the aspect-preserving size): the sizes below make either pass run or be skipped."""
        with Image.open(self.out / image_name) as opened:
            resized = opened.convert("RGB").resize((width, height), MODES_PIL[interpolation])
        name = f"{image_name}.resize_{width}x{height}_{interpolation}.npy"
        np.save(self.out / name, np.asarray(resized))
        self.resizes.append({"image": image_name, "width": width, "height": height, "interpolation": interpolation,
                             "pixels": name})

    def case(self, image_name, setting_name, s):
        with Image.open(self.out / image_name) as opened:
            image = opened.convert("RGB")
        crop, tensor = preprocess(image, s)
        stem = f"{image_name}.{setting_name}"
        entry = {"image": image_name, "name": setting_name, "setting": s, "shape": list(tensor.shape),
                 "tensorSHA256": self.sha256(tensor)}
        if crop.shape[0] * crop.shape[1] <= 64 * 64:
            entry["tensor"] = stem + ".tensor.npy"
            np.save(self.out / entry["tensor"], tensor)
        else:
            entry["crop"] = stem + ".crop.png"
            Image.fromarray(crop.squeeze(-1) if crop.shape[-1] == 1 else crop).save(self.out / entry["crop"])
        self.cases.append(entry)


def build(w):
    # PNG: every colour type and depth, plain at 29x19 and Adam7-interlaced at 13x11 (all 7 passes).
    for kind, depth in PNG_TYPES:
        w.image(f"png_{kind}{depth}_29x19.png", png_variant(kind, depth, 19, 29), f"{kind} {depth}-bit")
        w.image(f"png_{kind}{depth}_interlaced_13x11.png", png_variant(kind, depth, 11, 13, interlace=True),
                f"{kind} {depth}-bit, Adam7")
    for kind, depth in [("gray", 8), ("gray", 16), ("pal", 4), ("pal", 8), ("rgb", 8), ("rgb", 16)]:
        w.image(f"png_{kind}{depth}_trns_29x19.png", png_variant(kind, depth, 19, 29, with_trns=True),
                f"{kind} {depth}-bit with tRNS (ignored by convert('RGB'))")
    # A palette shorter than the indices used: Pillow looks such indices up in its default palette.
    w.image("png_pal8_short_plte_17x9.png", encode_png(pattern(9, 17, 1, 255), 3, 8, palette=rng.integers(0, 256, (40, 3))),
            "indices beyond a 40-entry PLTE")
    w.image("png_rgb8_1x1.png", png_variant("rgb", 8, 1, 1), "one pixel")
    w.image("png_gray1_interlaced_1x1.png", png_variant("gray", 1, 1, 1, interlace=True), "one pixel, Adam7")
    w.image("png_rgb8_interlaced_7x3.png", png_variant("rgb", 8, 3, 7, interlace=True), "Adam7 with empty passes")
    w.image("png_rgba8_7x3.png", png_variant("rgba", 8, 3, 7), "tiny RGBA")
    w.image("png_rgb8_37x53.png", png_variant("rgb", 8, 53, 37), "small RGB")
    w.image("png_rgb8_ancillary_37x53.png",
            png_variant("rgb", 8, 53, 37, idat_pieces=4,
                        extra_chunks=[(b"gAMA", struct.pack(">I", 100000)), (b"sBIT", b"\x05\x06\x05"),
                                      (b"tEXt", b"Comment\x00not applied"), (b"prVt", b"private")]),
            "gAMA, sBIT, text and private chunks, IDAT in 4 pieces: none change pixels")
    w.image("png_rgb8_300x199.png", encode_png(shapes(199, 300, 3, 255), 2, 8), "larger RGB")
    w.image("png_rgb8_interlaced_513x257.png", encode_png(shapes(257, 513, 3, 255), 2, 8, interlace=True),
            "larger RGB, Adam7")

    # JPEG.
    base = rgb_image(53, 37)
    w.image("jpeg_420_37x53.jpg", jpeg_bytes(base, quality=90, subsampling=2), "baseline 4:2:0")
    w.image("jpeg_422_37x53.jpg", jpeg_bytes(base, quality=90, subsampling=1), "baseline 4:2:2")
    w.image("jpeg_444_37x53.jpg", jpeg_bytes(base, quality=90, subsampling=0), "baseline 4:4:4")
    w.image("jpeg_progressive_37x53.jpg", jpeg_bytes(base, quality=85, progressive=True), "progressive 4:2:0")
    w.image("jpeg_optimized_restart_37x53.jpg",
            jpeg_bytes(base, quality=75, optimize=True, restart_marker_blocks=3), "optimized Huffman, restarts")
    w.image("jpeg_gray_37x53.jpg", jpeg_bytes(base.convert("L"), quality=90), "grayscale")
    w.image("jpeg_cmyk_37x53.jpg", jpeg_bytes(base.convert("CMYK"), quality=90), "Adobe CMYK")
    w.image("jpeg_exif_rotate90_37x53.jpg", jpeg_bytes(base, quality=90, exif=exif_with_orientation(6)),
            "EXIF orientation 6, not applied")
    w.image("jpeg_420_7x3.jpg", jpeg_bytes(rgb_image(3, 7), quality=95), "tiny 4:2:0")
    w.image("jpeg_1x1.jpg", jpeg_bytes(rgb_image(1, 1), quality=95), "one pixel")
    w.image("jpeg_progressive_300x199.jpg", jpeg_bytes(rgb_image(199, 300), quality=80, progressive=True),
            "larger progressive")
    photo = china_photo()
    w.image("photo_china_crop_96x64.jpg", jpeg_bytes(photo.crop((150, 80, 246, 144)), quality=90),
            "a crop of scikit-learn's china.jpg")
    w.image("photo_china_360x240.jpg", jpeg_bytes(photo, quality=85), "scikit-learn's china.jpg, downscaled",
            store_rgb=True)

    # Broken.
    good_png = png_variant("rgb", 8, 53, 37)
    good_jpeg = jpeg_bytes(base, quality=90)
    progressive = jpeg_bytes(base, quality=90, progressive=True)
    w.broken_file("broken_empty.png", b"", "zero bytes")
    w.broken_file("broken_magic.jpg", b"GIF89a" + bytes(40), "neither PNG nor JPEG")
    w.broken_file("broken_truncated.png", good_png[: len(good_png) // 2], "ends inside IDAT")
    w.broken_file("broken_truncated_header.png", good_png[:20], "ends inside IHDR")
    w.broken_file("broken_truncated.jpg", good_jpeg[: len(good_jpeg) // 2], "ends inside the scan")
    w.broken_file("broken_truncated_progressive.jpg", progressive[: len(progressive) * 2 // 3], "ends mid-scans")
    w.broken_file("broken_huge.png", with_huge_png_dimensions(good_png), "IHDR claims 100000x100000")
    w.broken_file("broken_huge.jpg", with_huge_jpeg_dimensions(good_jpeg), "SOF claims 65000x65000")
    w.broken_file("broken_ihdr_crc.png", with_bad_ihdr_crc(good_png), "IHDR checksum wrong")
    w.broken_file("broken_idat.png", with_garbage_idat(good_png), "IDAT is not a zlib stream")
    w.broken_file("broken_no_scan.jpg", without_scans(good_jpeg), "tables and frame, no scan")

    # Resizing alone, to sizes torchvision would not pick.
    for width, height in [(1, 1), (3, 2), (36, 52), (38, 54), (11, 97), (5, 53), (37, 20), (60, 61)]:
        for interpolation in MODES_PIL:
            w.resize("png_rgb8_37x53.png", width, height, interpolation)

    # Preprocessing: every small setting on the larger inputs, the padding-prone ones on tiny inputs.
    for image_name in ["photo_china_360x240.jpg", "png_rgb8_300x199.png", "jpeg_420_37x53.jpg"]:
        for name, s in SMALL:
            w.case(image_name, name, s)
    for image_name in ["png_rgba8_7x3.png", "png_rgb8_1x1.png", "png_pal8_short_plte_17x9.png"]:
        for name, s in SMALL:
            if name in ("c28_pad", "r20_c28_pad", "r32_c28_bilinear", "r32_c28_nearest", "gray_r32_c28_bilinear"):
                w.case(image_name, name, s)
    w.case("png_rgb8_interlaced_513x257.png", "r32_c28_bicubic", setting(32, 28, "bicubic"))
    for name, s in LARGE:
        w.case("photo_china_360x240.jpg", name, s)
    w.case("png_rgb8_300x199.png", "r256_c224_bicubic", LARGE[2][1])
    w.case("png_rgb8_interlaced_513x257.png", "r232_c224_bilinear", LARGE[1][1])
    w.case("jpeg_420_37x53.jpg", "r256_c224_bilinear", LARGE[0][1])
    w.case("png_rgb8_300x199.png", "r256_c224_nearest", setting(256, 224, "nearest"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="directory to (re)create")
    out = parser.parse_args().out
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    w = Writer(out)
    build(w)
    manifest = {"images": w.images, "broken": w.broken, "resize": w.resizes, "preprocessing": w.cases}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    total = sum(p.stat().st_size for p in out.iterdir())
    print(f"{len(w.images)} images, {len(w.broken)} broken files, {len(w.resizes)} resizes, "
          f"{len(w.cases)} preprocessing cases, "
          f"{total / 1e6:.2f} MB in {out}", file=sys.stderr)
    assert total < SIZE_BUDGET, f"fixtures take {total} bytes, over the {SIZE_BUDGET} budget"


if __name__ == "__main__":
    main()
