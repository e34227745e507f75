/// torchvision `models/mobilenetv3.py`, key for key.

public final class MobileNetV3: FeaturesPoolClassifier, @unchecked Sendable {
    init(invertedResidualSetting: [InvertedResidualConfig], lastChannel: Int, numClasses: Int, dropout: Double) throws {
        guard let first = invertedResidualSetting.first, let last = invertedResidualSetting.last else {
            throw ModelError.invalidConfiguration("The inverted_residual_setting should not be empty")
        }
        // torch: `partial(nn.BatchNorm2d, eps=0.001, momentum=0.01)`.
        let normLayer: Conv2dNormActivation.NormLayer = { BatchNorm2d($0, eps: 0.001) }
        var layers: [Module] = [
            Conv2dNormActivation(
                3, first.inputChannels, kernelSize: 3, stride: 2, normLayer: normLayer, activationLayer: Hardswish.init),
        ]
        for cnf in invertedResidualSetting { layers.append(InvertedResidual(cnf, normLayer: normLayer)) }
        let lastconvOutputChannels = 6 * last.outChannels
        layers.append(Conv2dNormActivation(
            last.outChannels, lastconvOutputChannels, kernelSize: 1, normLayer: normLayer,
            activationLayer: Hardswish.init))
        super.init(
            features: Sequential(layers), avgpool: AdaptiveAvgPool2d(1),
            classifier: Sequential(
                Linear(lastconvOutputChannels, lastChannel), Hardswish(), Dropout(dropout),
                Linear(lastChannel, numClasses)))
    }
}

extension MobileNetV3 {
    /// One row of Tables 1 and 2 of the MobileNetV3 paper, channels scaled by `width_mult`.
    struct InvertedResidualConfig {
        /// The paper's nonlinearity column: ReLU or hard swish.
        enum Nonlinearity { case RE, HS }

        let inputChannels: Int, kernel: Int, expandedChannels: Int, outChannels: Int
        let useSE: Bool, useHS: Bool, stride: Int, dilation: Int

        init(
            _ inputChannels: Int, _ kernel: Int, _ expandedChannels: Int, _ outChannels: Int, _ useSE: Bool,
            _ activation: Nonlinearity, _ stride: Int, _ dilation: Int, widthMult: Double
        ) {
            self.inputChannels = Self.adjustChannels(inputChannels, widthMult: widthMult)
            self.kernel = kernel
            self.expandedChannels = Self.adjustChannels(expandedChannels, widthMult: widthMult)
            self.outChannels = Self.adjustChannels(outChannels, widthMult: widthMult)
            self.useSE = useSE
            useHS = activation == .HS
            self.stride = stride
            self.dilation = dilation
        }

        static func adjustChannels(_ channels: Int, widthMult: Double) -> Int {
            makeDivisible(Double(channels) * widthMult, 8)
        }
    }

    enum Arch { case large, small }

