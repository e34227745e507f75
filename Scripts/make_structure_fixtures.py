#!/usr/bin/env python3
"""Writes the structure of every torchvision classification model: for each name of
`torchvision.models.list_models(module=torchvision.models)`, built with default arguments, torch's
`state_dict()` keys in order with each shape and dtype, and `sum(p.numel() for p in model.parameters())`;
and the same for the design notebook's builders that PthKit serves under torchvision's names
(design_docs/pytorch_models_notebook_cells), with the --arg values that build them in PthKit.

    make_structure_fixtures.py --out DIR        # DIR/structure.json

Models are built on the meta device, so vit_h_14 and regnet_y_128gf cost no memory and no time for
random values. Tests/PthKitTests/Models/ModelStructureTests.swift builds each name PthKit has and
compares.
"""
import argparse
import contextlib
import json
import os
import sys

import torch
import torchvision
import torchvision.models.regnet

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "oracle"))
from design_docs import pytorch_models_notebook_cells as notebook  # noqa: E402


@contextlib.contextmanager
def regnet_on_meta():
    """RegNet's builders compute their block widths with torch tensors and `.tolist()`, which has no
    data on the meta device; so only the RegNet constructor runs on meta, the width arithmetic on the CPU."""
    cpu_class = torchvision.models.regnet.RegNet

    def on_meta(*args, **kwargs):
        with torch.device("meta"):
            return cpu_class(*args, **kwargs)

    torchvision.models.regnet.RegNet = on_meta
    try:
        yield
    finally:
        torchvision.models.regnet.RegNet = cpu_class


def build_on_meta(build):
    with torch.device("meta"):
        try:
            return build()
        except NotImplementedError:  # "Cannot copy out of meta tensor": see regnet_on_meta
            pass
    with regnet_on_meta():
        return build()


def structure(build):
    model = build_on_meta(build)
    state = model.state_dict()
    assert all(t.device.type == "meta" for t in state.values()), "a tensor was built with real storage"
    return dict(parameters=sum(p.numel() for p in model.parameters()),
                state_dict=[[key, list(t.shape), str(t.dtype).removeprefix("torch.")] for key, t in state.items()])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    options = parser.parse_args()
    os.makedirs(options.out, exist_ok=True)
    torch.manual_seed(0)
    models = {}
    for name in torchvision.models.list_models(module=torchvision.models):
        models[name] = structure(lambda: torchvision.models.get_model(name, weights=None))
        print(f"{name}: {len(models[name]['state_dict'])} tensors, {models[name]['parameters']} parameters",
              file=sys.stderr)
    variants = {}
    for case, (model, args, build) in notebook.STRUCTURE.items():
        variants[case] = dict(model=model, args=args, source=f"design-docs/{notebook.DOCUMENT}", **structure(build))
    with open(os.path.join(options.out, "structure.json"), "w") as handle:
        json.dump(dict(torchvision=torchvision.__version__, models=models, design_doc_variants=variants), handle)


if __name__ == "__main__":
    main()
