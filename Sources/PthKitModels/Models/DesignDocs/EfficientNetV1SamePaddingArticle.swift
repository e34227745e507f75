import PthKitCheckpoint
import PthKitRuntime

/// design-docs `efficientnet-v1-same-padding-article.md`: EfficientNet B0-B7 with TensorFlow "same"
/// padding computed once for a fixed `in_spatial_shape` (`init_conv`, `stages.N.layers.M`,
/// `head_conv`, `fc`), key for key, and the article's `_load_state` as `EfficientNet.loadPretrained`
/// (the oracle transcription is `Scripts/oracle/design_docs/efficientnet_same_padding.py`).
public enum EfficientNetV1SamePaddingArticle {
    /// `Swish()` with beta 1, not learnable: x * sigmoid(x), no parameters. The article passes one
    /// instance everywhere, so each module holding it lists an `activation` child, as torch does.
    final class Swish: Activation, @unchecked Sendable {
        init() { super.init(.silu) }
    }

    /// `SamePaddingConv2d`: the `ZeroPad2d` (left, right, top, bottom) that makes the output
    /// ceil(in / stride) for `in_spatial_shape`, the odd pixel going to the bottom and right. The
    /// paddings stay fixed whatever size the input really has (`enforce_in_spatial_shape=False`).
    final class SamePaddingConv2d: Module, @unchecked Sendable {
        let zeroPad: ZeroPad2d?, conv: Conv2d
        let inSpatialShape: Pair, outSpatialShape: Pair

        init(
            inSpatialShape: Pair, _ inChannels: Int, _ outChannels: Int, kernelSize: Pair, stride: Pair,
            dilation: Pair = 1, groups: Int = 1, bias: Bool
        ) {
            func same(_ size: Int, _ kernel: Int, _ stride: Int, _ dilation: Int) -> (out: Int, before: Int, after: Int) {
                let out = (size + stride - 1) / stride
                let along = max((out - 1) * stride + kernel + (kernel - 1) * (dilation - 1) - size, 0)
                return (out, along / 2, along - along / 2)
            }
            let height = same(inSpatialShape.height, kernelSize.height, stride.height, dilation.height)
            let width = same(inSpatialShape.width, kernelSize.width, stride.width, dilation.width)
            let paddings = [width.before, width.after, height.before, height.after]
            zeroPad = paddings.contains { $0 > 0 }
                ? ZeroPad2d(left: width.before, right: width.after, top: height.before, bottom: height.after) : nil
            conv = Conv2d(
                inChannels, outChannels, kernelSize: kernelSize, stride: stride, dilation: dilation, groups: groups,
                bias: bias)
            self.inSpatialShape = inSpatialShape
            outSpatialShape = Pair(height.out, width.out)
            super.init()
            if let zeroPad { registerModule("zero_pad", zeroPad) }
            registerModule("conv", conv)
        }

        func pad(_ input: Tensor) throws -> Tensor {
            try zeroPad?(input) ?? input
        }

        override func forward(_ input: Tensor) throws -> Tensor {
            try conv(pad(input))
        }
    }

    /// `ConvBNAct`: a convolution (`SamePaddingConv2d` when `same_padding`, else a plain unpadded
    /// `nn.Conv2d`), batch norm with the article's eps, and the activation when there is one.
    final class ConvBNAct: Module, @unchecked Sendable {
        let conv: Module, bn: BatchNorm2d, activation: Module?
        private let convolution: Conv2d, samePadding: SamePaddingConv2d?

        /// A plain 1x1 `nn.Conv2d` (expand, project and head convolutions).
        init(_ inChannels: Int, _ outChannels: Int, bias: Bool, activation: Module?, bnEpsilon: Double) {
            convolution = Conv2d(inChannels, outChannels, kernelSize: 1, bias: bias)
            samePadding = nil
            conv = convolution
            bn = BatchNorm2d(outChannels, eps: bnEpsilon)
            self.activation = activation
            super.init()
            registerChildren()
        }

        /// `same_padding=True`: the stem and the depthwise convolutions.
        init(samePadding: SamePaddingConv2d, activation: Module?, bnEpsilon: Double) {
            convolution = samePadding.conv
            self.samePadding = samePadding
            conv = samePadding
            bn = BatchNorm2d(samePadding.conv.outChannels, eps: bnEpsilon)
            self.activation = activation
            super.init()
            registerChildren()
        }

