"""lesson-16-architectures.md: VGG16 (`conv1`..`conv13` and `features_`/`clf_` forms), NiN, GoogLeNet
with batch norm (`in3a`, `AuxClf`) and ResNet from `ResidualUnit`/`Bottleneck`.

Transcribed cell for cell. The only changes are the fixes the design-docs README allows, each marked
`FIX:`; everything the document does oddly but runs (a ReLU passed as a Linear's bias, the shortcut
conv a ResidualUnit builds but skips, ceil-mode pools) is kept as written.
"""
from typing import List, Optional, Type, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from zoo import register


# ---- 1.2 VGG16, layer by layer (In [1]) ----

class VGG16(nn.Module):
    def __init__(self) -> None:
        super().__init__()

        # block1
        self.conv1 = nn.Conv2d(3, 64, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(64, 64, 3, padding=1)
        self.pool1 = nn.MaxPool2d(2)
        # block2
        self.conv3 = nn.Conv2d(64, 128, kernel_size=3, padding=1)
        self.conv4 = nn.Conv2d(128, 128, kernel_size=3, padding=1)
        self.pool2 = nn.MaxPool2d(2)

        # block3
        self.conv5 = nn.Conv2d(128, 256, kernel_size=3, padding=1)
        self.conv6 = nn.Conv2d(256, 256, kernel_size=3, padding=1)
        self.conv7 = nn.Conv2d(256, 256, kernel_size=3, padding=1)
        self.pool3 = nn.MaxPool2d(2)

        # block4
        self.conv8 = nn.Conv2d(256, 512, kernel_size=3, padding=1)
        self.conv9 = nn.Conv2d(512, 512, kernel_size=3, padding=1)
        self.conv10 = nn.Conv2d(512, 512, kernel_size=3, padding=1)
        self.pool4 = nn.MaxPool2d(2)

        # block5
        self.conv11 = nn.Conv2d(512, 512, 3, padding=1)
        self.conv12 = nn.Conv2d(512, 512, 3, padding=1)
        self.conv13 = nn.Conv2d(512, 512, 3, padding=1)
        self.pool5 = nn.MaxPool2d(2)

        # fc
        self.fc1 = nn.Linear(7 * 7 * 512, 4096)
        self.fc2 = nn.Linear(4096, 4096)
        self.fc3 = nn.Linear(4096, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = self.pool1(x)

        x = F.relu(self.conv3(x))
        x = F.relu(self.conv4(x))
        x = self.pool2(x)

        x = F.relu(self.conv5(x))
        x = F.relu(self.conv6(x))
        x = self.pool3(F.relu(self.conv7(x)))

        x = F.relu(self.conv8(x))
        x = F.relu(self.conv9(x))
        x = self.pool4(F.relu(self.conv10(x)))

        x = F.relu(self.conv11(x))
        x = F.relu(self.conv12(x))
        x = self.pool5(F.relu(self.conv13(x)))

        x = x.view(-1, 7 * 7 * 512)

        # FIX: `F.dropout(x, p=0.5)` defaults to training=True, i.e. it drops in eval too; the
        # inference forward the document intends has no dropout.
        x = F.relu(self.fc1(F.dropout(x, p=0.5, training=self.training)))
        x = F.relu(self.fc2(F.dropout(x, p=0.5, training=self.training)))
        x = F.relu(self.fc3(x))

        output = F.softmax(x, dim=1)
        return output


# The document defines a second `VGG16` (In [16]) that replaces this one; keep both.
VGG16Flat = VGG16


# ---- 2.1 VGG16 with nn.Sequential (In [16]) ----

class VGG16(nn.Module):  # noqa: F811  (the document's redefinition)
    def __init__(self) -> None:
        super().__init__()
        self.features_ = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(inplace=True),
                                       nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(inplace=True),
                                       nn.MaxPool2d(2),

                                       nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(inplace=True),
                                       nn.Conv2d(128, 128, 3, padding=1), nn.ReLU(inplace=True),
                                       nn.MaxPool2d(2),

                                       nn.Conv2d(128, 256, 3, padding=1), nn.ReLU(inplace=True),
                                       nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True),
                                       nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True),
                                       nn.MaxPool2d(2),

                                       nn.Conv2d(256, 512, 3, padding=1), nn.ReLU(inplace=True),
                                       nn.Conv2d(512, 512, 3, padding=1), nn.ReLU(inplace=True),
                                       nn.Conv2d(512, 512, 3, padding=1), nn.ReLU(inplace=True),
                                       nn.MaxPool2d(2),

                                       nn.Conv2d(512, 512, 3, padding=1), nn.ReLU(inplace=True),
                                       nn.Conv2d(512, 512, 3, padding=1), nn.ReLU(inplace=True),
                                       nn.Conv2d(512, 512, 3, padding=1), nn.ReLU(inplace=True),
                                       nn.MaxPool2d(2),
                                       )
        # Kept as written: the ReLU given to the second Linear is its `bias` argument (a truthy
        # module, so the layer has a bias), and no ReLU follows it; index 5 is the third Linear.
        self.clf_ = nn.Sequential(nn.Dropout(p=0.5),
                                  nn.Linear(512 * 7 * 7, 4096), nn.ReLU(inplace=True),
                                  nn.Dropout(p=0.5),
                                  nn.Linear(4096, 4096, nn.ReLU(inplace=True)),
                                  nn.Linear(4096, 1000), nn.Softmax(dim=1))

    def forward(self, x):
        x = self.features_(x)
        x = x.view(-1, 512 * 7 * 7)
        output = self.clf_(x)
        return output


