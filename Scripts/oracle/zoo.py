"""The PyTorch side of the model zoo: for every name PthKit builds, how to build the same network in
PyTorch and which input it takes. `make_zoo_fixtures.py` uses this to write checkpoints and reference
outputs; the design documents' own classes live in `design_docs/`, transcribed from the documents.
"""
import torchvision

# name -> dict(build=callable returning an nn.Module, input=(C, H, W), args={builder args as PthKit's --arg})
MODELS = {}


def register(name, build, input=(3, 64, 64), args=None, batch=2):
    MODELS[name] = dict(build=build, input=input, args=args or {}, batch=batch)


def _torchvision(name, **kwargs):
    return lambda: getattr(torchvision.models, name)(weights=None, **kwargs)


# torchvision ResNet family; non-224 inputs exercise the adaptive pooling.
for _name in ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d",
              "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2"]:
    register(_name, _torchvision(_name), input=(3, 72, 56))
register("resnet18@num_classes=7", _torchvision("resnet18", num_classes=7), input=(3, 64, 64),
         args={"num_classes": "7"})

# Other families register themselves on import.
from zoo_torchvision import *  # noqa: E402,F401,F403
from zoo_torchvision_mobile import *  # noqa: E402,F401,F403
from zoo_torchvision_cnn import *  # noqa: E402,F401,F403
from zoo_torchvision_transformers import *  # noqa: E402,F401,F403
from design_docs import *  # noqa: E402,F401,F403