    /// `_mobilenet_v3_conf`: the paper's tables, the C4 and C5 stages halved by `reduced_tail` and
    /// dilated (stride 1, dilation 2) by `dilated`.
    static func configuration(
        _ arch: Arch, widthMult: Double, reducedTail: Bool, dilated: Bool
    ) -> (setting: [InvertedResidualConfig], lastChannel: Int) {
        let r = reducedTail ? 2 : 1  // torch's reduce_divider
        let d = dilated ? 2 : 1  // torch's dilation
        func bneck(
            _ input: Int, _ kernel: Int, _ expanded: Int, _ out: Int, _ useSE: Bool,
            _ activation: InvertedResidualConfig.Nonlinearity, _ stride: Int, _ dilation: Int
        ) -> InvertedResidualConfig {
            InvertedResidualConfig(input, kernel, expanded, out, useSE, activation, stride, dilation, widthMult: widthMult)
        }
        switch arch {
        case .large:
            return ([
                bneck(16, 3, 16, 16, false, .RE, 1, 1),
                bneck(16, 3, 64, 24, false, .RE, 2, 1),  // C1
                bneck(24, 3, 72, 24, false, .RE, 1, 1),
                bneck(24, 5, 72, 40, true, .RE, 2, 1),  // C2
                bneck(40, 5, 120, 40, true, .RE, 1, 1),
                bneck(40, 5, 120, 40, true, .RE, 1, 1),
                bneck(40, 3, 240, 80, false, .HS, 2, 1),  // C3
                bneck(80, 3, 200, 80, false, .HS, 1, 1),
                bneck(80, 3, 184, 80, false, .HS, 1, 1),
                bneck(80, 3, 184, 80, false, .HS, 1, 1),
                bneck(80, 3, 480, 112, true, .HS, 1, 1),
                bneck(112, 3, 672, 112, true, .HS, 1, 1),
                bneck(112, 5, 672, 160 / r, true, .HS, 2, d),  // C4
                bneck(160 / r, 5, 960 / r, 160 / r, true, .HS, 1, d),
                bneck(160 / r, 5, 960 / r, 160 / r, true, .HS, 1, d),
            ], InvertedResidualConfig.adjustChannels(1280 / r, widthMult: widthMult))  // C5
        case .small:
            return ([
                bneck(16, 3, 16, 16, true, .RE, 2, 1),  // C1
                bneck(16, 3, 72, 24, false, .RE, 2, 1),  // C2
                bneck(24, 3, 88, 24, false, .RE, 1, 1),
                bneck(24, 5, 96, 40, true, .HS, 2, 1),  // C3
                bneck(40, 5, 240, 40, true, .HS, 1, 1),
                bneck(40, 5, 240, 40, true, .HS, 1, 1),
                bneck(40, 5, 120, 48, true, .HS, 1, 1),
                bneck(48, 5, 144, 48, true, .HS, 1, 1),
                bneck(48, 5, 288, 96 / r, true, .HS, 2, d),  // C4
                bneck(96 / r, 5, 576 / r, 96 / r, true, .HS, 1, d),
                bneck(96 / r, 5, 576 / r, 96 / r, true, .HS, 1, d),
            ], InvertedResidualConfig.adjustChannels(1024 / r, widthMult: widthMult))  // C5
        }
    }

    /// `InvertedResidual` (section 5 of the paper): expansion, depthwise, optional squeeze-excitation
    /// with a hard sigmoid gate, linear projection.
    final class InvertedResidual: InvertedResidualBlock, @unchecked Sendable {
        init(_ cnf: InvertedResidualConfig, normLayer: @escaping Conv2dNormActivation.NormLayer) {
            let activationLayer: Conv2dNormActivation.ActivationLayer = cnf.useHS ? Hardswish.init : ReLU.init
            var layers: [Module] = []
            if cnf.expandedChannels != cnf.inputChannels {
                layers.append(Conv2dNormActivation(
                    cnf.inputChannels, cnf.expandedChannels, kernelSize: 1, normLayer: normLayer,
                    activationLayer: activationLayer))
            }
            layers.append(Conv2dNormActivation(
                cnf.expandedChannels, cnf.expandedChannels, kernelSize: cnf.kernel,
                stride: cnf.dilation > 1 ? 1 : cnf.stride, groups: cnf.expandedChannels, normLayer: normLayer,
                activationLayer: activationLayer, dilation: cnf.dilation))
            if cnf.useSE {
                let squeezeChannels = makeDivisible(Double(cnf.expandedChannels / 4), 8)
                layers.append(SqueezeExcitation(cnf.expandedChannels, squeezeChannels, scaleActivation: Hardsigmoid.init))
            }
            layers.append(Conv2dNormActivation(
                cnf.expandedChannels, cnf.outChannels, kernelSize: 1, normLayer: normLayer, activationLayer: nil))
            // Decided by the configured stride, before dilation replaces it with 1.
            super.init("block", layers, useResConnect: cnf.stride == 1 && cnf.inputChannels == cnf.outChannels)
        }
    }
}

extension ModelZoo {
    static let mobilenetV3Builders: [String: Builder] = [
        "mobilenet_v3_large": { try mobilenetV3(.large, &$0) },
        "mobilenet_v3_small": { try mobilenetV3(.small, &$0) },
    ]

    private static func mobilenetV3(_ arch: MobileNetV3.Arch, _ arguments: inout ModelArguments) throws -> Module {
        let (setting, lastChannel) = MobileNetV3.configuration(
            arch, widthMult: try arguments.widthMultiplier(),
            reducedTail: try arguments.bool("reduced_tail", default: false),
            dilated: try arguments.bool("dilated", default: false))
        return try MobileNetV3(
            invertedResidualSetting: setting, lastChannel: lastChannel, numClasses: try arguments.numClasses(),
            dropout: try arguments.double("dropout", default: 0.2, in: 0...1))
    }
}