# ---- 3. NiN (In [20]) ----

class NiN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block1 = nn.Sequential(
            nn.Conv2d(3, 192, 5, padding=2), nn.ReLU(inplace=True),
            nn.Conv2d(192, 160, 1), nn.ReLU(inplace=True),
            nn.Conv2d(160, 96, 1), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Dropout(p=0.25)
        )
        self.block2 = nn.Sequential(
            nn.Conv2d(96, 192, 5, padding=2), nn.ReLU(inplace=True),
            nn.Conv2d(192, 192, 1), nn.ReLU(inplace=True),
            nn.Conv2d(192, 192, 1), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Dropout(p=0.25)
        )
        self.block3 = nn.Sequential(
            nn.Conv2d(192, 192, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(192, 192, 1), nn.ReLU(inplace=True),
            nn.Conv2d(192, 10, 1), nn.ReLU(inplace=True),
            nn.AvgPool2d(7, stride=1),
            nn.Softmax(dim=1)
        )

    def forward(self, x):
        output = self.block3(self.block2(self.block1(x)))
        return output


# ---- 1.3 GoogLeNet with batch norm (In [10], [11], [20], [41]) ----

class BasicConv2d(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, **kwargs) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(in_channels, out_channels, bias=False, **kwargs),
                                  nn.BatchNorm2d(out_channels),
                                  nn.ReLU(inplace=True)
                                  )

    def forward(self, x):
        output = self.conv(x)
        return output


class Inception(nn.Module):
    def __init__(self
                 , in_channels: int
                 , ch1x1: int
                 , ch3x3red: int
                 , ch3x3: int
                 , ch5x5red: int
                 , ch5x5: int
                 , pool_proj) -> None:
        super().__init__()

        self.branch1 = BasicConv2d(in_channels, ch1x1, kernel_size=1)

        self.branch2 = nn.Sequential(BasicConv2d(in_channels, ch3x3red, kernel_size=1),
                                     BasicConv2d(ch3x3red, ch3x3, kernel_size=3, padding=1))

        self.branch3 = nn.Sequential(BasicConv2d(in_channels, ch5x5red, kernel_size=1),
                                     BasicConv2d(ch5x5red, ch5x5, kernel_size=5, padding=2))

        self.branch4 = nn.Sequential(nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
                                     BasicConv2d(in_channels, pool_proj, kernel_size=1))

    def forward(self, x):
        branch1 = self.branch1(x)
        branch2 = self.branch2(x)
        branch3 = self.branch3(x)
        branch4 = self.branch4(x)
        outputs = [branch1, branch2, branch3, branch4]
        return torch.cat(outputs, 1)


