#!/usr/bin/env python3
"""Writes the oracle for "classify with an official file preprocesses as that weight's transforms()":
two photographs as PNG, and for every official weight file in ModelsManifest.json (every torchvision
weight enum entry, and the design documents' older files, whose transforms are their model's
IMAGENET1K_V1 ones) the sha256 of the float32 tensor that torchvision's own `weights.transforms()` makes
of each photograph, opened with Pillow as torchvision's loaders open it.

    make_weight_transform_fixtures.py --out DIR      # DIR/{weights.json, *.png}

Tests/PthKitTests/Vision/WeightTransformTests.swift asks the manifest for each file's preprocessing and
compares the tensors it makes. Hashes keep the folder small (the largest crop is 518 x 518);
Tests/PthKitTests/Vision/PreprocessingTests.swift has value-by-value comparisons for diagnosis.
"""
import argparse
import hashlib
import json
import os

import numpy as np
import torchvision
from PIL import Image
from sklearn.datasets import load_sample_image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# One photograph larger than every crop (downscaling) and a crop of it smaller than most (upscaling,
# where bicubic overshoots and clips), both with odd aspect ratios so the crop offsets round.
IMAGES = {"china_640x427.png": None, "china_crop_203x150.png": (151, 99, 354, 249)}


def tensor_sha256(tensor):
    return hashlib.sha256(np.ascontiguousarray(tensor.numpy().astype("<f4")).tobytes()).hexdigest()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    options = parser.parse_args()
    os.makedirs(options.out, exist_ok=True)
    photo = Image.fromarray(load_sample_image("china.jpg"))
    images = {}
    for name, box in IMAGES.items():
        (photo.crop(box) if box else photo).save(os.path.join(options.out, name))
        with Image.open(os.path.join(options.out, name)) as opened:
            images[name] = opened.convert("RGB")

    with open(os.path.join(ROOT, "ModelsManifest.json")) as handle:
        official = json.load(handle)["official_weights"]
    cases = []
    for model, files in official.items():
        enum = torchvision.models.get_model_weights(model)
        for entry in files:
            # The design documents' older files have their model's IMAGENET1K_V1 recipe.
            weight = enum[entry["name"]] if entry["source"] == "torchvision" else enum.IMAGENET1K_V1
            transforms = weight.transforms()
            for image_name, image in images.items():
                tensor = transforms(image)
                cases.append(dict(model=model, weights=entry["name"], file=entry["file"], image=image_name,
                                  shape=[1] + list(tensor.shape), tensor_sha256=tensor_sha256(tensor)))
    with open(os.path.join(options.out, "weights.json"), "w") as handle:
        json.dump(dict(torchvision=torchvision.__version__, cases=cases), handle, indent=1)


if __name__ == "__main__":
    main()
