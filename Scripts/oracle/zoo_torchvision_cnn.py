"""torchvision's remaining convolutional families: SqueezeNet, DenseNet, MNASNet, RegNet, Inception v3 and
EfficientNet V2 (registered into zoo.MODELS). The largest members (densenet161, efficientnet_v2_m/l,
regnet_*_8gf and up) would add checkpoints of hundreds of MB: they share every block with the members
below and are covered by the key, shape and parameter-count check against `state_dict()` instead."""

from zoo import register, _torchvision  # noqa: E402  (zoo imports this module after defining both)

# SqueezeNet: odd sizes make the three ceil-mode max pools keep a partial window.
register("squeezenet1_0", _torchvision("squeezenet1_0"), input=(3, 67, 61))
register("squeezenet1_1", _torchvision("squeezenet1_1"), input=(3, 61, 67))
register("squeezenet1_1@num_classes=10", _torchvision("squeezenet1_1", num_classes=10), input=(3, 64, 64),
         args={"num_classes": "10"})

# DenseNet: every layer reads the concatenation of all earlier ones in its block.
for _name in ["densenet121", "densenet169", "densenet201"]:
    register(_name, _torchvision(_name), input=(3, 64, 64))
# torchvision's densenet builders fix growth_rate, block_config and num_init_features (passing them raises).
register("densenet121@bn_size=2,num_classes=10",
         _torchvision("densenet121", bn_size=2, drop_rate=0.2, memory_efficient=True, num_classes=10),
         input=(3, 72, 56),
         args={"bn_size": "2", "drop_rate": "0.2", "memory_efficient": "True", "num_classes": "10"})

# MNASNet: `_version` 2, so the stem scales with alpha too.
for _name in ["mnasnet0_5", "mnasnet0_75", "mnasnet1_0", "mnasnet1_3"]:
    register(_name, _torchvision(_name), input=(3, 64, 64))
register("mnasnet0_5@num_classes=10", _torchvision("mnasnet0_5", num_classes=10, dropout=0.5), input=(3, 72, 56),
         args={"num_classes": "10", "dropout": "0.5"})

# RegNet: widths from BlockParams.from_init_params, grouped 3x3 convolutions, squeeze-excitation in Y.
for _name in ["regnet_x_400mf", "regnet_x_800mf", "regnet_x_1_6gf", "regnet_x_3_2gf",
              "regnet_y_400mf", "regnet_y_800mf", "regnet_y_1_6gf", "regnet_y_3_2gf"]:
    register(_name, _torchvision(_name), input=(3, 64, 64))
register("regnet_y_400mf@num_classes=10,stem_width=16", _torchvision("regnet_y_400mf", num_classes=10, stem_width=16),
         input=(3, 72, 56), args={"num_classes": "10", "stem_width": "16"})

# Inception v3 needs 75x75 at least; AuxLogits is in the state dict but not called in eval.
# init_weights=False skips the slow truncated-normal init, which make_zoo_fixtures replaces anyway.
register("inception_v3", _torchvision("inception_v3", init_weights=False), input=(3, 79, 75))
register("inception_v3@transform_input=True,aux_logits=False,num_classes=10",
         _torchvision("inception_v3", transform_input=True, aux_logits=False, num_classes=10, init_weights=False),
         input=(3, 75, 83), args={"transform_input": "True", "aux_logits": "False", "num_classes": "10"})

# EfficientNet V2: FusedMBConv stages, then MBConv.
register("efficientnet_v2_s", _torchvision("efficientnet_v2_s"), input=(3, 64, 64))
register("efficientnet_v2_s@dropout=0.5,num_classes=10",
         _torchvision("efficientnet_v2_s", dropout=0.5, stochastic_depth_prob=0.1, num_classes=10),
         input=(3, 72, 56), args={"dropout": "0.5", "stochastic_depth_prob": "0.1", "num_classes": "10"})
