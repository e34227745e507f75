"""pytorch-models-notebook.md: LeNet5, AlexNet (half width) and GoogLeNet (conv + ReLU, no batch norm),
transcribed cell for cell with the notebook's own comments. The notebook's EfficientNet V1 cell (8.3) is
the same code as efficientnet-v1-notes.md (their syntax trees are equal once the string-literal comments
are dropped), so it is transcribed once, in efficientnet_v1_notes.py.

The VGG, ResNet/ResNeXt, MobileNetV2/V3 and ShuffleNetV2 cells are in pytorch_models_notebook_cells/:
their state dicts have torchvision's keys, order and shapes, except that ResNet(include_top=False) has no
`fc` and MobileNetV2(alpha < 1) narrows the last conv to 1280 * alpha where torchvision keeps 1280 (the
notebook's VGG also has no adaptive pool, so it takes 224 px only).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from zoo import register


# ---- （1）LeNet, cell "In [None]" --------------------------------------------------------------------
# 注意输入网络的图像维度是N * C * W * H，即batch_size * channel * width * height
# 比如3*1*28*28就是输入三张大小为28*28的1通道图像。
class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Sequential(
            # 输入是N*1*28*28，经过padding之后是N*1*32*32，输出是N*6*28*28
            nn.Conv2d(in_channels=1, out_channels=6, kernel_size=5, padding=2),
            # 激活和池化的操作可以在前向传播的时候进行,
            # 但是需要使用torch.nn.functional()中的函数,比如relu()、avg_pool2d()，
            # functional()中的函数需要传入参数，而nn中的不用。
            nn.ReLU(),
            # 池化之后N*6*28*28变为N*6*14*14
            nn.AvgPool2d(kernel_size=2, stride=2),
            # 输入N*6*14*14，输出N*16*10*10，注意padding默认值是0不是1。
            nn.Conv2d(in_channels=6, out_channels=16, kernel_size=5),
            nn.ReLU(),
            # 池化后N*16*10*10变为N*16*5*5
            nn.AvgPool2d(kernel_size=2, stride=2),
            # 输入N*16*5*5，默认padding为0，输出是N*120*1*1。
            nn.Conv2d(
                in_channels=16,
                out_channels=120,
                kernel_size=5,
            ),
            # nn.Flatten()将某些连续的维度展平，以便输入全连接层，其默认开始展平的维度是第一维。
            # 也可以在前向传播函数中使用torch.flatten()或者使用view()实现。
            # 而torch.flatten()默认开始展平的维度是第0维。
            # 输入是N*120*1*1,将其从第一个维度（就是120所在维度）到最后一个维度（第二个1所在维度）进行展平，
            # 也就变为N*120，这里120也就是输入全连接层的大小。
            nn.Flatten(start_dim=1, end_dim=-1),
        )

        self.classifier = nn.Sequential(
            # 偏置bias的默认值是True
            nn.Linear(in_features=120 * 1 * 1, out_features=84),
            nn.Linear(in_features=84, out_features=10),
        )

    def forward(self, x):
        x = self.conv(x)
        x = self.classifier(x)
        return x

    def validate(self, x):
        """验证卷积之后输出图像的尺寸"""
        x = self.conv(x)
        return x.shape


# ---- （2）AlexNet, cell "In [3]" ------------------------------------------------------------------------
# 注意输入网络的图像维度是N * C * W * H，即batch_size * channel * width * height
class AlexNet(nn.Module):
    def __init__(self, num_classes=1000, init_weights=False):
        super().__init__()
        self.feature = nn.Sequential(
            # input [N * 3 * 224 * 224]，output [N * 48 * 55 * 55]
            nn.Conv2d(
                in_channels=3, out_channels=48, kernel_size=11, padding=2, stride=4
            ),
            # inplace=True会把输出直接覆盖输入，这样可以节省内存/显存。
            # 之所以可以覆盖是因为在计算ReLU的反向传播时，只需根据输出就能够推算出反向传播的梯度。
            # 但是只有少数的autograd操作支持inplace操作（如tensor.sigmoid_()），
            # 除非你明确地知道自己在做什么，否则一般不要使用inplace操作。
            nn.ReLU(inplace=True),
            # input [N * 48 * 55 * 55]，output [N * 48 * 27 * 27]
            nn.MaxPool2d(kernel_size=3, stride=2),
            # input [N * 48 * 27 * 27]，output [N * 128 * 27 * 27]
            nn.Conv2d(in_channels=48, out_channels=128, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            # input [N * 128 * 27 * 27]，output [N * 128 * 13 * 13]
            nn.MaxPool2d(kernel_size=3, stride=2),
            # input [N * 128 * 13 * 13]，output [N * 192 * 13 * 13]
            nn.Conv2d(in_channels=128, out_channels=192, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            # input [N * 192 * 13 * 13]，output [N * 192 * 13 * 13]
            nn.Conv2d(in_channels=192, out_channels=192, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            # input [N * 192 * 13 * 13]，output[N * 128 * 13 * 13]
            nn.Conv2d(in_channels=192, out_channels=128, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            # input [N * 128 * 13 * 13]，output [N * 128 * 6 * 6]
            nn.MaxPool2d(kernel_size=3, stride=2),
            # output [N * 4608]=N*(128 * 6 * 6)
            nn.Flatten(),  # 默认开始展平的维度是第1维，不是第0维。
        )
        self.classifier = nn.Sequential(
            # 随机失活一些神经元，要使用的话需要在数据进入每一层节点之前使用。
            nn.Dropout(p=0.5),
            nn.Linear(in_features=128 * 6 * 6, out_features=2048),
            nn.ReLU(inplace=True),
            nn.Dropout(p=0.5),
            nn.Linear(in_features=2048, out_features=2048),
            nn.ReLU(inplace=True),
            nn.Linear(in_features=2048, out_features=num_classes),
        )

        if init_weights:
            self._initialize_weights()

    def forward(self, x):
        x = self.feature(x)
        # 如果在卷积层feature中没有使用"nn.Flatten()"进行展平，
        # 可以在这个位置使用torch.flatten()或view()
        x = self.classifier(x)
        return x

    # 权重初始化函数
    def _initialize_weights(self):
        for m in self.modules():
            # isinstance(object, classinfo) 函数来判断一个对象是否是一个已知的类型
            # object -- 实例对象。
            # classinfo -- 可以是直接或间接类名、基本类型或者由它们组成的元组。
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.constant_(m.bias, 0)


# ---- （4）InceptionNet (GoogLeNet), cell "In [7]" -------------------------------------------------------
class GoogLeNet(nn.Module):
    def __init__(self, num_classes=1000, aux_logits=True, init_weights=False):
        super(GoogLeNet, self).__init__()
        self.aux_logits = aux_logits

        self.conv1 = BasicConv2d(3, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        self.conv2 = BasicConv2d(64, 64, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32)
        self.inception3b = Inception(256, 128, 128, 192, 32, 96, 64)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        self.inception4a = Inception(480, 192, 96, 208, 16, 48, 64)
        self.inception4b = Inception(512, 160, 112, 224, 24, 64, 64)
        self.inception4c = Inception(512, 128, 128, 256, 24, 64, 64)
        self.inception4d = Inception(512, 112, 144, 288, 32, 64, 64)
        self.inception4e = Inception(528, 256, 160, 320, 32, 128, 128)
        self.maxpool4 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        self.inception5a = Inception(832, 256, 160, 320, 32, 128, 128)
        self.inception5b = Inception(832, 384, 192, 384, 48, 128, 128)

        if self.aux_logits:
            self.aux1 = InceptionAux(512, num_classes)
            self.aux2 = InceptionAux(528, num_classes)

        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(0.4)
        self.fc = nn.Linear(1024, num_classes)
        if init_weights:
            self._initialize_weights()

    def forward(self, x):
        # N x 3 x 224 x 224
        x = self.conv1(x)
        # N x 64 x 112 x 112
        x = self.maxpool1(x)
        # N x 64 x 56 x 56
        x = self.conv2(x)
        # N x 64 x 56 x 56
        x = self.conv3(x)
        # N x 192 x 56 x 56
        x = self.maxpool2(x)

        # N x 192 x 28 x 28
        x = self.inception3a(x)
        # N x 256 x 28 x 28
        x = self.inception3b(x)
        # N x 480 x 28 x 28
        x = self.maxpool3(x)
        # N x 480 x 14 x 14
        x = self.inception4a(x)
        # N x 512 x 14 x 14
        if self.training and self.aux_logits:  # eval model lose this layer
            aux1 = self.aux1(x)

        x = self.inception4b(x)
        # N x 512 x 14 x 14
        x = self.inception4c(x)
        # N x 512 x 14 x 14
        x = self.inception4d(x)
        # N x 528 x 14 x 14
        if self.training and self.aux_logits:  # eval model lose this layer
            aux2 = self.aux2(x)

        x = self.inception4e(x)
        # N x 832 x 14 x 14
        x = self.maxpool4(x)
        # N x 832 x 7 x 7
        x = self.inception5a(x)
        # N x 832 x 7 x 7
        x = self.inception5b(x)
        # N x 1024 x 7 x 7

        x = self.avgpool(x)
        # N x 1024 x 1 x 1
        x = torch.flatten(x, 1)
        # N x 1024
        x = self.dropout(x)
        x = self.fc(x)
        # N x 1000 (num_classes)
        if self.training and self.aux_logits:  # eval model lose this layer
            return x, aux2, aux1
        return x

    def _initialize_weights(self):
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.constant_(m.bias, 0)


class Inception(nn.Module):
    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
        super(Inception, self).__init__()

        self.branch1 = BasicConv2d(in_channels, ch1x1, kernel_size=1)

        self.branch2 = nn.Sequential(
            BasicConv2d(in_channels, ch3x3red, kernel_size=1),
            BasicConv2d(
                ch3x3red, ch3x3, kernel_size=3, padding=1
            ),  # 保证输出大小等于输入大小
        )

        self.branch3 = nn.Sequential(
            BasicConv2d(in_channels, ch5x5red, kernel_size=1),
            BasicConv2d(
                ch5x5red, ch5x5, kernel_size=5, padding=2
            ),  # 保证输出大小等于输入大小
        )

        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1),
            BasicConv2d(in_channels, pool_proj, kernel_size=1),
        )

    def forward(self, x):
        branch1 = self.branch1(x)
        branch2 = self.branch2(x)
        branch3 = self.branch3(x)
        branch4 = self.branch4(x)

        outputs = [branch1, branch2, branch3, branch4]
        return torch.cat(outputs, 1)


class InceptionAux(nn.Module):
    def __init__(self, in_channels, num_classes):
        super(InceptionAux, self).__init__()
        self.averagePool = nn.AvgPool2d(kernel_size=5, stride=3)
        self.conv = BasicConv2d(
            in_channels, 128, kernel_size=1
        )  # output[batch, 128, 4, 4]

        self.fc1 = nn.Linear(2048, 1024)
        self.fc2 = nn.Linear(1024, num_classes)

    def forward(self, x):
        # aux1: N x 512 x 14 x 14, aux2: N x 528 x 14 x 14
        x = self.averagePool(x)
        # aux1: N x 512 x 4 x 4, aux2: N x 528 x 4 x 4
        x = self.conv(x)
        # N x 128 x 4 x 4
        x = torch.flatten(x, 1)
        x = F.dropout(x, 0.5, training=self.training)
        # N x 2048
        x = F.relu(self.fc1(x), inplace=True)
        x = F.dropout(x, 0.5, training=self.training)
        # N x 1024
        x = self.fc2(x)
        # N x num_classes
        return x


class BasicConv2d(nn.Module):
    def __init__(self, in_channels, out_channels, **kwargs):
        super(BasicConv2d, self).__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, **kwargs)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.conv(x)
        x = self.relu(x)
        return x


# LeNet5 takes MNIST's 1x28x28 (its first conv pads to 32x32; the third conv then needs exactly 5x5 left).
register("lenet5", LeNet5, input=(1, 28, 28))
# AlexNet has no adaptive pool: classifier.1 expects 128x6x6, which inputs from 223 to 254 px give.
register("alexnet_half", AlexNet, input=(3, 231, 224))
register("alexnet_half@num_classes=10", lambda: AlexNet(num_classes=10), input=(3, 224, 224),
         args={"num_classes": "10"})
# The ceil-mode max pools and the adaptive average pool take small inputs; the auxiliary classifiers
# only run in training, so in eval they are keys without a forward.
register("googlenet_nobn", GoogLeNet, input=(3, 72, 64))
register("googlenet_nobn@aux_logits=False,num_classes=10", lambda: GoogLeNet(num_classes=10, aux_logits=False),
         input=(3, 64, 64), args={"aux_logits": "False", "num_classes": "10"})
