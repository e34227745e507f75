#!/usr/bin/env python3
"""Optimizer-step references for PthKit's head training: a small softmax-regression problem trained
by real PyTorch (nn.Linear, F.cross_entropy, torch.optim.SGD/Adam) with a fixed batch order.

    make_training_fixtures.py --out Tests/Fixtures/training

Writes optimizer_steps.json: the features, labels, initial weight and bias, the batch order, and for
each optimizer setting the loss of every step and the final weight and bias. PthKit replays the same
batches from the same start and must land on the same parameters.
"""
import argparse
import json
import os

import torch
import torch.nn.functional as F

SETTINGS = [
    dict(name="sgd", lr=0.1, momentum=0.0, weight_decay=0.0),
    dict(name="sgd", lr=0.05, momentum=0.9, weight_decay=1e-3),
    dict(name="adam", lr=0.01, weight_decay=0.0),
    dict(name="adam", lr=0.003, weight_decay=1e-2),
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    out = parser.parse_args().out
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    rows, columns, classes = 40, 7, 4
    features = torch.randn(rows, columns) * 3
    labels = torch.randint(0, classes, (rows,))
    initial = torch.nn.Linear(columns, classes)
    generator = torch.Generator().manual_seed(1)
    # Three epochs of batches of 16 (the last one short), as a shuffled DataLoader would give.
    batches = [b.tolist() for _ in range(3) for b in torch.randperm(rows, generator=generator).split(16)]
    cases = []
    for setting in SETTINGS:
        head = torch.nn.Linear(columns, classes)
        head.load_state_dict(initial.state_dict())
        if setting["name"] == "sgd":
            optimizer = torch.optim.SGD(head.parameters(), lr=setting["lr"], momentum=setting["momentum"],
                                        weight_decay=setting["weight_decay"])
        else:
            optimizer = torch.optim.Adam(head.parameters(), lr=setting["lr"], weight_decay=setting["weight_decay"])
        losses = []
        for batch in batches:
            optimizer.zero_grad()
            loss = F.cross_entropy(head(features[batch]), labels[batch])
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        cases.append(dict(setting, losses=losses, weight=head.weight.detach().flatten().tolist(),
                          bias=head.bias.detach().tolist()))
    fixture = dict(columns=columns, classes=classes, features=features.flatten().tolist(), labels=labels.tolist(),
                   weight=initial.weight.detach().flatten().tolist(), bias=initial.bias.detach().tolist(),
                   batches=batches, cases=cases)
    with open(os.path.join(out, "optimizer_steps.json"), "w") as handle:
        json.dump(fixture, handle)


if __name__ == "__main__":
    main()
