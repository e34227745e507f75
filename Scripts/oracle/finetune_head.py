#!/usr/bin/env python3
"""PyTorch's side of `pthkit finetune-head`: the same job done by PyTorch, and PyTorch's verdict on
the checkpoint PthKit wrote.

    finetune_head.py --model lenet5 --backbone B.pth --train DIR [--val DIR] [--epochs N --lr LR
        --batch B --optimizer sgd|adam --momentum M --weight-decay WD --seed S]
        [--pthkit-output OUT.pth --pthkit-logits L.npy --logit-images DIR]

With --epochs: builds MODEL for the training folder's classes, loads the backbone with mismatched
tensors dropped, freezes it, computes head-input features once (preprocessed as ModelsManifest.json
says, in torchvision), trains a fresh head with softmax cross-entropy and torch.optim.SGD/Adam,
evaluates after every epoch and keeps the best (validation accuracy, then loss).
With --pthkit-output: torchvision's (or the design document's) model for N classes loads OUT.pth
from torch.load(weights_only=True) with load_state_dict(strict=True); its logits for the images of
--logit-images (ImageFolder order) are compared with PthKit's (--pthkit-logits).
Prints one JSON line.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from PIL import Image
from torchvision import transforms
from torchvision.datasets import ImageFolder
from torchvision.transforms import InterpolationMode

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from design_docs.pytorch_models_notebook import LeNet5  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def build(name, num_classes):
    """MODEL with num_classes outputs; the notebook's LeNet5 has no such argument, so its last
    Linear is replaced, which is what PthKit's `num_classes` for lenet5 means."""
    if name == "lenet5":
        model = LeNet5()
        model.classifier[1] = torch.nn.Linear(model.classifier[1].in_features, num_classes)
        return model
    return getattr(torchvision.models, name)(num_classes=num_classes)


def head_of(model):
    return [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]


def transform_for(name):
    with open(os.path.join(ROOT, "ModelsManifest.json")) as handle:
        entry = next(m for m in json.load(handle)["models"] if m["name"] == name)
    p = entry["preprocessing"]
    steps = [transforms.Grayscale(num_output_channels=1)] if p.get("grayscale") else []
    steps += [transforms.Resize(p["resize_size"], interpolation=InterpolationMode(p["interpolation"])),
              transforms.CenterCrop(p["crop_size"]), transforms.ToTensor(), transforms.Normalize(p["mean"], p["std"])]
    return transforms.Compose(steps)


def images(folder, transform):
    data = ImageFolder(folder, transform=transform, loader=lambda path: Image.open(path).convert("RGB"))
    x = torch.stack([x for x, _ in data]) if len(data) else torch.empty(0)
    return x, torch.tensor([y for _, y in data]), data.classes


def features(model, x):
    captured = []
    hook = head_of(model).register_forward_pre_hook(lambda _, inputs: captured.append(inputs[0].detach()))
    with torch.no_grad():
        for start in range(0, len(x), 32):
            model(x[start:start + 32])
    hook.remove()
    return torch.cat(captured)


def train_head(args, transform):
    x_train, y_train, classes = images(args.train, transform)
    x_val, y_val, val_classes = images(args.val, transform)
    assert val_classes == classes, (val_classes, classes)
    torch.manual_seed(args.seed)
    model = build(args.model, len(classes))
    backbone = torch.load(args.backbone, weights_only=True)
    own = model.state_dict()
    kept = {k: v for k, v in backbone.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(kept, strict=False)
    model.eval()
    f_train, f_val = features(model, x_train), features(model, x_val)
    head = head_of(model)
    torch.manual_seed(args.seed)
    head.reset_parameters()
    if args.optimizer == "sgd":
        optimizer = torch.optim.SGD(head.parameters(), lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay)
    else:
        optimizer = torch.optim.Adam(head.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    generator = torch.Generator().manual_seed(args.seed)
    history, best = [], None
    for epoch in range(1, args.epochs + 1):
        order = torch.randperm(len(f_train), generator=generator)
        for start in range(0, len(order), args.batch):
            batch = order[start:start + args.batch]
            optimizer.zero_grad()
            F.cross_entropy(head(f_train[batch]), y_train[batch]).backward()
            optimizer.step()
        with torch.no_grad():
            figures = {}
            for split, f, y in (("train", f_train, y_train), ("val", f_val, y_val)):
                logits = head(f)
                figures[split + "_loss"] = float(F.cross_entropy(logits, y))
                figures[split + "_accuracy"] = float((logits.argmax(1) == y).float().mean())
        history.append(dict(epoch=epoch, **figures))
        if best is None or (figures["val_accuracy"], -figures["val_loss"]) > (best["val_accuracy"], -best["val_loss"]):
            best = history[-1]
    return dict(classes=classes, best=best, history=history, train_images=len(y_train), val_images=len(y_val))


def check_pthkit_output(args, transform):
    x, _, classes = images(args.logit_images, transform)
    state = torch.load(args.pthkit_output, weights_only=True)
    names_file = os.path.splitext(args.pthkit_output)[0] + ".classes.txt"
    with open(names_file) as handle:
        names = [line.strip() for line in handle if line.strip()]
    model = build(args.model, len(names))
    model.load_state_dict(state, strict=True)  # raises on any missing, unexpected or mis-shaped key
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(x[start:start + 32]) for start in range(0, len(x), 32)]).numpy()
    ours = np.load(args.pthkit_logits)
    return dict(strict_load=True, class_names=names, folder_classes=classes, logits_shape=list(logits.shape),
                max_abs_difference=float(np.abs(logits - ours).max()) if ours.shape == logits.shape else None,
                logit_scale=float(np.abs(logits).max()),
                top1_agreement=float((logits.argmax(1) == ours.argmax(1)).mean()) if ours.shape == logits.shape else 0.0)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--backbone")
    parser.add_argument("--train")
    parser.add_argument("--val")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd")
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pthkit-output")
    parser.add_argument("--pthkit-logits")
    parser.add_argument("--logit-images")
    args = parser.parse_args()
    torch.set_num_threads(1)
    transform = transform_for(args.model)
    result = {}
    if args.epochs:
        result["torch_training"] = train_head(args, transform)
    if args.pthkit_output:
        result["pthkit_output"] = check_pthkit_output(args, transform)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
