"""pytorch-models-notebook.md, （3）VGG, cell "In [5]": the cell as written (ends at its last definition; the demo cell after it is left out)."""
import torch
import torch.nn as nn


class VGG(nn.Module):
    def __init__(self, features, num_classes=1000, init_weights=False):
        super().__init__()
        # 由于特征提取层比较长，另外编写。
        self.features = features
        self.classifier = nn.Sequential(
            nn.Linear(in_features=512 * 7 * 7, out_features=4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=0.5),
            nn.Linear(in_features=4096, out_features=4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=0.5),
            nn.Linear(in_features=4096, out_features=num_classes),
        )
        if init_weights:
            self._initialize_weights()

    def forward(self, x):
        # input [N * 3 * 224 * 224]
        x = self.features(x)
        # torch.flatten()展平，这个函数默认开始展平的维度是第0维，也就是全部维度展平。
        # 而nn.Flatten()默认开始展平的维度是第1维。
        # 注意张量的维度从0开始，而这里展平维度是从1，也就是张量的第二个维度开始，然后到最后一个维度。
        # input [N * 512 * 7 * 7]
        x = torch.flatten(x, start_dim=1, end_dim=-1)
        # input [N * (512 * 7 * 7)]=[N * 25088]
        x = self.classifier(x)
        return x

    def _initialize_weights(self):
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                # nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                # nn.init.normal_(m.weight, 0, 0.01)
                nn.init.constant_(m.bias, 0)


def make_features(cfg: list):
    """
    将模型特征提取层的参数存储在列表中，
    方便直接生成多种不同层的模型。
    """
    layers = []
    in_channels = 3

    for v in cfg:
        if v == "M":
            # 遇到列表中的'M'就添加一个最大池化层
            layers += [nn.MaxPool2d(kernel_size=2, stride=2)]
        else:
            # 遇到不是'M'的就添加一个卷积和激活层
            conv2d = nn.Conv2d(in_channels, v, kernel_size=3, padding=1)
            layers += [conv2d, nn.ReLU(inplace=True)]
            in_channels = v
    # 这里'*layers'是解压缩操作，
    return nn.Sequential(*layers)


cfgs = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [
        64,
        64,
        "M",
        128,
        128,
        "M",
        256,
        256,
        256,
        "M",
        512,
        512,
        512,
        "M",
        512,
        512,
        512,
        "M",
    ],
    "vgg19": [
        64,
        64,
        "M",
        128,
        128,
        "M",
        256,
        256,
        256,
        256,
        "M",
        512,
        512,
        512,
        512,
        "M",
        512,
        512,
        512,
        512,
        "M",
    ],
}


def vgg(model_name="vgg16", **kwargs):
    """
    生成vgg模型
    """
    # assert后面的条件不成立则打印紧接着的警告内容，条件成立则执行后面的语句。
    assert model_name in cfgs, "Warning model_name:{} not in cfgs dict!".format(
        model_name
    )
    cfg = cfgs[model_name]
    model = VGG(make_features(cfg), **kwargs)
    return model
