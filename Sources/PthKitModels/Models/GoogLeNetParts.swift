import PthKitRuntime

/// What the GoogLeNet (Inception v1) ports share: the paper's layer plan and the four-branch `Inception`
/// block. They differ in their `BasicConv2d` (with or without batch norm), the kernel of the "5x5"
/// branch, the names of the inception blocks, the last max pool and the auxiliary heads.
enum GoogLeNetParts {
    /// A port's `BasicConv2d(in_channels, out_channels, kernel_size, stride, padding)`.
    typealias BasicConv = (_ inChannels: Int, _ outChannels: Int, _ kernelSize: Int, _ stride: Int, _ padding: Int) -> Module

    /// `Inception(in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj)`: 1x1, 1x1 then 3x3,
    /// 1x1 then `branch3Kernel`, and a 3x3 stride-1 max pool then 1x1, concatenated along channels.
    final class Inception: Module, @unchecked Sendable {
        let branch1: Module, branch2: Sequential, branch3: Sequential, branch4: Sequential

        init(_ channels: Channels, basicConv: BasicConv, branch3Kernel: Int, poolCeilMode: Bool) {
            let c = channels
            branch1 = basicConv(c.inChannels, c.ch1x1, 1, 1, 0)
            branch2 = Sequential(basicConv(c.inChannels, c.ch3x3red, 1, 1, 0), basicConv(c.ch3x3red, c.ch3x3, 3, 1, 1))
            branch3 = Sequential(
                basicConv(c.inChannels, c.ch5x5red, 1, 1, 0),
                basicConv(c.ch5x5red, c.ch5x5, branch3Kernel, 1, (branch3Kernel - 1) / 2))
            branch4 = Sequential(
                MaxPool2d(kernelSize: 3, stride: 1, padding: 1, ceilMode: poolCeilMode),
                basicConv(c.inChannels, c.poolProj, 1, 1, 0))
            super.init()
            registerModule("branch1", branch1)
            registerModule("branch2", branch2)
            registerModule("branch3", branch3)
            registerModule("branch4", branch4)
        }

        override func forward(_ input: Tensor) throws -> Tensor {
            try Kernels.concatenate([branch1(input), branch2(input), branch3(input), branch4(input)], dim: 1)
        }
    }

    /// An `Inception(...)` call's channel arguments, in its order.
    struct Channels {
        let inChannels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, poolProj: Int

        init(_ inChannels: Int, _ ch1x1: Int, _ ch3x3red: Int, _ ch3x3: Int, _ ch5x5red: Int, _ ch5x5: Int, _ poolProj: Int) {
            (self.inChannels, self.ch1x1, self.ch3x3red, self.ch3x3) = (inChannels, ch1x1, ch3x3red, ch3x3)
            (self.ch5x5red, self.ch5x5, self.poolProj) = (ch5x5red, ch5x5, poolProj)
        }
    }

    enum Step {
        case conv(String, Int, Int, kernelSize: Int, stride: Int, padding: Int)
        /// 3x3, stride 2, ceil mode; the last one's kernel is the port's.
        case maxPool(String)
        /// `inception3a` ... `inception5b` by their suffix.
        case inception(String, Channels)
    }

    /// conv1 ... inception5b in the order `__init__` assigns and `forward` applies them (Table 1 of
    /// "Going deeper with convolutions").
    static let plan: [Step] = [
        .conv("conv1", 3, 64, kernelSize: 7, stride: 2, padding: 3),
        .maxPool("maxpool1"),
        .conv("conv2", 64, 64, kernelSize: 1, stride: 1, padding: 0),
        .conv("conv3", 64, 192, kernelSize: 3, stride: 1, padding: 1),
        .maxPool("maxpool2"),
        .inception("3a", Channels(192, 64, 96, 128, 16, 32, 32)),
        .inception("3b", Channels(256, 128, 128, 192, 32, 96, 64)),
        .maxPool("maxpool3"),
        .inception("4a", Channels(480, 192, 96, 208, 16, 48, 64)),
        .inception("4b", Channels(512, 160, 112, 224, 24, 64, 64)),
        .inception("4c", Channels(512, 128, 128, 256, 24, 64, 64)),
        .inception("4d", Channels(512, 112, 144, 288, 32, 64, 64)),
        .inception("4e", Channels(528, 256, 160, 320, 32, 128, 128)),
        .maxPool("maxpool4"),
        .inception("5a", Channels(832, 256, 160, 320, 32, 128, 128)),
        .inception("5b", Channels(832, 384, 192, 384, 48, 128, 128)),
    ]

    /// The trunk as named modules: inception blocks named `inceptionPrefix` + suffix (`inception3a`,
    /// `in3a`), `maxpool4` of `lastPoolKernel` (3 in the paper, 2 in torchvision).
    static func trunk(
        inceptionPrefix: String, lastPoolKernel: Int, branch3Kernel: Int, branch4CeilMode: Bool, basicConv: BasicConv
    ) -> [(name: String, module: Module)] {
        plan.map { step in
            switch step {
            case let .conv(name, inChannels, outChannels, kernelSize, stride, padding):
                return (name, basicConv(inChannels, outChannels, kernelSize, stride, padding))
            case let .maxPool(name):
                let kernel = name == "maxpool4" ? lastPoolKernel : 3
                return (name, MaxPool2d(kernelSize: Pair(kernel, kernel), stride: 2, ceilMode: true))
            case let .inception(suffix, channels):
                return (inceptionPrefix + suffix, Inception(
                    channels, basicConv: basicConv, branch3Kernel: branch3Kernel, poolCeilMode: branch4CeilMode))
            }
        }
    }
}
