"""torchvision architectures other than ResNet (registered into zoo.MODELS)."""
