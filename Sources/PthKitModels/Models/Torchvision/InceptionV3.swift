import PthKitRuntime

/// torchvision `models/inception.py`: Inception v3 (`Inception3`), key for key, in eval mode.
public final class Inception3: Module, @unchecked Sendable {
    /// torchvision's `inception.BasicConv2d` is GoogLeNet's: conv without bias, batch norm eps 0.001, ReLU.
    typealias BasicConv2d = GoogLeNet.BasicConv2d

    /// The inception blocks register their branch convolutions by name, in `__init__`'s order.
    class Block: Module, @unchecked Sendable {
        func conv(_ name: String, _ inChannels: Int, _ outChannels: Int, _ kernelSize: Pair, stride: Pair = 1, padding: Pair = 0)
            -> BasicConv2d
        {
            registerModule(name, BasicConv2d(inChannels, outChannels, kernelSize: kernelSize, stride: stride, padding: padding))
        }

        /// `F.avg_pool2d(x, kernel_size=3, stride=1, padding=1)`: the padding counts in the divisor, as in torch.
        func branchPool(_ x: Tensor) throws -> Tensor {
            try Kernels.avgPool2d(
                x, kernel: (3, 3), stride: (1, 1), padding: (1, 1), ceilMode: false, countIncludePad: true,
                divisorOverride: nil)
        }

        /// `F.max_pool2d(x, kernel_size=3, stride=2)`.
        func maxPool(_ x: Tensor) throws -> Tensor {
            try Kernels.maxPool2d(x, kernel: (3, 3), stride: (2, 2), padding: (0, 0), dilation: (1, 1), ceilMode: false)
        }
    }

    final class InceptionA: Block, @unchecked Sendable {
        var branch1x1: BasicConv2d!, branch5x5_1: BasicConv2d!, branch5x5_2: BasicConv2d!
        var branch3x3dbl_1: BasicConv2d!, branch3x3dbl_2: BasicConv2d!, branch3x3dbl_3: BasicConv2d!
        var branch_pool: BasicConv2d!

        init(_ inChannels: Int, poolFeatures: Int) {
            super.init()
            branch1x1 = conv("branch1x1", inChannels, 64, 1)
            branch5x5_1 = conv("branch5x5_1", inChannels, 48, 1)
            branch5x5_2 = conv("branch5x5_2", 48, 64, 5, padding: 2)
            branch3x3dbl_1 = conv("branch3x3dbl_1", inChannels, 64, 1)
            branch3x3dbl_2 = conv("branch3x3dbl_2", 64, 96, 3, padding: 1)
            branch3x3dbl_3 = conv("branch3x3dbl_3", 96, 96, 3, padding: 1)
            branch_pool = conv("branch_pool", inChannels, poolFeatures, 1)
        }

        override func forward(_ x: Tensor) throws -> Tensor {
            let branch1x1 = try branch1x1(x)
            let branch5x5 = try branch5x5_2(branch5x5_1(x))
            let branch3x3dbl = try branch3x3dbl_3(branch3x3dbl_2(branch3x3dbl_1(x)))
            let branchPool = try branch_pool(branchPool(x))
            return try Kernels.concatenate([branch1x1, branch5x5, branch3x3dbl, branchPool], dim: 1)
        }
    }

    final class InceptionB: Block, @unchecked Sendable {
        var branch3x3: BasicConv2d!, branch3x3dbl_1: BasicConv2d!, branch3x3dbl_2: BasicConv2d!
        var branch3x3dbl_3: BasicConv2d!

        init(_ inChannels: Int) {
            super.init()
            branch3x3 = conv("branch3x3", inChannels, 384, 3, stride: 2)
            branch3x3dbl_1 = conv("branch3x3dbl_1", inChannels, 64, 1)
            branch3x3dbl_2 = conv("branch3x3dbl_2", 64, 96, 3, padding: 1)
            branch3x3dbl_3 = conv("branch3x3dbl_3", 96, 96, 3, stride: 2)
        }

        override func forward(_ x: Tensor) throws -> Tensor {
            let branch3x3 = try branch3x3(x)
            let branch3x3dbl = try branch3x3dbl_3(branch3x3dbl_2(branch3x3dbl_1(x)))
            return try Kernels.concatenate([branch3x3, branch3x3dbl, maxPool(x)], dim: 1)
        }
    }

    /// 7x7 convolutions factored into 1x7 and 7x1.
    final class InceptionC: Block, @unchecked Sendable {
        var branch1x1: BasicConv2d!
        var branch7x7_1: BasicConv2d!, branch7x7_2: BasicConv2d!, branch7x7_3: BasicConv2d!
        var branch7x7dbl_1: BasicConv2d!, branch7x7dbl_2: BasicConv2d!, branch7x7dbl_3: BasicConv2d!
        var branch7x7dbl_4: BasicConv2d!, branch7x7dbl_5: BasicConv2d!
        var branch_pool: BasicConv2d!

