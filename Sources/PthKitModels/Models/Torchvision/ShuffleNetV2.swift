import PthKitRuntime

/// torchvision `models/shufflenetv2.py`: ShuffleNet V2 x0.5 to x2.0, key for key.
public final class ShuffleNetV2: Module, @unchecked Sendable {
    /// ShuffleNet's `InvertedResidual` (not MobileNetV2's): at stride 1 half the channels pass
    /// through untouched; at stride > 1 both halves are computed from the whole input. Either way the
    /// two halves are concatenated and shuffled.
    final class InvertedResidual: Module, @unchecked Sendable {
        let stride: Int
        let branch1: Sequential, branch2: Sequential

        init(_ inp: Int, _ oup: Int, stride: Int) {
            self.stride = stride
            let branchFeatures = oup / 2
            // At stride 1 `branch1` is an empty Sequential: no keys, but a module in the state dict's metadata.
            branch1 = stride > 1
                ? Sequential(
                    Self.depthwiseConv(inp, kernelSize: 3, stride: stride, padding: 1), BatchNorm2d(inp),
                    Conv2d(inp, branchFeatures, kernelSize: 1, bias: false), BatchNorm2d(branchFeatures), ReLU())
                : Sequential()
            branch2 = Sequential(
                Conv2d(stride > 1 ? inp : branchFeatures, branchFeatures, kernelSize: 1, bias: false),
                BatchNorm2d(branchFeatures), ReLU(),
                Self.depthwiseConv(branchFeatures, kernelSize: 3, stride: stride, padding: 1),
                BatchNorm2d(branchFeatures),
                Conv2d(branchFeatures, branchFeatures, kernelSize: 1, bias: false), BatchNorm2d(branchFeatures), ReLU())
            super.init()
            registerModule("branch1", branch1)
            registerModule("branch2", branch2)
        }

        static func depthwiseConv(_ channels: Int, kernelSize: Pair, stride: Int, padding: Pair) -> Conv2d {
            Conv2d(
                channels, channels, kernelSize: kernelSize, stride: Pair(stride, stride), padding: padding,
                groups: channels, bias: false)
        }

        override func forward(_ input: Tensor) throws -> Tensor {
            let out: Tensor
            if stride == 1 {
                let halves = try Kernels.chunk(input, chunks: 2, dim: 1)
                guard halves.count == 2 else {
                    throw RuntimeError.shapeMismatch(
                        operation: "InvertedResidual", expected: "at least 2 channels", found: "shape \(input.shape)")
                }
                out = try Kernels.concatenate([halves[0], branch2(halves[1])], dim: 1)
            } else {
                out = try Kernels.concatenate([branch1(input), branch2(input)], dim: 1)
            }
            return try Kernels.channelShuffle(out, groups: 2)
        }
    }

    let conv1: Sequential, maxpool = MaxPool2d(kernelSize: 3, stride: 2, padding: 1)
    let stages: [Sequential]
    let conv5: Sequential, fc: Linear

    init(stagesRepeats: [Int], stagesOutChannels: [Int], numClasses: Int) {
        conv1 = Sequential(
            Conv2d(3, stagesOutChannels[0], kernelSize: 3, stride: 2, padding: 1, bias: false),
            BatchNorm2d(stagesOutChannels[0]), ReLU())
        var inputChannels = stagesOutChannels[0]
        var stages: [Sequential] = []
        for (repeats, outputChannels) in zip(stagesRepeats, stagesOutChannels.dropFirst()) {
            var blocks = [InvertedResidual(inputChannels, outputChannels, stride: 2)]
            for _ in 1..<max(repeats, 1) { blocks.append(InvertedResidual(outputChannels, outputChannels, stride: 1)) }
            stages.append(Sequential(blocks))
            inputChannels = outputChannels
        }
        self.stages = stages
        let outputChannels = stagesOutChannels[stagesOutChannels.count - 1]
        conv5 = Sequential(
            Conv2d(inputChannels, outputChannels, kernelSize: 1, bias: false), BatchNorm2d(outputChannels), ReLU())
        fc = Linear(outputChannels, numClasses)
        super.init()
        registerModule("conv1", conv1)
        registerModule("maxpool", maxpool)
        for (index, stage) in stages.enumerated() { registerModule("stage\(index + 2)", stage) }
        registerModule("conv5", conv5)
        registerModule("fc", fc)
    }

    public override func forward(_ input: Tensor) throws -> Tensor {
        var x = try maxpool(conv1(input))
        for stage in stages { x = try stage(x) }
        // `x.mean([2, 3])`, the global pool.
        let pooled = try Kernels.adaptiveAvgPool2d(conv5(x), outputSize: (1, 1))
        return try fc(Kernels.flatten(pooled, startDim: 1))
    }
}

extension ModelZoo {
    /// name -> stages_out_channels; every width repeats its stages [4, 8, 4] times.
    private static let shufflenetConfigurations: [String: [Int]] = [
        "shufflenet_v2_x0_5": [24, 48, 96, 192, 1024],
        "shufflenet_v2_x1_0": [24, 116, 232, 464, 1024],
        "shufflenet_v2_x1_5": [24, 176, 352, 704, 1024],
        "shufflenet_v2_x2_0": [24, 244, 488, 976, 2048],
    ]

    static let shufflenetBuilders: [String: Builder] = shufflenetConfigurations.mapValues { channels in
        { arguments in
            ShuffleNetV2(
                stagesRepeats: [4, 8, 4], stagesOutChannels: channels,
                numClasses: try arguments.numClasses())
        }
    }
}
