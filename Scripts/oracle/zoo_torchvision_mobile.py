"""torchvision's mobile families, built from `ops/misc.py` blocks: MobileNetV2, MobileNetV3 and
EfficientNet B0-B7 (registered into zoo.MODELS). Small, non-square inputs keep the sweep fast and
exercise odd feature-map sizes under the stride-2 depthwise convolutions."""

from zoo import register, _torchvision  # noqa: E402  (zoo imports this module after defining both)

register("mobilenet_v2", _torchvision("mobilenet_v2"), input=(3, 96, 80))
register("mobilenet_v2@width_mult=0.75", _torchvision("mobilenet_v2", width_mult=0.75), input=(3, 64, 64),
         args={"width_mult": "0.75"})
register("mobilenet_v2@width_mult=1.4,round_nearest=4", _torchvision("mobilenet_v2", width_mult=1.4, round_nearest=4),
         input=(3, 72, 56), args={"width_mult": "1.4", "round_nearest": "4"})
register("mobilenet_v2@num_classes=10", _torchvision("mobilenet_v2", num_classes=10), input=(3, 64, 64),
         args={"num_classes": "10"})

register("mobilenet_v3_large", _torchvision("mobilenet_v3_large"), input=(3, 96, 80))
register("mobilenet_v3_large@width_mult=0.5", _torchvision("mobilenet_v3_large", width_mult=0.5), input=(3, 64, 64),
         args={"width_mult": "0.5"})
register("mobilenet_v3_large@dilated=True", _torchvision("mobilenet_v3_large", dilated=True), input=(3, 64, 72),
         args={"dilated": "True"})
register("mobilenet_v3_small", _torchvision("mobilenet_v3_small"), input=(3, 64, 64))
register("mobilenet_v3_small@reduced_tail=True", _torchvision("mobilenet_v3_small", reduced_tail=True),
         input=(3, 80, 96), args={"reduced_tail": "True"})
register("mobilenet_v3_small@num_classes=10", _torchvision("mobilenet_v3_small", num_classes=10), input=(3, 64, 64),
         args={"num_classes": "10"})

# EfficientNet: B5-B7 use batch norm eps 1e-3, the others 1e-5; the deep ones get small inputs.
for _name, _size in [("efficientnet_b0", (96, 80)), ("efficientnet_b1", (64, 64)), ("efficientnet_b2", (64, 56)),
                     ("efficientnet_b3", (64, 64)), ("efficientnet_b4", (56, 48)), ("efficientnet_b5", (48, 48)),
                     ("efficientnet_b6", (48, 40)), ("efficientnet_b7", (40, 40))]:
    register(_name, _torchvision(_name), input=(3,) + _size)
register("efficientnet_b0@num_classes=10", _torchvision("efficientnet_b0", num_classes=10), input=(3, 64, 64),
         args={"num_classes": "10"})
