import PthKitRuntime

/// torchvision `models/mobilenetv2.py`, key for key; with `lastChannelMultiplier` below 1 also the
/// design notebook's `MobileNetV2(alpha=)`, whose last conv narrows to 1280 * alpha.

public final class MobileNetV2: Module, @unchecked Sendable {
    /// torchvision's default `inverted_residual_setting`: expansion t, channels c, repeats n, first stride s.
    static let invertedResidualSetting: [(t: Int, c: Int, n: Int, s: Int)] = [
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ]

    let features: Sequential, classifier: Sequential

    /// `lastChannelMultiplier`: torchvision's `max(1.0, width_mult)` unless given.
    init(
        numClasses: Int = 1000, widthMult: Double = 1, roundNearest: Int = 8, dropout: Double = 0.2,
        lastChannelMultiplier: Double? = nil
    ) {
        var inputChannel = makeDivisible(32 * widthMult, roundNearest)
        let lastChannel = makeDivisible(1280 * (lastChannelMultiplier ?? max(1, widthMult)), roundNearest)
        var features: [Module] = [Conv2dNormActivation(3, inputChannel, stride: 2, activationLayer: ReLU6.init)]
        for (t, c, n, s) in Self.invertedResidualSetting {
            let outputChannel = makeDivisible(Double(c) * widthMult, roundNearest)
            for i in 0..<n {
                features.append(InvertedResidual(inputChannel, outputChannel, stride: i == 0 ? s : 1, expandRatio: t))
                inputChannel = outputChannel
            }
        }
        features.append(Conv2dNormActivation(inputChannel, lastChannel, kernelSize: 1, activationLayer: ReLU6.init))
        self.features = Sequential(features)
        classifier = Sequential(Dropout(dropout), Linear(lastChannel, numClasses))
        super.init()
        registerModule("features", self.features)
        registerModule("classifier", classifier)
    }

    public override func forward(_ input: Tensor) throws -> Tensor {
        // No avgpool module: torch calls `adaptive_avg_pool2d(x, (1, 1))` directly.
        let pooled = try Kernels.adaptiveAvgPool2d(features(input), outputSize: (1, 1))
        return try classifier(Kernels.flatten(pooled, startDim: 1))
    }
}

extension MobileNetV2 {
    /// `InvertedResidual`: 1x1 expansion (unless t is 1), 3x3 depthwise, linear 1x1 projection,
    /// with a residual connection when the shape is kept.
    final class InvertedResidual: InvertedResidualBlock, @unchecked Sendable {
        init(_ inp: Int, _ oup: Int, stride: Int, expandRatio: Int) {
            // torch's `int(round(inp * expand_ratio))` is exact for the integer ratios of the table.
            let hiddenDim = inp * expandRatio
            var layers: [Module] = []
            if expandRatio != 1 {
                layers.append(Conv2dNormActivation(inp, hiddenDim, kernelSize: 1, activationLayer: ReLU6.init))
            }
            layers += [
                Conv2dNormActivation(hiddenDim, hiddenDim, stride: stride, groups: hiddenDim, activationLayer: ReLU6.init),
                Conv2d(hiddenDim, oup, kernelSize: 1, bias: false),
                BatchNorm2d(oup),
            ]
            super.init("conv", layers, useResConnect: stride == 1 && inp == oup)
        }
    }
}

extension ModelZoo {
    static let mobilenetV2Builders: [String: Builder] = [
        "mobilenet_v2": { arguments in
            // `alpha` is pytorch-models-notebook.md's MobileNetV2(alpha=): the same width multiplier,
            // but applied to the last conv as well. The two spellings build different networks.
            let notebook = arguments.contains("alpha")
            if notebook, arguments.contains("width_mult") {
                throw ModelError.badArgument(
                    name: "alpha", reason: "the notebook's alpha and torchvision's width_mult size the last conv differently; give one")
            }
            let width = try arguments.widthMultiplier(notebook ? "alpha" : "width_mult")
            return MobileNetV2(
                numClasses: try arguments.numClasses(), widthMult: width,
                roundNearest: try arguments.int("round_nearest", default: 8, in: 1...1024),
                dropout: try arguments.double("dropout", default: 0.2, in: 0...1),
                lastChannelMultiplier: notebook ? width : nil)
        },
    ]
}
