"""Loads a state dict PthKit saved into the matching torchvision model, strictly, as a user would.

    load_state_dict_in_torchvision.py MODEL PATH [name=value ...]

`name=value` are builder arguments (integers where they parse as one), e.g. num_classes=7. Prints one
JSON line: {"tensors": {key: {"dtype", "shape", "sha256"}}, "metadata": {module path: version}} of
the model's state_dict() after load_state_dict(strict=True), so the caller can compare bit for bit.
"""
import hashlib
import json
import sys

import torch
import torchvision


def argument(text):
    name, value = text.split("=", 1)
    try:
        return name, int(value)
    except ValueError:
        return name, value


def main():
    name, path, *pairs = sys.argv[1:]
    model = getattr(torchvision.models, name)(**dict(argument(pair) for pair in pairs))
    state_dict = torch.load(path, weights_only=True)
    model.load_state_dict(state_dict, strict=True)
    tensors = {
        key: {
            "dtype": str(value.dtype).removeprefix("torch."),
            "shape": list(value.shape),
            "sha256": hashlib.sha256(value.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()).hexdigest(),
        }
        for key, value in model.state_dict().items()
    }
    metadata = {path: fields.get("version") for path, fields in state_dict._metadata.items()}
    print(json.dumps({"tensors": tensors, "metadata": metadata}))


if __name__ == "__main__":
    main()
