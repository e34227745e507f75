/// torchvision `models/efficientnet.py` (EfficientNet B0-B7 and V2 S, M, L), key for key. The variants
/// differ only in their configuration tables; V2 starts with `FusedMBConv` stages.

public final class EfficientNet: FeaturesPoolClassifier, @unchecked Sendable {
    init(
        invertedResidualSetting: [MBConvConfig], dropout: Double, stochasticDepthProb: Double, numClasses: Int,
        normLayer: @escaping Conv2dNormActivation.NormLayer, lastChannel: Int? = nil
    ) throws {
        guard let first = invertedResidualSetting.first, let last = invertedResidualSetting.last else {
            throw ModelError.invalidConfiguration("The inverted_residual_setting should not be empty")
        }
        var layers: [Module] = [
            Conv2dNormActivation(
                3, first.inputChannels, kernelSize: 3, stride: 2, normLayer: normLayer, activationLayer: SiLU.init),
        ]
        let totalStageBlocks = invertedResidualSetting.reduce(0) { $0 + $1.numLayers }
        var stageBlockID = 0
        for cnf in invertedResidualSetting {
            var stage: [Module] = []
            for _ in 0..<cnf.numLayers {
                var blockCnf = cnf
                // Only the first block of a stage changes the channel count and the resolution.
                if !stage.isEmpty {
                    blockCnf.inputChannels = blockCnf.outChannels
                    blockCnf.stride = 1
                }
                // The drop rate grows linearly with depth; it only matters in training.
                let sdProb = stochasticDepthProb * Double(stageBlockID) / Double(totalStageBlocks)
                stage.append(blockCnf.block.make(blockCnf, stochasticDepthProb: sdProb, normLayer: normLayer))
                stageBlockID += 1
            }
            layers.append(Sequential(stage))
        }
        let lastconvOutputChannels = lastChannel ?? 4 * last.outChannels
        layers.append(Conv2dNormActivation(
            last.outChannels, lastconvOutputChannels, kernelSize: 1, normLayer: normLayer, activationLayer: SiLU.init))
        super.init(
            features: Sequential(layers), avgpool: AdaptiveAvgPool2d(1),
            classifier: Sequential(Dropout(dropout), Linear(lastconvOutputChannels, numClasses)))
    }
}

extension EfficientNet {
    /// `MBConvConfig` / `FusedMBConvConfig`: one stage of Table 1 of the EfficientNet paper (scaled by
    /// the variant's width and depth multipliers) or of Table 4 of the EfficientNetV2 paper (unscaled).
    struct MBConvConfig {
        /// The config class's `block`.
        enum Block {
            case mbConv, fusedMBConv

            func make(
                _ cnf: MBConvConfig, stochasticDepthProb: Double, normLayer: @escaping Conv2dNormActivation.NormLayer
            ) -> Module {
                switch self {
                case .mbConv: MBConv(cnf, stochasticDepthProb: stochasticDepthProb, normLayer: normLayer)
                case .fusedMBConv: FusedMBConv(cnf, stochasticDepthProb: stochasticDepthProb, normLayer: normLayer)
                }
            }
        }

        let block: Block
        let expandRatio: Double, kernel: Int
        var stride: Int, inputChannels: Int
        let outChannels: Int, numLayers: Int

        init(
            _ expandRatio: Double, _ kernel: Int, _ stride: Int, _ inputChannels: Int, _ outChannels: Int,
            _ numLayers: Int, widthMult: Double = 1, depthMult: Double = 1, block: Block = .mbConv
        ) {
            self.block = block
            self.expandRatio = expandRatio
            self.kernel = kernel
            self.stride = stride
            self.inputChannels = Self.adjustChannels(inputChannels, widthMult)
            self.outChannels = Self.adjustChannels(outChannels, widthMult)
            self.numLayers = Self.adjustDepth(numLayers, depthMult)
        }

        static func adjustChannels(_ channels: Int, _ widthMult: Double) -> Int {
            makeDivisible(Double(channels) * widthMult, 8)
        }

        static func adjustDepth(_ numLayers: Int, _ depthMult: Double) -> Int {
            Int((Double(numLayers) * depthMult).rounded(.up))
        }
    }

