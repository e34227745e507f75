#!/usr/bin/env python3
"""Writes ModelsManifest.json: every model name PthKit builds, with its family, builder defaults,
default input size and preprocessing; and every official weight file of every torchvision
classification model (all of `get_model_weights(name)` for each name of `list_models`, whether PthKit
builds that model yet or not), keyed by model name, each with its own `transforms()` settings, all read
from torchvision's own weight metadata, plus the older official files the design documents link to.
Also writes the Swift file that embeds it.

    make_models_manifest.py            # rewrites ModelsManifest.json and its embedded copy
"""
import json
import math
import os

import torchvision
from torch.hub import HASH_REGEX
from torchvision.transforms import InterpolationMode

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
IMAGENET_CATEGORIES = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["categories"]

# torchvision names by family, with the builder arguments PthKit accepts and their defaults.
TORCHVISION = {
    "alexnet": (["alexnet"], {"num_classes": 1000, "dropout": 0.5}),
    "vgg": (["vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"],
            {"num_classes": 1000, "dropout": 0.5}),
    "googlenet": (["googlenet"], {"num_classes": 1000, "aux_logits": True, "transform_input": False}),
    "resnet": (["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d", "resnext101_32x8d",
                "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2"], {"num_classes": 1000}),
    "mobilenet_v2": (["mobilenet_v2"], {"num_classes": 1000, "width_mult": 1.0, "round_nearest": 8, "dropout": 0.2}),
    "mobilenet_v3": (["mobilenet_v3_large", "mobilenet_v3_small"],
                     {"num_classes": 1000, "width_mult": 1.0, "reduced_tail": False, "dilated": False, "dropout": 0.2}),
    "shufflenet_v2": (["shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0"],
                      {"num_classes": 1000}),
    "efficientnet": ([f"efficientnet_b{i}" for i in range(8)], {"num_classes": 1000}),
    "squeezenet": (["squeezenet1_0", "squeezenet1_1"], {"num_classes": 1000, "dropout": 0.5}),
    "densenet": (["densenet121", "densenet161", "densenet169", "densenet201"],
                 {"num_classes": 1000, "bn_size": 4, "drop_rate": 0.0, "memory_efficient": False}),
    "mnasnet": (["mnasnet0_5", "mnasnet0_75", "mnasnet1_0", "mnasnet1_3"], {"num_classes": 1000, "dropout": 0.2}),
    "regnet": ([f"regnet_x_{size}" for size in ["400mf", "800mf", "1_6gf", "3_2gf", "8gf", "16gf", "32gf"]]
               + [f"regnet_y_{size}" for size in ["400mf", "800mf", "1_6gf", "3_2gf", "8gf", "16gf", "32gf", "128gf"]],
               {"num_classes": 1000, "stem_width": 32}),
    "inception_v3": (["inception_v3"], {"num_classes": 1000, "aux_logits": True, "transform_input": False,
                                        "dropout": 0.5}),
    "efficientnet_v2": ([f"efficientnet_v2_{size}" for size in "sml"], {"num_classes": 1000}),
    "convnext": (["convnext_tiny", "convnext_small", "convnext_base", "convnext_large"],
                 {"num_classes": 1000, "layer_scale": 1e-6}),
    "vision_transformer": (["vit_b_16", "vit_b_32", "vit_l_16", "vit_l_32", "vit_h_14"],
                           {"num_classes": 1000, "image_size": 224, "dropout": 0.0, "attention_dropout": 0.0}),
    "swin_transformer": (["swin_t", "swin_s", "swin_b", "swin_v2_t", "swin_v2_s", "swin_v2_b"],
                         {"num_classes": 1000, "mlp_ratio": 4.0, "dropout": 0.0, "attention_dropout": 0.0}),
    "maxvit": (["maxvit_t"], {"num_classes": 1000, "input_size": "224,224", "squeeze_ratio": 0.25,
                              "expansion_ratio": 4, "mlp_ratio": 4, "mlp_dropout": 0.0, "attention_dropout": 0.0}),
}

