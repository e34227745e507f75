#!/usr/bin/env python3
"""Writes the oracle for `EfficientNet.loadPretrained` (efficientnet_bN_same): the article's own
`_load_state`, run in PyTorch on the state dict of a 3-channel 1000-class B0 instead of the download.

    make_efficientnet_load_fixtures.py --out DIR

DIR/pretrained.pth is that state dict (about 21 MB, hence generated rather than committed);
DIR/cases.json lists, for target models with other `in_channels`/`n_classes`, what `_load_state`
popped and the missing and unexpected keys `load_state_dict` reported.
"""
import argparse
import json
import os
import sys
from unittest import mock

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "oracle"))
import zoo  # noqa: E402,F401  (imports design_docs after defining `register`)
from design_docs import efficientnet_same_padding as article  # noqa: E402

# The paddings do not change any parameter; a small fixed size keeps construction cheap.
IN_SPATIAL_SHAPE = 32


def load_state(model, state_dict, b=0):
    """Runs `model._load_state` as written, with `model_zoo.load_url` answering `state_dict` and the
    result of `load_state_dict` (which `_load_state` drops) kept."""
    results = []
    original = model.load_state_dict

    def recording_load_state_dict(*args, **kwargs):
        results.append((original(*args, **kwargs), kwargs.get("strict")))
        return results[-1][0]

    model.load_state_dict = recording_load_state_dict
    copy = dict(state_dict)
    with mock.patch.object(article.model_zoo, "load_url", lambda *args, **kwargs: copy):
        model._load_state(b, model.in_channels, model.fc.out_features, progress=False)
    popped = [key for key in state_dict if key not in copy]
    (incompatible, strict), = results
    return dict(popped=popped, strict=strict, missing_keys=list(incompatible.missing_keys),
                unexpected_keys=list(incompatible.unexpected_keys))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    options = parser.parse_args()
    os.makedirs(options.out, exist_ok=True)
    torch.manual_seed(0)
    pretrained = article.EfficientNet(0, in_spatial_shape=IN_SPATIAL_SHAPE).state_dict()
    torch.save(pretrained, os.path.join(options.out, "pretrained.pth"))
    cases = []
    for in_channels, n_classes in [(1, 10), (3, 10), (1, 1000), (3, 1000)]:
        model = article.EfficientNet(0, in_channels=in_channels, n_classes=n_classes,
                                     in_spatial_shape=IN_SPATIAL_SHAPE)
        case = dict(args={"in_channels": str(in_channels), "n_classes": str(n_classes),
                          "in_spatial_shape": str(IN_SPATIAL_SHAPE)})
        case.update(load_state(model, pretrained))
        cases.append(case)
        print(f"in_channels={in_channels} n_classes={n_classes}: popped {case['popped']}, "
              f"missing {case['missing_keys']}", file=sys.stderr)
    with open(os.path.join(options.out, "cases.json"), "w") as handle:
        json.dump(dict(model="efficientnet_b0_same", cases=cases), handle, indent=1)


if __name__ == "__main__":
    main()