    /// `_efficientnet_conf` for the B variants: expand ratio, kernel, stride, input channels, output
    /// channels, layers.
    static func configuration(widthMult: Double, depthMult: Double) -> [MBConvConfig] {
        func bneck(_ t: Double, _ k: Int, _ s: Int, _ i: Int, _ o: Int, _ n: Int) -> MBConvConfig {
            MBConvConfig(t, k, s, i, o, n, widthMult: widthMult, depthMult: depthMult)
        }
        return [
            bneck(1, 3, 1, 32, 16, 1),
            bneck(6, 3, 2, 16, 24, 2),
            bneck(6, 5, 2, 24, 40, 2),
            bneck(6, 3, 2, 40, 80, 3),
            bneck(6, 5, 1, 80, 112, 3),
            bneck(6, 5, 2, 112, 192, 4),
            bneck(6, 3, 1, 192, 320, 1),
        ]
    }

    /// The V2 builders' dropout and `_efficientnet_conf`: expand ratio, kernel, stride, input channels,
    /// output channels, layers; the first stages fuse expansion and depthwise convolution into one.
    static let v2Configurations: [String: (dropout: Double, setting: [MBConvConfig])] = {
        // `FusedMBConvConfig` skips the width adjustment; every V2 width is a multiple of 8, which it keeps.
        func fused(_ t: Double, _ k: Int, _ s: Int, _ i: Int, _ o: Int, _ n: Int) -> MBConvConfig {
            MBConvConfig(t, k, s, i, o, n, block: .fusedMBConv)
        }
        func bneck(_ t: Double, _ k: Int, _ s: Int, _ i: Int, _ o: Int, _ n: Int) -> MBConvConfig {
            MBConvConfig(t, k, s, i, o, n)
        }
        return [
            "efficientnet_v2_s": (0.2, [
                fused(1, 3, 1, 24, 24, 2), fused(4, 3, 2, 24, 48, 4), fused(4, 3, 2, 48, 64, 4),
                bneck(4, 3, 2, 64, 128, 6), bneck(6, 3, 1, 128, 160, 9), bneck(6, 3, 2, 160, 256, 15),
            ]),
            "efficientnet_v2_m": (0.3, [
                fused(1, 3, 1, 24, 24, 3), fused(4, 3, 2, 24, 48, 5), fused(4, 3, 2, 48, 80, 5),
                bneck(4, 3, 2, 80, 160, 7), bneck(6, 3, 1, 160, 176, 14), bneck(6, 3, 2, 176, 304, 18),
                bneck(6, 3, 1, 304, 512, 5),
            ]),
            "efficientnet_v2_l": (0.4, [
                fused(1, 3, 1, 32, 32, 4), fused(4, 3, 2, 32, 64, 7), fused(4, 3, 2, 64, 96, 7),
                bneck(4, 3, 2, 96, 192, 10), bneck(6, 3, 1, 192, 224, 19), bneck(6, 3, 2, 224, 384, 25),
                bneck(6, 3, 1, 384, 640, 7),
            ]),
        ]
    }()

    /// `FusedMBConv`: one full convolution for expansion and spatial filtering, then a linear 1x1
    /// projection; with expand ratio 1, the single convolution goes straight to the output width.
    final class FusedMBConv: InvertedResidualBlock, @unchecked Sendable {
        init(_ cnf: MBConvConfig, stochasticDepthProb: Double, normLayer: @escaping Conv2dNormActivation.NormLayer) {
            let expandedChannels = MBConvConfig.adjustChannels(cnf.inputChannels, cnf.expandRatio)
            let layers: [Module] = expandedChannels != cnf.inputChannels
                ? [
                    Conv2dNormActivation(
                        cnf.inputChannels, expandedChannels, kernelSize: cnf.kernel, stride: cnf.stride,
                        normLayer: normLayer, activationLayer: SiLU.init),
                    Conv2dNormActivation(
                        expandedChannels, cnf.outChannels, kernelSize: 1, normLayer: normLayer, activationLayer: nil),
                ]
                : [
                    Conv2dNormActivation(
                        cnf.inputChannels, cnf.outChannels, kernelSize: cnf.kernel, stride: cnf.stride,
                        normLayer: normLayer, activationLayer: SiLU.init),
                ]
            super.init("block", layers, useResConnect: cnf.stride == 1 && cnf.inputChannels == cnf.outChannels)
            registerModule("stochastic_depth", Dropout(stochasticDepthProb))
        }
    }