        private func registerChildren() {
            registerModule("conv", conv)
            registerModule("bn", bn)
            if let activation { registerModule("activation", activation) }
        }

        var outSpatialShape: Pair? { samePadding?.outSpatialShape }

        override func forward(_ input: Tensor) throws -> Tensor {
            let padded = try samePadding?.pad(input) ?? input
            let output = try bn(convolution(padded))
            return try activation?(output) ?? output
        }
    }

    /// `SqueezeExcitate`: the per-channel scale sigmoid(dim_restore(act(dim_reduce(avgpool(x))))); the
    /// block multiplies it in (`self.se(x) * x`).
    final class SqueezeExcitate: Module, @unchecked Sendable {
        let dimReduce: Conv2d, dimRestore: Conv2d, activation: Module

        init(_ inChannels: Int, _ seSize: Int, activation: Module) {
            dimReduce = Conv2d(inChannels, seSize, kernelSize: 1)
            dimRestore = Conv2d(seSize, inChannels, kernelSize: 1)
            self.activation = activation
            super.init()
            registerModule("dim_reduce", dimReduce)
            registerModule("dim_restore", dimRestore)
            registerModule("activation", activation)
        }

        override func forward(_ input: Tensor) throws -> Tensor {
            var scale = try dimRestore(activation(dimReduce(Kernels.adaptiveAvgPool2d(input, outputSize: (1, 1)))))
            Kernels.activate(&scale, .sigmoid)
            return scale
        }
    }

    /// `DropConnect`: drops whole samples of the residual branch in training; the identity in eval.
    final class DropConnect: Module, @unchecked Sendable {
        override func forward(_ input: Tensor) throws -> Tensor { input }
    }

    /// `MBConvBlock`: expand_conv (unless the factor is 1), dp_conv, se, project_conv; the skip
    /// connection only where channels and resolution are unchanged.
    final class MBConvBlock: Module, @unchecked Sendable {
        let activation: Module
        let expandConv: ConvBNAct?, dpConv: ConvBNAct, se: SqueezeExcitate, dropConnect = DropConnect()
        let projectConv: ConvBNAct
        let skipEnabled: Bool

        init(
            inSpatialShape: Pair, inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int,
            expansionFactor: Int, activation: Module, bnEpsilon: Double, seSize: Int, bias: Bool
        ) {
            let expChannels = inChannels * expansionFactor
            self.activation = activation
            expandConv = expansionFactor != 1
                ? ConvBNAct(inChannels, expChannels, bias: bias, activation: activation, bnEpsilon: bnEpsilon) : nil
            dpConv = ConvBNAct(
                samePadding: SamePaddingConv2d(
                    inSpatialShape: inSpatialShape, expChannels, expChannels, kernelSize: Pair(kernelSize, kernelSize),
                    stride: Pair(stride, stride), groups: expChannels, bias: bias),
                activation: activation, bnEpsilon: bnEpsilon)
            se = SqueezeExcitate(expChannels, seSize, activation: activation)
            skipEnabled = inChannels == outChannels && stride == 1
            projectConv = ConvBNAct(expChannels, outChannels, bias: bias, activation: nil, bnEpsilon: bnEpsilon)
            super.init()
            registerModule("activation", activation)
            if let expandConv { registerModule("expand_conv", expandConv) }
            registerModule("dp_conv", dpConv)
            registerModule("se", se)
            registerModule("drop_connect", dropConnect)
            registerModule("project_conv", projectConv)
        }

        var outSpatialShape: Pair { dpConv.outSpatialShape ?? 1 }

        override func forward(_ input: Tensor) throws -> Tensor {
            var x = try expandConv?(input) ?? input
            x = try dpConv(x)
            x = try Kernels.multiplyChannels(x, by: se(x))
            x = try projectConv(x)
            if skipEnabled {
                x = try dropConnect(x)
                try Kernels.addInPlace(&x, input)
            }
            return x
        }
    }

    /// `EnetStage`: `num_layers` blocks in the ModuleList `layers`; only the first changes the stride
    /// and the width, and each block's padding is computed for the resolution the one before leaves.
    final class EnetStage: Module, @unchecked Sendable {
        let layers: Sequential
        let outSpatialShape: Pair