class AuxClf(nn.Module):
    def __init__(self, in_channels: int, num_classes: int, **kwargs) -> None:
        super().__init__()
        self.feature_ = nn.Sequential(nn.AvgPool2d(kernel_size=5, stride=3),
                                      BasicConv2d(in_channels, 128, kernel_size=1))
        self.clf_ = nn.Sequential(nn.Linear(4 * 4 * 128, 1024),
                                  nn.ReLU(inplace=True),
                                  nn.Dropout(p=0.7),
                                  nn.Linear(1024, num_classes),
                                  )

    def forward(self, x):
        x = self.feature_(x)
        x = x.view(-1, 128 * 4 * 4)
        output = self.clf_(x)
        return output


class GoogLetNet(nn.Module):  # sic: the document's spelling
    def __init__(self, num_classes: int = 1000, blocks=None) -> None:
        super().__init__()

        if blocks is None:
            blocks = [BasicConv2d, Inception, AuxClf]
        conv_block = blocks[0]
        Inception_block = blocks[1]
        AuxClf_block = blocks[2]

        # block1
        self.conv1 = conv_block(3, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        # block2
        self.conv2 = conv_block(64, 64, kernel_size=1)
        self.conv3 = conv_block(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        # block3
        self.in3a = Inception_block(192, 64, 96, 128, 16, 32, 32)
        self.in3b = Inception_block(256, 128, 128, 192, 32, 96, 64)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        # block 4
        self.in4a = Inception_block(480, 192, 96, 208, 16, 48, 64)
        self.in4b = Inception_block(512, 160, 112, 224, 24, 64, 64)
        self.in4c = Inception_block(512, 128, 128, 256, 24, 64, 64)
        self.in4d = Inception_block(512, 112, 144, 288, 32, 64, 64)
        self.in4e = Inception_block(528, 256, 160, 320, 32, 128, 128)
        self.maxpool4 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        # block5
        self.in5a = Inception_block(832, 256, 160, 320, 32, 128, 128)
        self.in5b = Inception_block(832, 384, 192, 384, 48, 128, 128)

        # clf
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(0.4)
        self.fc = nn.Linear(1024, num_classes)

        self.aux1 = AuxClf_block(512, num_classes)
        self.aux2 = AuxClf_block(528, num_classes)

    def forward(self, x):
        # block 1
        x = self.maxpool1(self.conv1(x))

        # block 2
        x = self.maxpool2(self.conv3(self.conv2(x)))

        # block3
        x = self.in3a(x)
        x = self.maxpool3(self.in3b(x))

        # block 4
        x = self.in4a(x)
        aux1 = self.aux1(x)

        x = self.in4b(x)
        x = self.in4c(x)
        x = self.in4d(x)
        aux2 = self.aux2(x)

        x = self.in4e(x)
        x = self.maxpool4(x)

        # block 5
        x = self.in5a(x)
        x = self.in5b(x)

        # clf
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.dropout(x)
        x = self.fc(x)

        return x, aux1, aux2


# ---- 2. ResNet (In [44], [46], [74], [53], [91], [108]) ----

def conv3x3(in_, out_, stride=1, initialzero=False):
    bn = nn.BatchNorm2d(out_)
    if initialzero == True:  # noqa: E712
        nn.init.constant_(bn.weight, 0)
    return nn.Sequential(nn.Conv2d(in_, out_, kernel_size=3, padding=1, stride=stride, bias=False),
                         bn)


def conv1x1(in_, out_, stride=1, initialzero=False):
    bn = nn.BatchNorm2d(out_)
    if initialzero == True:  # noqa: E712
        nn.init.constant_(bn.weight, 0)
    return nn.Sequential(nn.Conv2d(in_, out_, kernel_size=1, padding=0, stride=stride, bias=False),
                         bn)


class ResidualUnit(nn.Module):
    def __init__(self, out_: int, stride1: int = 1,
                 in_: Optional[int] = None
                 ) -> None:
        super().__init__()

        self.stride1 = stride1
        if stride1 != 1:
            in_ = int(out_ / 2)
        else:
            in_ = out_

        self.fit_ = nn.Sequential(conv3x3(in_, out_, stride=stride1),
                                  nn.ReLU(inplace=True),
                                  conv3x3(out_, out_, initialzero=True)
                                  )

        self.skipconv = conv1x1(in_, out_, stride=stride1)

        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        fx = self.fit_(x)
        if self.stride1 != 1:
            x = self.skipconv(x)

        hx = self.relu(fx + x)
        return hx


class Bottleneck(nn.Module):
    def __init__(self, middle_out,
                 stride1=1,
                 in_: Optional[int] = None) -> None:
        super().__init__()
        self.stride1 = stride1

        out_ = 4 * middle_out

        if in_ == None:  # noqa: E711
            if stride1 != 1:
                in_ = middle_out * 2
            else:
                in_ = middle_out * 4

        self.fit_ = nn.Sequential(conv1x1(in_, middle_out, stride=stride1),
                                  nn.ReLU(inplace=True),
                                  conv3x3(middle_out, middle_out),
                                  nn.ReLU(inplace=True),
                                  conv1x1(middle_out, out_, initialzero=True))

        self.skipconv = conv1x1(in_, out_, stride=stride1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        fx = self.fit_(x)
        x = self.skipconv(x)
        hx = self.relu(x + fx)
        return hx


def make_layers(block: Type[Union[ResidualUnit, Bottleneck]],
                middle_out: int,
                num_blocks: int,
                afterconv1: bool = False):
    layers = []

    if afterconv1 == True:  # noqa: E712
        layers.append(block(middle_out, in_=64))
    else:
        layers.append(block(middle_out, stride1=2))

    for i in range(num_blocks - 1):
        layers.append(block(middle_out))

    return nn.Sequential(*layers)


class ResNet(nn.Module):
    def __init__(self, block: Type[Union[ResidualUnit, Bottleneck]],
                 layers: List[int],
                 num_classes: int) -> None:
        super().__init__()

        self.layer1 = nn.Sequential(nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False),
                                    nn.BatchNorm2d(64),
                                    nn.ReLU(inplace=True),
                                    nn.MaxPool2d(3, stride=2, ceil_mode=True))
        self.layer2_x = make_layers(block, 64, layers[0], afterconv1=True)
        self.layer3_x = make_layers(block, 128, layers[1])
        self.layer4_x = make_layers(block, 256, layers[2])
        self.layer5_x = make_layers(block, 512, layers[3])

        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))

        if block == ResidualUnit:
            self.fc = nn.Linear(512, num_classes)
        else:
            self.fc = nn.Linear(2048, num_classes)

    def forward(self, x):
        x = self.layer1(x)
        x = self.layer5_x(self.layer4_x(self.layer3_x(self.layer2_x(x))))
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.fc(x)
        return x  # FIX: the document's forward has no `return`