        init(_ inChannels: Int, channels7x7 c7: Int) {
            super.init()
            branch1x1 = conv("branch1x1", inChannels, 192, 1)
            branch7x7_1 = conv("branch7x7_1", inChannels, c7, 1)
            branch7x7_2 = conv("branch7x7_2", c7, c7, Pair(1, 7), padding: Pair(0, 3))
            branch7x7_3 = conv("branch7x7_3", c7, 192, Pair(7, 1), padding: Pair(3, 0))
            branch7x7dbl_1 = conv("branch7x7dbl_1", inChannels, c7, 1)
            branch7x7dbl_2 = conv("branch7x7dbl_2", c7, c7, Pair(7, 1), padding: Pair(3, 0))
            branch7x7dbl_3 = conv("branch7x7dbl_3", c7, c7, Pair(1, 7), padding: Pair(0, 3))
            branch7x7dbl_4 = conv("branch7x7dbl_4", c7, c7, Pair(7, 1), padding: Pair(3, 0))
            branch7x7dbl_5 = conv("branch7x7dbl_5", c7, 192, Pair(1, 7), padding: Pair(0, 3))
            branch_pool = conv("branch_pool", inChannels, 192, 1)
        }

        override func forward(_ x: Tensor) throws -> Tensor {
            let branch1x1 = try branch1x1(x)
            let branch7x7 = try branch7x7_3(branch7x7_2(branch7x7_1(x)))
            var branch7x7dbl = try branch7x7dbl_3(branch7x7dbl_2(branch7x7dbl_1(x)))
            branch7x7dbl = try branch7x7dbl_5(branch7x7dbl_4(branch7x7dbl))
            let branchPool = try branch_pool(branchPool(x))
            return try Kernels.concatenate([branch1x1, branch7x7, branch7x7dbl, branchPool], dim: 1)
        }
    }

    final class InceptionD: Block, @unchecked Sendable {
        var branch3x3_1: BasicConv2d!, branch3x3_2: BasicConv2d!
        var branch7x7x3_1: BasicConv2d!, branch7x7x3_2: BasicConv2d!, branch7x7x3_3: BasicConv2d!
        var branch7x7x3_4: BasicConv2d!

        init(_ inChannels: Int) {
            super.init()
            branch3x3_1 = conv("branch3x3_1", inChannels, 192, 1)
            branch3x3_2 = conv("branch3x3_2", 192, 320, 3, stride: 2)
            branch7x7x3_1 = conv("branch7x7x3_1", inChannels, 192, 1)
            branch7x7x3_2 = conv("branch7x7x3_2", 192, 192, Pair(1, 7), padding: Pair(0, 3))
            branch7x7x3_3 = conv("branch7x7x3_3", 192, 192, Pair(7, 1), padding: Pair(3, 0))
            branch7x7x3_4 = conv("branch7x7x3_4", 192, 192, 3, stride: 2)
        }

        override func forward(_ x: Tensor) throws -> Tensor {
            let branch3x3 = try branch3x3_2(branch3x3_1(x))
            let branch7x7x3 = try branch7x7x3_4(branch7x7x3_3(branch7x7x3_2(branch7x7x3_1(x))))
            return try Kernels.concatenate([branch3x3, branch7x7x3, maxPool(x)], dim: 1)
        }
    }

    /// Branches that split into a 1x3 and a 3x1 convolution side by side.
    final class InceptionE: Block, @unchecked Sendable {
        var branch1x1: BasicConv2d!
        var branch3x3_1: BasicConv2d!, branch3x3_2a: BasicConv2d!, branch3x3_2b: BasicConv2d!
        var branch3x3dbl_1: BasicConv2d!, branch3x3dbl_2: BasicConv2d!
        var branch3x3dbl_3a: BasicConv2d!, branch3x3dbl_3b: BasicConv2d!
        var branch_pool: BasicConv2d!

        init(_ inChannels: Int) {
            super.init()
            branch1x1 = conv("branch1x1", inChannels, 320, 1)
            branch3x3_1 = conv("branch3x3_1", inChannels, 384, 1)
            branch3x3_2a = conv("branch3x3_2a", 384, 384, Pair(1, 3), padding: Pair(0, 1))
            branch3x3_2b = conv("branch3x3_2b", 384, 384, Pair(3, 1), padding: Pair(1, 0))
            branch3x3dbl_1 = conv("branch3x3dbl_1", inChannels, 448, 1)
            branch3x3dbl_2 = conv("branch3x3dbl_2", 448, 384, 3, padding: 1)
            branch3x3dbl_3a = conv("branch3x3dbl_3a", 384, 384, Pair(1, 3), padding: Pair(0, 1))
            branch3x3dbl_3b = conv("branch3x3dbl_3b", 384, 384, Pair(3, 1), padding: Pair(1, 0))
            branch_pool = conv("branch_pool", inChannels, 192, 1)
        }