        init(
            numLayers: Int, inSpatialShape: Pair, inChannels: Int, outChannels: Int, stride: Int, seRatio: Int,
            kernelSize: Int, expansionFactor: Int, activation: Module, bnEpsilon: Double, bias: Bool
        ) {
            var blocks: [Module] = []
            var (spatialShape, inChannels, stride) = (inSpatialShape, inChannels, stride)
            for _ in 0..<numLayers {
                let layer = MBConvBlock(
                    inSpatialShape: spatialShape, inChannels: inChannels, outChannels: outChannels,
                    kernelSize: kernelSize, stride: stride, expansionFactor: expansionFactor, activation: activation,
                    bnEpsilon: bnEpsilon, seSize: max(1, inChannels / seRatio), bias: bias)
                blocks.append(layer)
                (spatialShape, inChannels, stride) = (layer.outSpatialShape, outChannels, 1)
            }
            layers = Sequential(blocks)
            outSpatialShape = spatialShape
            super.init()
            registerModule("layers", layers)
        }

        override func forward(_ input: Tensor) throws -> Tensor {
            try layers(input)
        }
    }

    public final class EfficientNet: Module, @unchecked Sendable {
        /// `coefficients`: (width_coefficient, depth_coefficient, dropout_rate, in_spatial_shape) for B0-B7.
        static let coefficients: [(width: Double, depth: Double, dropoutRate: Double, spatialShape: Int)] = [
            (1.0, 1.0, 0.2, 224),
            (1.0, 1.1, 0.2, 240),
            (1.1, 1.2, 0.3, 260),
            (1.2, 1.4, 0.3, 300),
            (1.4, 1.8, 0.4, 380),
            (1.6, 2.2, 0.4, 456),
            (1.8, 2.6, 0.5, 528),
            (2.0, 3.1, 0.5, 600),
        ]

        /// `stage_args`: block_repeat, kernel_size, stride, expansion_factor, input_channels,
        /// output_channels, se_ratio.
        static let stageArgs: [(repeats: Int, kernelSize: Int, stride: Int, expansionFactor: Int, inChannels: Int, outChannels: Int, seRatio: Int)] = [
            (1, 3, 1, 1, 32, 16, 4),
            (2, 3, 2, 6, 16, 24, 4),
            (2, 5, 2, 6, 24, 40, 4),
            (3, 3, 2, 6, 40, 80, 4),
            (3, 5, 1, 6, 80, 112, 4),
            (4, 5, 2, 6, 112, 192, 4),
            (1, 3, 1, 6, 192, 320, 4),
        ]

        /// The constructor's `in_channels` and `n_classes`, which decide what `loadPretrained` drops.
        public let inChannels: Int, nClasses: Int
        public let inSpatialShape: Pair
        let activation = Swish()
        let initConv: ConvBNAct, stages: Sequential, headConv: ConvBNAct
        let dropout: Dropout?, avpool = AdaptiveAvgPool2d(1), fc: Linear

        init(b: Int, inChannels: Int, nClasses: Int, inSpatialShape: Pair?, bias: Bool, bnEpsilon: Double) throws {
            guard Self.coefficients.indices.contains(b) else {
                throw ModelError.invalidConfiguration("EfficientNet has no variant b\(b)")
            }
            let (widthCoefficient, depthCoefficient, dropoutRate, defaultShape) = Self.coefficients[b]
            // `_make_divisible(filters, width_coefficient)` and `round_repeats`.
            func divisible(_ filters: Int) -> Int { makeDivisible(Double(filters) * widthCoefficient, 8) }
            func roundRepeats(_ repeats: Int) -> Int { Int((depthCoefficient * Double(repeats)).rounded(.up)) }

            self.inChannels = inChannels
            self.nClasses = nClasses
            self.inSpatialShape = inSpatialShape ?? Pair(defaultShape, defaultShape)
            initConv = ConvBNAct(
                samePadding: SamePaddingConv2d(
                    inSpatialShape: self.inSpatialShape, inChannels, divisible(32), kernelSize: 3, stride: 2, bias: bias),
                activation: activation, bnEpsilon: bnEpsilon)
            var spatialShape = initConv.outSpatialShape ?? 1
            var stageModules: [Module] = []
            for row in Self.stageArgs {
                let stage = EnetStage(
                    numLayers: roundRepeats(row.repeats), inSpatialShape: spatialShape,
                    inChannels: divisible(row.inChannels), outChannels: divisible(row.outChannels), stride: row.stride,
                    seRatio: row.seRatio, kernelSize: row.kernelSize, expansionFactor: row.expansionFactor,
                    activation: activation, bnEpsilon: bnEpsilon, bias: bias)
                stageModules.append(stage)
                spatialShape = stage.outSpatialShape
            }
            stages = Sequential(stageModules)
            let headConvOutChannels = divisible(1280)
            headConv = ConvBNAct(
                divisible(Self.stageArgs[Self.stageArgs.count - 1].outChannels), headConvOutChannels, bias: bias,
                activation: activation, bnEpsilon: bnEpsilon)
            dropout = dropoutRate > 0 ? Dropout(dropoutRate) : nil
            fc = Linear(headConvOutChannels, nClasses)
            super.init()
            registerModule("activation", activation)
            registerModule("init_conv", initConv)
            registerModule("stages", stages)
            registerModule("head_conv", headConv)
            if let dropout { registerModule("dropout", dropout) }
            registerModule("avpool", avpool)
            registerModule("fc", fc)
        }

