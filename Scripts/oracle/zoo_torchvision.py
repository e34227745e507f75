"""torchvision architectures other than ResNet (registered into zoo.MODELS)."""

from zoo import register, _torchvision  # noqa: E402  (zoo imports this module after defining both)
import torch  # noqa: E402


def _tv(name, **kwargs):
    return _torchvision(name, **kwargs)


# AlexNet and VGG: small inputs, the adaptive pools stretch them to 6x6 and 7x7.
register("alexnet", _tv("alexnet"), input=(3, 72, 64))
register("alexnet@num_classes=10", _tv("alexnet", num_classes=10), input=(3, 64, 64), args={"num_classes": "10"})
for _name in ["vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"]:
    register(_name, _tv(_name), input=(3, 32, 32))
register("vgg11_bn@num_classes=10", _tv("vgg11_bn", num_classes=10), input=(3, 96, 64), args={"num_classes": "10"})

# GoogLeNet: 64x80 makes the ceil_mode max pools round up; the aux heads are in the state dict only.
# init_weights=False skips torchvision's slow truncated-normal init, which make_zoo_fixtures replaces anyway.
register("googlenet", _tv("googlenet", init_weights=False), input=(3, 64, 80))
register("googlenet@aux_logits=False", _tv("googlenet", aux_logits=False, init_weights=False),
         input=(3, 64, 64), args={"aux_logits": "False"})
register("googlenet@transform_input=True", _tv("googlenet", transform_input=True, init_weights=False),
         input=(3, 64, 64), args={"transform_input": "True"})
register("googlenet@num_classes=10", _tv("googlenet", num_classes=10, aux_logits=False, init_weights=False),
         input=(3, 64, 64), args={"num_classes": "10", "aux_logits": "False"})

# ShuffleNet V2: channel split, shuffle and concatenation at every block.
for _name in ["shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0"]:
    register(_name, _tv(_name), input=(3, 64, 64))
register("shufflenet_v2_x1_0@num_classes=10", _tv("shufflenet_v2_x1_0", num_classes=10), input=(3, 72, 56),
         args={"num_classes": "10"})