EFFICIENTNET_RESOLUTIONS = [224, 240, 260, 300, 380, 456, 528, 600]
# (width, depth, dropout) of the lettered EfficientNet variants, as efficientnet-v1-notes.md has them.
LETTERED = [(1.0, 1.0, 0.2), (1.0, 1.1, 0.2), (1.1, 1.2, 0.3), (1.2, 1.4, 0.3), (1.4, 1.8, 0.4), (1.6, 2.2, 0.4),
            (1.8, 2.6, 0.5), (2.0, 3.1, 0.5)]


def imagenet_preprocessing(size, resize=None, interpolation="bilinear"):
    return dict(resize_size=resize or int(round(size * 256 / 224)), crop_size=size, interpolation=interpolation,
                antialias=True, mean=IMAGENET_MEAN, std=IMAGENET_STD)


# The design documents' own networks: family, document, builder defaults, input size, preprocessing.
DESIGN_DOCS = [
    ("lenet5", "lenet5", "pytorch-models-notebook.md", {}, [1, 28, 28],
     dict(resize_size=28, crop_size=28, interpolation="bilinear", antialias=True, mean=[0.5], std=[0.5],
          grayscale=True)),
    ("alexnet_half", "alexnet_half", "pytorch-models-notebook.md", {"num_classes": 1000, "init_weights": False},
     [3, 224, 224],
     imagenet_preprocessing(224)),
    ("googlenet_nobn", "googlenet_nobn", "pytorch-models-notebook.md", {"num_classes": 1000, "aux_logits": True,
                                                                  "init_weights": False},
     [3, 224, 224], imagenet_preprocessing(224)),
    ("mobilenet_v1", "mobilenet_v1", "mobilenet-chapter.md", {"ch_in": 3, "n_classes": 1000}, [3, 224, 224],
     imagenet_preprocessing(224)),
    ("vgg16_flat", "vgg16_lesson", "lesson-16-architectures.md", {}, [3, 224, 224], imagenet_preprocessing(224)),
    ("vgg16_lesson", "vgg16_lesson", "lesson-16-architectures.md", {}, [3, 224, 224], imagenet_preprocessing(224)),
    ("nin", "nin", "lesson-16-architectures.md", {}, [3, 32, 32], None),
    ("googlenet_lesson", "googlenet_lesson", "lesson-16-architectures.md", {"num_classes": 1000}, [3, 224, 224],
     imagenet_preprocessing(224)),
] + [
    (f"resnet{depth}_lesson", "resnet_lesson", "lesson-16-architectures.md", {"num_classes": 1000}, [3, 224, 224],
     imagenet_preprocessing(224)) for depth in [18, 34, 50, 101, 152]
] + [
    (f"efficientnet_b{i}_lettered", "efficientnet_lettered", "efficientnet-v1-notes.md",
     {"num_classes": 1000, "width_coefficient": LETTERED[i][0], "depth_coefficient": LETTERED[i][1],
      "dropout_rate": LETTERED[i][2], "drop_connect_rate": 0.2},
     [3, size, size], imagenet_preprocessing(size, interpolation="bicubic"))
    for i, size in enumerate(EFFICIENTNET_RESOLUTIONS)
] + [
    (f"efficientnet_b{i}_same", "efficientnet_same", "efficientnet-v1-same-padding-article.md",
     {"in_channels": 3, "n_classes": 1000, "in_spatial_shape": size}, [3, size, size],
     imagenet_preprocessing(size, interpolation="bicubic"))
    for i, size in enumerate(EFFICIENTNET_RESOLUTIONS)
]


# Builder arguments that come from a design document rather than torchvision, per torchvision name.
NOTEBOOK = "design-docs/pytorch-models-notebook.md"
DOCUMENT_ARGUMENTS = {
    "mobilenet_v2": {"alpha": NOTEBOOK},
    **{name: {"include_top": NOTEBOOK}
       for name in ["resnet34", "resnet50", "resnet101", "resnext50_32x4d", "resnext101_32x8d"]},
}