    /// `MBConv`: expansion (unless the ratio is 1), depthwise, squeeze-excitation, linear projection,
    /// SiLU throughout. Before the residual sum torch applies `stochastic_depth`, which is the identity
    /// in eval and so is registered (it has no keys) but never called.
    final class MBConv: InvertedResidualBlock, @unchecked Sendable {
        init(_ cnf: MBConvConfig, stochasticDepthProb: Double, normLayer: @escaping Conv2dNormActivation.NormLayer) {
            var layers: [Module] = []
            let expandedChannels = MBConvConfig.adjustChannels(cnf.inputChannels, cnf.expandRatio)
            if expandedChannels != cnf.inputChannels {
                layers.append(Conv2dNormActivation(
                    cnf.inputChannels, expandedChannels, kernelSize: 1, normLayer: normLayer, activationLayer: SiLU.init))
            }
            layers.append(Conv2dNormActivation(
                expandedChannels, expandedChannels, kernelSize: cnf.kernel, stride: cnf.stride, groups: expandedChannels,
                normLayer: normLayer, activationLayer: SiLU.init))
            // Squeezed relative to the block's input, not its expanded width.
            layers.append(SqueezeExcitation(expandedChannels, max(1, cnf.inputChannels / 4), activation: SiLU.init))
            layers.append(Conv2dNormActivation(
                expandedChannels, cnf.outChannels, kernelSize: 1, normLayer: normLayer, activationLayer: nil))
            super.init("block", layers, useResConnect: cnf.stride == 1 && cnf.inputChannels == cnf.outChannels)
            registerModule("stochastic_depth", Dropout(stochasticDepthProb))  // `StochasticDepth(p, "row")`
        }
    }
}

extension ModelZoo {
    /// name -> (width_mult, depth_mult, dropout, batch norm eps): torchvision's builders as a table.
    /// B5-B7 pass `partial(nn.BatchNorm2d, eps=0.001, momentum=0.01)`, the others the default eps.
    private static let efficientnetConfigurations: [String: (Double, Double, Double, Double)] = [
        "efficientnet_b0": (1.0, 1.0, 0.2, 1e-5),
        "efficientnet_b1": (1.0, 1.1, 0.2, 1e-5),
        "efficientnet_b2": (1.1, 1.2, 0.3, 1e-5),
        "efficientnet_b3": (1.2, 1.4, 0.3, 1e-5),
        "efficientnet_b4": (1.4, 1.8, 0.4, 1e-5),
        "efficientnet_b5": (1.6, 2.2, 0.4, 1e-3),
        "efficientnet_b6": (1.8, 2.6, 0.5, 1e-3),
        "efficientnet_b7": (2.0, 3.1, 0.5, 1e-3),
    ]

    static let efficientnetBuilders: [String: Builder] = efficientnetConfigurations.mapValues { configuration in
        { arguments in
            let (widthMult, depthMult, dropout, eps) = configuration
            return try EfficientNet(
                invertedResidualSetting: EfficientNet.configuration(widthMult: widthMult, depthMult: depthMult),
                dropout: try arguments.double("dropout", default: dropout, in: 0...1),
                stochasticDepthProb: try arguments.double("stochastic_depth_prob", default: 0.2, in: 0...1),
                numClasses: try arguments.numClasses(), normLayer: { BatchNorm2d($0, eps: eps) })
        }
    }

    /// V2 builders all pass `partial(nn.BatchNorm2d, eps=1e-03)` and a 1280-channel last conv.
    static let efficientnetV2Builders: [String: Builder] = EfficientNet.v2Configurations.mapValues { configuration in
        { arguments in
            try EfficientNet(
                invertedResidualSetting: configuration.setting,
                dropout: try arguments.double("dropout", default: configuration.dropout, in: 0...1),
                stochasticDepthProb: try arguments.double("stochastic_depth_prob", default: 0.2, in: 0...1),
                numClasses: try arguments.numClasses(), normLayer: { BatchNorm2d($0, eps: 1e-3) }, lastChannel: 1280)
        }
    }
}