        override func forward(_ x: Tensor) throws -> Tensor {
            let branch1x1 = try branch1x1(x)
            var branch3x3 = try branch3x3_1(x)
            branch3x3 = try Kernels.concatenate([branch3x3_2a(branch3x3), branch3x3_2b(branch3x3)], dim: 1)
            var branch3x3dbl = try branch3x3dbl_2(branch3x3dbl_1(x))
            branch3x3dbl = try Kernels.concatenate([branch3x3dbl_3a(branch3x3dbl), branch3x3dbl_3b(branch3x3dbl)], dim: 1)
            let branchPool = try branch_pool(branchPool(x))
            return try Kernels.concatenate([branch1x1, branch3x3, branch3x3dbl, branchPool], dim: 1)
        }
    }

    /// `InceptionAux`: the auxiliary classifier after `Mixed_6e`. Its weights are in the state dict,
    /// but torch only calls it in training.
    final class InceptionAux: Block, @unchecked Sendable {
        var conv0: BasicConv2d!, conv1: BasicConv2d!
        let fc: Linear

        init(_ inChannels: Int, numClasses: Int) {
            fc = Linear(768, numClasses)
            super.init()
            conv0 = conv("conv0", inChannels, 128, 1)
            conv1 = conv("conv1", 128, 768, 5)
            registerModule("fc", fc)
        }
    }

    let transformInput: Bool
    /// `Conv2d_1a_3x3` ... `Mixed_7c` but `AuxLogits`, in the order `_forward` applies them.
    let trunk: [Module]
    let avgpool = AdaptiveAvgPool2d(1), dropout: Dropout, fc: Linear

    init(numClasses: Int, auxLogits: Bool, transformInput: Bool, dropout: Double) {
        self.transformInput = transformInput
        let stem: [(String, Module)] = [
            ("Conv2d_1a_3x3", BasicConv2d(3, 32, kernelSize: 3, stride: 2)),
            ("Conv2d_2a_3x3", BasicConv2d(32, 32, kernelSize: 3)),
            ("Conv2d_2b_3x3", BasicConv2d(32, 64, kernelSize: 3, padding: 1)),
            ("maxpool1", MaxPool2d(kernelSize: 3, stride: 2)),
            ("Conv2d_3b_1x1", BasicConv2d(64, 80, kernelSize: 1)),
            ("Conv2d_4a_3x3", BasicConv2d(80, 192, kernelSize: 3)),
            ("maxpool2", MaxPool2d(kernelSize: 3, stride: 2)),
            ("Mixed_5b", InceptionA(192, poolFeatures: 32)),
            ("Mixed_5c", InceptionA(256, poolFeatures: 64)),
            ("Mixed_5d", InceptionA(288, poolFeatures: 64)),
            ("Mixed_6a", InceptionB(288)),
            ("Mixed_6b", InceptionC(768, channels7x7: 128)),
            ("Mixed_6c", InceptionC(768, channels7x7: 160)),
            ("Mixed_6d", InceptionC(768, channels7x7: 160)),
            ("Mixed_6e", InceptionC(768, channels7x7: 192)),
        ]
        let tail: [(String, Module)] = [
            ("Mixed_7a", InceptionD(768)),
            ("Mixed_7b", InceptionE(1280)),
            ("Mixed_7c", InceptionE(2048)),
        ]
        trunk = (stem + tail).map(\.1)
        self.dropout = Dropout(dropout)
        fc = Linear(2048, numClasses)
        super.init()
        for (name, module) in stem { registerModule(name, module) }
        if auxLogits { registerModule("AuxLogits", InceptionAux(768, numClasses: numClasses)) }
        for (name, module) in tail { registerModule(name, module) }
        registerModule("avgpool", avgpool)
        registerModule("dropout", self.dropout)
        registerModule("fc", fc)
    }

    public override func forward(_ input: Tensor) throws -> Tensor {
        var x = input
        if transformInput { x = try GoogLeNet.transformInput(x) }
        for module in trunk { x = try module(x) }
        return try fc(Kernels.flatten(dropout(avgpool(x)), startDim: 1))
    }
}

extension ModelZoo {
    static let inceptionBuilders: [String: Builder] = [
        "inception_v3": { arguments in
            // Without weights torchvision's builder passes its kwargs to `Inception3`, whose defaults
            // apply: aux_logits=True, transform_input=False.
            let numClasses = try arguments.numClasses()
            let auxLogits = try arguments.bool("aux_logits", default: true)
            let transformInput = try arguments.bool("transform_input", default: false)
            // Accepted as torchvision does; it only chooses the initial weights, which a checkpoint replaces.
            _ = try arguments.bool("init_weights", default: true)
            return Inception3(
                numClasses: numClasses, auxLogits: auxLogits, transformInput: transformInput,
                dropout: try arguments.double("dropout", default: 0.5, in: 0...1))
        },
    ]
}