def interpolation_name(mode):
    """torchvision's InterpolationMode as the manifest spells it; a mode PthKit has no name for is an
    error here rather than a wrong resize later."""
    return {InterpolationMode.BILINEAR: "bilinear", InterpolationMode.BICUBIC: "bicubic",
            InterpolationMode.NEAREST: "nearest"}[mode]


def finite(value):
    """torchvision records NaN accuracy for weights it has not evaluated; JSON has no NaN."""
    return None if math.isnan(value) else value


def weight_preprocessing(transforms):
    """A weight's `transforms()` (torchvision's ImageClassification preset), field for field."""
    assert type(transforms).__name__ == "ImageClassification", transforms
    assert len(transforms.resize_size) == 1 and len(transforms.crop_size) == 1, transforms
    return dict(resize_size=transforms.resize_size[0], crop_size=transforms.crop_size[0],
                interpolation=interpolation_name(transforms.interpolation), antialias=transforms.antialias,
                mean=list(transforms.mean), std=list(transforms.std))


def sha256_prefix(file):
    """The hash in an official file name, found as torch.hub's check_hash finds it."""
    match = HASH_REGEX.search(file)
    return match.group(1) if match and match.group(1) else None


def label_set(weight):
    categories = weight.meta["categories"]
    if categories is None:  # vgg16's IMAGENET1K_FEATURES: only the features are meaningful
        return None
    assert categories == IMAGENET_CATEGORIES, f"{weight}: categories other than ImageNet-1k's"
    return "imagenet-1k"


def official_weight(weight, default):
    file = weight.url.rsplit("/", 1)[-1]
    metrics = weight.meta["_metrics"]["ImageNet-1K"]
    return dict(
        name=weight.name, file=file, url=weight.url, sha256_prefix=sha256_prefix(file), source="torchvision",
        default=weight == default, num_params=weight.meta["num_params"], min_size=list(weight.meta["min_size"]),
        labels=label_set(weight), acc1=finite(metrics["acc@1"]), acc5=finite(metrics["acc@5"]),
        preprocessing=weight_preprocessing(weight.transforms()))


# Official files the design documents link to that torchvision's enums no longer list: the original
# ResNet uploads, saved by torch < 1.6 (legacy format) and replaced by re-saved copies in torchvision 0.13.
# Same architecture and training recipe as the model's IMAGENET1K_V1; only the name's hash is known here.
DESIGN_DOC_FILES = [
    ("resnet34", "resnet34-333f7ec4.pth", "pytorch-models-notebook.md"),
    ("resnet50", "resnet50-19c8e357.pth", "pytorch-models-notebook.md"),
    ("resnet101", "resnet101-5d3b4d8f.pth", "pytorch-models-notebook.md"),
]


def design_doc_weight(model, file, document):
    v1 = torchvision.models.get_model_weights(model).IMAGENET1K_V1
    return dict(
        name="PRE_1_6_ORIGINAL", file=file, url=f"https://download.pytorch.org/models/{file}",
        sha256_prefix=sha256_prefix(file), source=f"design-docs/{document}", default=False,
        num_params=v1.meta["num_params"], min_size=list(v1.meta["min_size"]), labels=label_set(v1), acc1=None,
        acc5=None, preprocessing=weight_preprocessing(v1.transforms()))


def official_weights():
    """Every weight enum entry of every torchvision classification model, keyed by model name, whether
    PthKit builds the model yet or not, plus the design documents' older files."""
    table = {}
    for name in torchvision.models.list_models(module=torchvision.models):
        weights = torchvision.models.get_model_weights(name)
        table[name] = [official_weight(weight, weights.DEFAULT) for weight in weights]
    for model, file, document in DESIGN_DOC_FILES:
        assert all(w["file"] != file for w in table[model]), f"{file} is in torchvision's enums after all"
        table[model].append(design_doc_weight(model, file, document))
    files = [w["file"] for entries in table.values() for w in entries]
    assert len(files) == len(set(files)), "an official file name is listed twice"
    return table


