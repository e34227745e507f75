#!/usr/bin/env python3
"""Trains the design documents' LeNet5 with real PyTorch on the handwritten digits that ship inside
scikit-learn, for PthKit's bundled demo and the custom-classes proof.

    train_lenet5_digits.py --out Examples/digits

Digits are 8x8 with values 0..16; each becomes a 28x28 grayscale PNG (PIL bilinear upsampling), so
training and every later use read the same PNG files through the same torchvision transforms.
Writes:
  lenet5_digits.pth           LeNet5 trained on all ten digits (torch.save of the state_dict)
  heldout/<digit>/NNNN.png    held-out digits as an ImageFolder tree, never seen in training
  heldout_logits.npy          PyTorch's logits for them, in ImageFolder order (class, then file name)
  heldout_inputs.npy          torchvision's preprocessed tensors for them (the model's exact input)
  lenet5_digits_0to4.pth      LeNet5 trained on digits 0-4 only (the backbone for custom classes)
  digits_5to9/{train,val}/<digit>/NNN.png   ImageFolder trees of digits 5-9 for fine-tuning a new head
  training.json               settings, accuracies, preprocessing
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from sklearn.datasets import load_digits
from torchvision import transforms

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "oracle"))
import zoo  # noqa: E402,F401  (registers the design-document classes)
from design_docs.pytorch_models_notebook import LeNet5  # noqa: E402

MEAN, STD = [0.5], [0.5]
# What torchvision does to a loaded PNG; PthKit's manifest entry for lenet5 says the same.
TRANSFORM = transforms.Compose([
    transforms.Grayscale(num_output_channels=1),
    transforms.Resize(28), transforms.CenterCrop(28), transforms.ToTensor(), transforms.Normalize(MEAN, STD)])


def digit_image(values):
    """An 8x8 digit (0..16) as a 28x28 grayscale PIL image."""
    pixels = np.clip(np.round(values.reshape(8, 8) * 255.0 / 16.0), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, mode="L").resize((28, 28), Image.BILINEAR)


def save_png(image, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    image.save(path, optimize=True)


def load_batch(paths):
    return torch.stack([TRANSFORM(Image.open(p).convert("RGB")) for p in paths])


def train(model, x, y, epochs, seed):
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x))
        for start in range(0, len(x), 32):
            batch = order[start:start + 32]
            optimizer.zero_grad()
            F.cross_entropy(model(x[batch]), y[batch]).backward()
            optimizer.step()
    model.eval()


def accuracy(model, x, y):
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    out = parser.parse_args().out
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    digits = load_digits()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(digits.target))
    held = set(order[:300].tolist())

    # Every digit goes through a PNG file, so training sees exactly what classification later reads.
    train_paths, train_labels, held_paths = [], [], []
    scratch = os.path.join(out, ".train_png")
    for index, (values, label) in enumerate(zip(digits.data, digits.target)):
        if index in held:
            path = os.path.join(out, "heldout", str(label), f"{index:04d}.png")
            held_paths.append(path)
        else:
            path = os.path.join(scratch, f"{index:04d}.png")
            train_paths.append(path)
            train_labels.append(int(label))
        save_png(digit_image(values), path)
    held_paths.sort()  # ImageFolder order: class folder, then file name
    held_labels = torch.tensor([int(os.path.basename(os.path.dirname(p))) for p in held_paths])
    x_train, y_train = load_batch(train_paths), torch.tensor(train_labels)
    x_held = load_batch(held_paths)

    torch.manual_seed(0)
    model = LeNet5()
    train(model, x_train, y_train, epochs=12, seed=0)
    torch.save(model.state_dict(), os.path.join(out, "lenet5_digits.pth"))
    with torch.no_grad():
        np.save(os.path.join(out, "heldout_logits.npy"), model(x_held).numpy())
    np.save(os.path.join(out, "heldout_inputs.npy"), x_held.numpy())
    all_accuracy = accuracy(model, x_held, held_labels)

    # Custom classes: a backbone that knows 0-4, and ImageFolder trees of 5-9 for a new head.
    low = y_train < 5
    torch.manual_seed(0)
    backbone = LeNet5()
    train(backbone, x_train[low], y_train[low], epochs=12, seed=0)
    torch.save(backbone.state_dict(), os.path.join(out, "lenet5_digits_0to4.pth"))
    for path, label in zip(train_paths, train_labels):
        if label >= 5:
            name = os.path.basename(path)
            save_png(Image.open(path), os.path.join(out, "digits_5to9", "train", str(label), name))
    for path, label in zip(held_paths, held_labels.tolist()):
        if label >= 5:
            save_png(Image.open(path), os.path.join(out, "digits_5to9", "val", str(label), os.path.basename(path)))
    for path in train_paths:
        os.remove(path)
    os.rmdir(scratch)

    summary = dict(source="sklearn.datasets.load_digits (8x8, upsampled to 28x28 with PIL bilinear)",
                   train_images=len(train_paths), heldout_images=len(held_paths), epochs=12, optimizer="Adam lr 2e-3",
                   batch=32, heldout_accuracy=all_accuracy,
                   backbone_0to4_accuracy_on_heldout_0to4=accuracy(backbone, x_held[held_labels < 5],
                                                                   held_labels[held_labels < 5]),
                   preprocessing=dict(grayscale=True, resize_size=28, crop_size=28, interpolation="bilinear",
                                      mean=MEAN, std=STD))
    with open(os.path.join(out, "training.json"), "w") as handle:
        json.dump(summary, handle, indent=1)
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
