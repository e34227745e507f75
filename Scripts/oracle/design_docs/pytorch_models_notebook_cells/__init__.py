"""pytorch-models-notebook.md's cells that re-implement torchvision's networks: VGG, ResNet/ResNeXt,
MobileNetV2, MobileNetV3 and ShuffleNetV2, one module per cell, each copied as written (the cells
redefine `InvertedResidual` and `_make_divisible`, as a notebook may, so each keeps its own namespace).

Their state dicts have torchvision's keys and shapes (make_structure_fixtures.py records each builder's,
and the structure test builds the same name in PthKit), so PthKit serves them under torchvision's names.
Two constructor arguments change the network, and PthKit accepts them under the notebook's spelling:
- `MobileNetV2(alpha=)` narrows the last conv to `_make_divisible(1280 * alpha)` where torchvision's
  `width_mult` keeps 1280 below 1: `mobilenet_v2 --arg alpha=0.5`;
- `ResNet(include_top=False)` has no `avgpool`/`fc` and returns layer4's feature map:
  `resnet34 --arg include_top=False` (and the notebook's resnet50, resnet101, resnext50_32x4d,
  resnext101_32x8d).
The parity cases below run them on small inputs; the larger ResNets are covered by their structure.
"""
from zoo import register

from . import mobilenet_v2, mobilenet_v3, resnet, shufflenet_v2, vgg

DOCUMENT = "pytorch-models-notebook.md"

# Every builder of these cells with the PthKit name and --arg values that build the same network, for
# the structure fixtures: name@args -> (PthKit model, args, build).
STRUCTURE = {}


def _structure(model, build, **args):
    name = model + ("@" + ",".join(f"{k}={v}" for k, v in args.items()) if args else "")
    STRUCTURE[name] = (model, {k: str(v) for k, v in args.items()}, build)


for _name in ["vgg11", "vgg13", "vgg16", "vgg19"]:
    _structure(_name, lambda name=_name: vgg.vgg(model_name=name))
for _name in ["resnet34", "resnet50", "resnet101", "resnext50_32x4d", "resnext101_32x8d"]:
    _structure(_name, getattr(resnet, _name))
    _structure(_name, lambda name=_name: getattr(resnet, name)(include_top=False), include_top=False)
_structure("mobilenet_v2", mobilenet_v2.MobileNetV2)
for _alpha in [0.35, 0.5, 0.75, 1.4]:
    _structure("mobilenet_v2", lambda alpha=_alpha: mobilenet_v2.MobileNetV2(alpha=alpha), alpha=_alpha)
for _name in ["mobilenet_v3_large", "mobilenet_v3_small"]:
    _structure(_name, getattr(mobilenet_v3, _name))
    _structure(_name, lambda name=_name: getattr(mobilenet_v3, name)(reduced_tail=True), reduced_tail=True)
for _name in ["shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0"]:
    _structure(_name, getattr(shufflenet_v2, _name))

# Parity: the arguments that change the network, and the small cells' own code paths.
register("mobilenet_v2@alpha=0.5", lambda: mobilenet_v2.MobileNetV2(alpha=0.5), input=(3, 64, 56),
         args={"alpha": "0.5"})
register("mobilenet_v2@alpha=0.75,round_nearest=4,num_classes=10",
         lambda: mobilenet_v2.MobileNetV2(num_classes=10, alpha=0.75, round_nearest=4), input=(3, 56, 64),
         args={"alpha": "0.75", "round_nearest": "4", "num_classes": "10"})
register("resnet34@include_top=False", lambda: resnet.resnet34(include_top=False), input=(3, 72, 56),
         args={"include_top": "False"})
register("mobilenet_v3_large@reduced_tail=True,num_classes=10",
         lambda: mobilenet_v3.mobilenet_v3_large(num_classes=10, reduced_tail=True), input=(3, 64, 72),
         args={"reduced_tail": "True", "num_classes": "10"})
register("shufflenet_v2_x0_5@num_classes=10", lambda: shufflenet_v2.shufflenet_v2_x0_5(num_classes=10),
         input=(3, 64, 56), args={"num_classes": "10"})