def torchvision_entry(name, family, defaults):
    default = torchvision.models.get_model_weights(name).DEFAULT
    crop = default.transforms().crop_size[0]
    entry = dict(name=name, family=family, source="torchvision", arguments=defaults, input_size=[3, crop, crop],
                 preprocessing=weight_preprocessing(default.transforms()), labels=label_set(default))
    if name in DOCUMENT_ARGUMENTS:
        entry["document_arguments"] = DOCUMENT_ARGUMENTS[name]
    return entry


# Builder arguments torchvision's builders override for their weights (`_ovewrite_named_param`), beyond
# num_classes: ViT's image_size and MaxViT's input_size are set to the weight's min_size...
SIZE_ARGUMENT = {"vision_transformer": ("image_size", lambda size: size[0]),
                 "maxvit": ("input_size", lambda size: f"{size[0]},{size[1]}")}
# ...and GoogLeNet and Inception v3 switch transform_input on for every weight they load.
TRANSFORM_INPUT_FAMILIES = {"googlenet", "inception_v3"}
# Key rewrites torchvision's builders apply when they load a family's files (densenet.py's
# `_load_state_dict`: the files keep torchvision 0.2's `denselayerN.norm.1.weight`), as RenameRule text.
KEY_RENAMES = {"densenet": [r"re:^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$=$1$2"]}


def builder_arguments_for_weights(entry, table):
    """Records on each of the entry's official weights (`table[name]`) the builder arguments torchvision
    builds it with where they differ from the entry's defaults, and makes the entry's input_size the one
    its default arguments take."""
    weights = table.get(entry["name"], [])
    for weight in weights:
        if entry["family"] in KEY_RENAMES:
            weight["key_renames"] = KEY_RENAMES[entry["family"]]
    if entry["family"] in TRANSFORM_INPUT_FAMILIES:
        for weight in weights:
            weight["arguments"] = {"transform_input": True}
    if entry["family"] not in SIZE_ARGUMENT:
        return
    argument, value = SIZE_ARGUMENT[entry["family"]]
    default = entry["arguments"][argument]
    for weight in weights:
        if value(weight["min_size"]) != default:
            weight["arguments"] = {argument: value(weight["min_size"])}
    side = default if isinstance(default, int) else int(default.split(",")[0])
    entry["input_size"] = [3, side, side]


def main():
    models = []
    for family, (names, defaults) in TORCHVISION.items():
        models += [torchvision_entry(name, family, defaults) for name in names]
    for name, family, document, defaults, input_size, preprocessing in DESIGN_DOCS:
        entry = dict(name=name, family=family, source=f"design-docs/{document}", arguments=defaults,
                     input_size=input_size, weights=[])
        if preprocessing:
            entry["preprocessing"] = preprocessing
        models.append(entry)
    table = official_weights()
    for entry in models:
        builder_arguments_for_weights(entry, table)
    manifest = dict(models=models, official_weights=table, label_sets={"imagenet-1k": IMAGENET_CATEGORIES})
    text = json.dumps(manifest, indent=1, ensure_ascii=False, allow_nan=False) + "\n"
    with open(os.path.join(ROOT, "ModelsManifest.json"), "w") as handle:
        handle.write(text)
    swift = ("// Generated by Scripts/make_models_manifest.py from ModelsManifest.json; do not edit.\n"
             "// Embedded so the library needs no resource bundle at run time.\n\n"
             # The blank line keeps the file's final newline: a multi-line literal drops the last one.
             "let embeddedModelsManifest = #\"\"\"\n" + text + "\n\"\"\"#\n")
    with open(os.path.join(ROOT, "Sources/PthKitModels/Models/EmbeddedModelsManifest.swift"), "w") as handle:
        handle.write(swift)


if __name__ == "__main__":
    main()
