"""torchvision's transformer-era families: ConvNeXt, ViT, Swin (V1 and V2) and MaxViT (registered into
zoo.MODELS). Small inputs keep the checkpoints' forward passes quick; the largest variants (convnext_base and
_large, vit_l_*, vit_h_14, swin_b, swin_v2_b) are left to the key/shape/parameter-count check, their code being
the smaller variants' with other tables.

Their own parameters that `make_zoo_fixtures.py` leaves at torch's initial values (LayerNorm weights 1 and
biases 0, ConvNeXt's layer scale 1e-6, zero class token, small position embeddings and bias tables) are
randomized here, so that a missed or misplaced one shows in the logits."""

import torch

from zoo import register, _torchvision  # noqa: E402  (zoo imports this module after defining both)


def _randomized(build):
    def make():
        model = build()
        generator = torch.Generator().manual_seed(2)

        def rand(shape, low, high):
            return torch.rand(shape, generator=generator) * (high - low) + low

        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, torch.nn.LayerNorm):
                    module.weight.copy_(rand(module.weight.shape, 0.5, 1.5))
                    module.bias.copy_(rand(module.bias.shape, -0.3, 0.3))
                if isinstance(module, torch.nn.MultiheadAttention):
                    # Sharper attention than the default init gives: scores of a few units.
                    module.in_proj_weight.mul_(2)
            for name, parameter in model.named_parameters():
                leaf = name.rsplit(".", 1)[-1]
                if leaf == "layer_scale":
                    parameter.copy_(rand(parameter.shape, 0.2, 1.0))
                elif leaf in ("class_token", "pos_embedding"):
                    parameter.copy_(rand(parameter.shape, -1, 1))
                elif leaf == "relative_position_bias_table":
                    parameter.copy_(rand(parameter.shape, -2, 2))
                elif leaf == "logit_scale":
                    parameter.copy_(torch.log(rand(parameter.shape, 5, 150)))  # some above the clamp at 100
        return model
    return make


def _case(name, model, input, **kwargs):
    register(name, _randomized(_torchvision(model, **{k: v for k, v in kwargs.items()})), input=input,
             args={k: str(v).replace(" ", "") for k, v in kwargs.items()})


# ConvNeXt: 64x64 leaves a 2x2 map for the last stage.
_case("convnext_tiny", "convnext_tiny", (3, 64, 64))
_case("convnext_small@layer_scale=0.5,num_classes=10", "convnext_small", (3, 64, 48), layer_scale=0.5, num_classes=10)

# ViT: a small image_size changes the position embedding's shape (17 and 5 tokens).
_case("vit_b_16@image_size=64", "vit_b_16", (3, 64, 64), image_size=64)
_case("vit_b_32@image_size=64,representation_size=96", "vit_b_32", (3, 64, 64), image_size=64, representation_size=96)

# Swin: 88x40 gives padded windows in every stage, a stage shifted along the height only (its width fits in one
# window, where torch sets that shift to 0), odd sizes at a patch merging and unshifted last stages.
_case("swin_t", "swin_t", (3, 88, 40))
_case("swin_s@num_classes=10", "swin_s", (3, 64, 64), num_classes=10)
_case("swin_v2_t@mlp_ratio=2", "swin_v2_t", (3, 96, 64), mlp_ratio=2.0)
_case("swin_v2_s", "swin_v2_s", (3, 72, 56))

# MaxViT needs every stage's map divisible by its 7x7 partitions: 224 is the smallest input it accepts.
_case("maxvit_t", "maxvit_t", (3, 224, 224))
_case("maxvit_t@mlp_ratio=2,num_classes=10", "maxvit_t", (3, 224, 224), mlp_ratio=2, num_classes=10)