        /// `_load_state` without the download: pretrained weights for B0-B7 are always saved with 3
        /// input channels and 1000 classes, so the stem weight `init_conv.conv.conv.weight` is popped
        /// when `in_channels != 3` and the head `fc.weight`, `fc.bias` when `n_classes != 1000`; then
        /// the rest is loaded, strictly unless something was popped. The report's `missingKeys` are the
        /// popped parameters, which keep their fresh initialization. A key to pop that the state dict
        /// lacks throws, as Python's `dict.pop` does.
        @discardableResult
        public func loadPretrained(_ stateDict: StateDict) throws -> LoadReport {
            var stateDict = stateDict
            var strict = true
            func pop(_ key: String) throws {
                guard let index = stateDict.entries.firstIndex(where: { $0.key == key }) else {
                    throw ModelError.invalidConfiguration("KeyError: '\(key)' (the state dict to load has no such key to pop)")
                }
                stateDict.entries.remove(at: index)
            }
            if inChannels != 3 {
                try pop("init_conv.conv.conv.weight")
                strict = false
            }
            if nClasses != 1000 {
                try pop("fc.weight")
                try pop("fc.bias")
                strict = false
            }
            return try loadStateDict(stateDict, strict: strict)
        }

        public override func forward(_ input: Tensor) throws -> Tensor {
            // `check_input`
            guard input.rank == 4 else {
                throw RuntimeError.shapeMismatch(operation: "EfficientNet", expected: "a 4 dimensional tensor", found: "shape \(input.shape)")
            }
            guard input.shape[1] == inChannels else {
                throw RuntimeError.shapeMismatch(operation: "EfficientNet", expected: "\(inChannels) channels", found: "shape \(input.shape)")
            }
            let features = try headConv(stages(initConv(input)))
            return try fc(Kernels.flatten(avpool(features), startDim: 1))
        }
    }
}

extension ModelZoo {
    /// efficientnet_bN_same: `EfficientNet(b, in_channels, n_classes, in_spatial_shape)`; `in_spatial_shape`
    /// defaults to the variant's resolution (224 to 600) and fixes every "same" padding.
    static let efficientNetSamePaddingBuilders: [String: Builder] = Dictionary(
        uniqueKeysWithValues: EfficientNetV1SamePaddingArticle.EfficientNet.coefficients.indices.map { b in
            ("efficientnet_b\(b)_same", { arguments in
                let inChannels = try arguments.int("in_channels", default: 3, in: 1...1 << 16)
                let nClasses = try arguments.int("n_classes", default: 1000, in: 1...1 << 20)
                // `_pair`: one size for both sides, or (height, width).
                let shape = try arguments.ints("in_spatial_shape", default: [])
                guard shape.count <= 2, shape.allSatisfy({ (1...1 << 16).contains($0) }) else {
                    throw ModelError.badArgument(name: "in_spatial_shape", reason: "expected one or two sizes in 1...65536")
                }
                let inSpatialShape = shape.first.map { Pair($0, shape.last ?? $0) }
                return try EfficientNetV1SamePaddingArticle.EfficientNet(
                    b: b, inChannels: inChannels, nClasses: nClasses, inSpatialShape: inSpatialShape, bias: false,
                    bnEpsilon: 1e-3)
            } as Builder)
        })
}
