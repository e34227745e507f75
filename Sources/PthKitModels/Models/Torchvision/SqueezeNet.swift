import PthKitRuntime

/// torchvision `models/squeezenet.py`: SqueezeNet 1.0 and 1.1, key for key.
public final class SqueezeNet: Module, @unchecked Sendable {
    /// `Fire`: a 1x1 squeeze, then 1x1 and 3x3 expands side by side, concatenated along channels.
    final class Fire: Module, @unchecked Sendable {
        let squeeze: Conv2d, squeezeActivation = ReLU()
        let expand1x1: Conv2d, expand1x1Activation = ReLU()
        let expand3x3: Conv2d, expand3x3Activation = ReLU()

        init(_ inplanes: Int, _ squeezePlanes: Int, _ expand1x1Planes: Int, _ expand3x3Planes: Int) {
            squeeze = Conv2d(inplanes, squeezePlanes, kernelSize: 1)
            expand1x1 = Conv2d(squeezePlanes, expand1x1Planes, kernelSize: 1)
            expand3x3 = Conv2d(squeezePlanes, expand3x3Planes, kernelSize: 3, padding: 1)
            super.init()
            registerModule("squeeze", squeeze)
            registerModule("squeeze_activation", squeezeActivation)
            registerModule("expand1x1", expand1x1)
            registerModule("expand1x1_activation", expand1x1Activation)
            registerModule("expand3x3", expand3x3)
            registerModule("expand3x3_activation", expand3x3Activation)
        }

        override func forward(_ input: Tensor) throws -> Tensor {
            let x = try squeezeActivation(squeeze(input))
            return try Kernels.concatenate(
                [expand1x1Activation(expand1x1(x)), expand3x3Activation(expand3x3(x))], dim: 1)
        }
    }

    enum Layer: Sendable {
        case conv(Int, kernel: Int)
        case maxPool
        case fire(Int, Int, Int, Int)
    }

    /// `features` of each version, in torchvision's order (a conv is followed by its ReLU).
    static let versions: [String: [Layer]] = [
        "1_0": [
            .conv(96, kernel: 7), .maxPool,
            .fire(96, 16, 64, 64), .fire(128, 16, 64, 64), .fire(128, 32, 128, 128), .maxPool,
            .fire(256, 32, 128, 128), .fire(256, 48, 192, 192), .fire(384, 48, 192, 192), .fire(384, 64, 256, 256),
            .maxPool,
            .fire(512, 64, 256, 256),
        ],
        "1_1": [
            .conv(64, kernel: 3), .maxPool,
            .fire(64, 16, 64, 64), .fire(128, 16, 64, 64), .maxPool,
            .fire(128, 32, 128, 128), .fire(256, 32, 128, 128), .maxPool,
            .fire(256, 48, 192, 192), .fire(384, 48, 192, 192), .fire(384, 64, 256, 256), .fire(512, 64, 256, 256),
        ],
    ]

    let features: Sequential, classifier: Sequential

    init(layers: [Layer], numClasses: Int, dropout: Double) {
        features = Sequential(layers.flatMap { layer -> [Module] in
            switch layer {
            case let .conv(channels, kernel): [Conv2d(3, channels, kernelSize: Pair(kernel, kernel), stride: 2), ReLU()]
            // ceil mode: the pools keep a last, partial window where the map does not divide evenly.
            case .maxPool: [MaxPool2d(kernelSize: 3, stride: 2, ceilMode: true)]
            case let .fire(inplanes, squeeze, expand1x1, expand3x3): [Fire(inplanes, squeeze, expand1x1, expand3x3)]
            }
        })
        // The classifier is a 1x1 convolution to the classes, averaged over the map: no Linear.
        classifier = Sequential(
            Dropout(dropout), Conv2d(512, numClasses, kernelSize: 1), ReLU(), AdaptiveAvgPool2d(1))
        super.init()
        registerModule("features", features)
        registerModule("classifier", classifier)
    }

    public override func forward(_ input: Tensor) throws -> Tensor {
        try Kernels.flatten(classifier(features(input)), startDim: 1)
    }
}

extension ModelZoo {
    static let squeezenetBuilders: [String: Builder] = Dictionary(
        uniqueKeysWithValues: SqueezeNet.versions.map { version, layers -> (String, Builder) in
            ("squeezenet" + version, { arguments in
                SqueezeNet(
                    layers: layers, numClasses: try arguments.numClasses(),
                    dropout: try arguments.double("dropout", default: 0.5, in: 0...1))
            })
        })
}