# ---- Parity cases ----

# Both VGG16s flatten with view(-1, 7*7*512), so they need 224x224 (a 7x7 map after five pools).
register("vgg16_flat", VGG16Flat, input=(3, 224, 224))
register("vgg16_lesson", VGG16, input=(3, 224, 224))
register("nin", NiN, input=(3, 32, 32))
# The aux heads view their 4x4 map as (-1, 2048), which holds from 224 px; 224x244 is the document's
# own test input.
register("googlenet_lesson", GoogLetNet, input=(3, 224, 244))
register("googlenet_lesson@num_classes=10", lambda: GoogLetNet(num_classes=10), input=(3, 224, 224),
         args={"num_classes": "10"})

_RESNETS = {
    "resnet18_lesson": (ResidualUnit, [2, 2, 2, 2]),
    "resnet34_lesson": (ResidualUnit, [3, 4, 6, 3]),
    "resnet50_lesson": (Bottleneck, [3, 4, 6, 3]),
    "resnet101_lesson": (Bottleneck, [3, 4, 23, 3]),
    "resnet152_lesson": (Bottleneck, [3, 8, 36, 3]),
}
# 72x56 gives the ceil-mode stem pool maps of odd size to round up (36 -> 18, 28 -> 14).
for _name, (_block, _layers) in _RESNETS.items():
    register(_name, lambda block=_block, layers=_layers: ResNet(block, layers, 1000), input=(3, 72, 56))
register("resnet18_lesson@num_classes=7", lambda: ResNet(ResidualUnit, [2, 2, 2, 2], 7), input=(3, 64, 64),
         args={"num_classes": "7"})
