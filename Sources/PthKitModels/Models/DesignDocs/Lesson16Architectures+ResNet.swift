import PthKitRuntime

/// lesson-16 section 2: ResNet built from `ResidualUnit` (18, 34 layers) or `Bottleneck` (50, 101,
/// 152) by `make_layers`, with a ceil-mode max pool in the stem and a `skipconv` in every block.
extension Lesson16Architectures {
    /// `conv3x3` / `conv1x1`: Sequential(Conv2d without bias, BatchNorm2d). `initialzero` only zeroes
    /// the batch norm's initial weight, which a checkpoint replaces.
    static func conv3x3(_ in_: Int, _ out_: Int, stride: Int = 1) -> Sequential {
        Sequential(Conv2d(in_, out_, kernelSize: 3, stride: Pair(stride, stride), padding: 1, bias: false), BatchNorm2d(out_))
    }

    static func conv1x1(_ in_: Int, _ out_: Int, stride: Int = 1) -> Sequential {
        Sequential(Conv2d(in_, out_, kernelSize: 1, stride: Pair(stride, stride), bias: false), BatchNorm2d(out_))
    }

    /// What `ResidualUnit` and `Bottleneck` share: `fit_`, `skipconv` and `relu`, registered in that
    /// order, and relu(fit_(x) + shortcut) where the shortcut is skipconv(x) or x itself.
    class FitAndSkip: Module, @unchecked Sendable {
        let fit_: Sequential, skipconv: Sequential, relu = ReLU()
        let appliesSkipconv: Bool

        init(fit_: Sequential, skipconv: Sequential, appliesSkipconv: Bool) {
            self.fit_ = fit_
            self.skipconv = skipconv
            self.appliesSkipconv = appliesSkipconv
            super.init()
            registerModule("fit_", fit_)
            registerModule("skipconv", skipconv)
            registerModule("relu", relu)
        }

        override func forward(_ input: Tensor) throws -> Tensor {
            var hx = try fit_(input)
            try Kernels.addInPlace(&hx, appliesSkipconv ? skipconv(input) : input)
            return try relu(hx)
        }
    }

    /// `ResidualUnit(out_, stride1, in_)`: `fit_` = conv3x3, ReLU, conv3x3. The input width is derived
    /// from `stride1` (half of `out_` when it downsamples, else `out_`), so `in_` is ignored, as in the
    /// document. Every unit builds a `skipconv`, but the forward only applies it when `stride1 != 1`;
    /// otherwise the shortcut is the identity and the skipconv's weights go unused.
    final class ResidualUnit: FitAndSkip, @unchecked Sendable {
        init(_ out_: Int, stride1: Int = 1, in_: Int? = nil) {
            let in_ = stride1 != 1 ? out_ / 2 : out_
            super.init(
                fit_: Sequential(conv3x3(in_, out_, stride: stride1), ReLU(), conv3x3(out_, out_)),
                skipconv: conv1x1(in_, out_, stride: stride1), appliesSkipconv: stride1 != 1)
        }
    }

    /// `Bottleneck(middle_out, stride1, in_)`: `fit_` = conv1x1 (with the stride), ReLU, conv3x3, ReLU,
    /// conv1x1 to 4 x middle_out. `in_` is given only after the stem (64); otherwise it is 2 x
    /// middle_out where the block downsamples, 4 x middle_out where it repeats. The `skipconv` is
    /// always applied, even where the shapes already agree.
    final class Bottleneck: FitAndSkip, @unchecked Sendable {
        init(_ middleOut: Int, stride1: Int = 1, in_: Int? = nil) {
            let out_ = 4 * middleOut
            let in_ = in_ ?? (stride1 != 1 ? middleOut * 2 : middleOut * 4)
            super.init(
                fit_: Sequential(
                    conv1x1(in_, middleOut, stride: stride1), ReLU(),
                    conv3x3(middleOut, middleOut), ReLU(),
                    conv1x1(middleOut, out_)),
                skipconv: conv1x1(in_, out_, stride: stride1), appliesSkipconv: true)
        }
    }

    /// `ResNet(block, layers, num_classes)`.
    public final class ResNet: Module, @unchecked Sendable {
        /// The `block` argument: which class `make_layers` repeats.
        enum Block {
            case residualUnit, bottleneck

            func callAsFunction(_ middleOut: Int, stride1: Int = 1, in_: Int? = nil) -> Module {
                switch self {
                case .residualUnit: ResidualUnit(middleOut, stride1: stride1, in_: in_)
                case .bottleneck: Bottleneck(middleOut, stride1: stride1, in_: in_)
                }
            }
        }

        /// `make_layers`: the first block right after the stem gets `in_=64`, every other layer's first
        /// block `stride1=2`; then `num_blocks - 1` plain blocks.
        static func makeLayers(_ block: Block, _ middleOut: Int, _ numBlocks: Int, afterconv1: Bool = false) -> Sequential {
            let first = afterconv1 ? block(middleOut, in_: 64) : block(middleOut, stride1: 2)
            return Sequential([first] + (1..<max(numBlocks, 1)).map { _ in block(middleOut) })
        }

        let layer1: Sequential, layer2_x: Sequential, layer3_x: Sequential, layer4_x: Sequential, layer5_x: Sequential
        let avgpool = AdaptiveAvgPool2d(1), fc: Linear

        init(block: Block, layers: [Int], numClasses: Int) {
            layer1 = Sequential(
                Conv2d(3, 64, kernelSize: 7, stride: 2, padding: 3, bias: false),
                BatchNorm2d(64),
                ReLU(),
                MaxPool2d(kernelSize: 3, stride: 2, ceilMode: true))
            layer2_x = Self.makeLayers(block, 64, layers[0], afterconv1: true)
            layer3_x = Self.makeLayers(block, 128, layers[1])
            layer4_x = Self.makeLayers(block, 256, layers[2])
            layer5_x = Self.makeLayers(block, 512, layers[3])
            fc = Linear(block == .residualUnit ? 512 : 2048, numClasses)
            super.init()
            registerModule("layer1", layer1)
            registerModule("layer2_x", layer2_x)
            registerModule("layer3_x", layer3_x)
            registerModule("layer4_x", layer4_x)
            registerModule("layer5_x", layer5_x)
            registerModule("avgpool", avgpool)
            registerModule("fc", fc)
        }

        public override func forward(_ input: Tensor) throws -> Tensor {
            let x = try layer5_x(layer4_x(layer3_x(layer2_x(layer1(input)))))
            // The document's forward ends without `return`; the logits are what it means to return.
            return try fc(Kernels.flatten(avgpool(x), startDim: 1))
        }
    }
}

extension ModelZoo {
    /// resnetN_lesson: (block, layers), as the lesson builds ResNet 18 to 152.
    private static let lesson16ResNetConfigurations: [String: (Lesson16Architectures.ResNet.Block, [Int])] = [
        "resnet18_lesson": (.residualUnit, [2, 2, 2, 2]),
        "resnet34_lesson": (.residualUnit, [3, 4, 6, 3]),
        "resnet50_lesson": (.bottleneck, [3, 4, 6, 3]),
        "resnet101_lesson": (.bottleneck, [3, 4, 23, 3]),
        "resnet152_lesson": (.bottleneck, [3, 8, 36, 3]),
    ]

    static let lesson16ResNetBuilders: [String: Builder] = lesson16ResNetConfigurations.mapValues { configuration in
        { arguments in
            Lesson16Architectures.ResNet(
                block: configuration.0, layers: configuration.1, numClasses: try arguments.numClasses())
        }
    }
}
