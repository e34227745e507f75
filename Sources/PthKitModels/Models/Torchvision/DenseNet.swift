import PthKitRuntime

/// torchvision `models/densenet.py`: DenseNet-BC 121, 161, 169 and 201, key for key.
///
/// Each dense layer reads the concatenation of every feature map before it in its block, as torch
/// writes it (`torch.cat(prev_features, 1)`); the plan compiler turns those growing concatenations
/// into one block buffer that each layer's new features are written into once.
public final class DenseNet: Module, @unchecked Sendable {
    /// `_DenseLayer`: BN-ReLU-1x1 conv to `bn_size * growth_rate` channels, then BN-ReLU-3x3 conv to
    /// `growth_rate` new channels. Dropout (`drop_rate`) only acts in training.
    final class DenseLayer: Module, @unchecked Sendable {
        let norm1: BatchNorm2d, relu1 = ReLU(), conv1: Conv2d
        let norm2: BatchNorm2d, relu2 = ReLU(), conv2: Conv2d

        init(numInputFeatures: Int, growthRate: Int, bnSize: Int) {
            norm1 = BatchNorm2d(numInputFeatures)
            conv1 = Conv2d(numInputFeatures, bnSize * growthRate, kernelSize: 1, bias: false)
            norm2 = BatchNorm2d(bnSize * growthRate)
            conv2 = Conv2d(bnSize * growthRate, growthRate, kernelSize: 3, padding: 1, bias: false)
            super.init()
            registerModule("norm1", norm1)
            registerModule("relu1", relu1)
            registerModule("conv1", conv1)
            registerModule("norm2", norm2)
            registerModule("relu2", relu2)
            registerModule("conv2", conv2)
        }

        func bnFunction(_ inputs: [Tensor]) throws -> Tensor {
            let concatedFeatures = try Kernels.concatenate(inputs, dim: 1)
            return try conv1(relu1(norm1(concatedFeatures)))
        }

        /// torch's `forward(input: list[Tensor])`: the block's features so far.
        func forward(_ prevFeatures: [Tensor]) throws -> Tensor {
            let bottleneckOutput = try bnFunction(prevFeatures)
            return try conv2(relu2(norm2(bottleneckOutput)))
        }

        override func forward(_ input: Tensor) throws -> Tensor { try forward([input]) }
    }

    /// `_DenseBlock` (an `nn.ModuleDict`, `_version` 2): `denselayer1` ... `denselayerN`.
    final class DenseBlock: Module, @unchecked Sendable {
        let layers: [DenseLayer]

        init(numLayers: Int, numInputFeatures: Int, bnSize: Int, growthRate: Int) {
            layers = (0..<numLayers).map { i in
                DenseLayer(numInputFeatures: numInputFeatures + i * growthRate, growthRate: growthRate, bnSize: bnSize)
            }
            super.init()
            for (i, layer) in layers.enumerated() { registerModule("denselayer\(i + 1)", layer) }
        }

        override var metadataVersion: Int { 2 }

        override func forward(_ initFeatures: Tensor) throws -> Tensor {
            var features = [initFeatures]
            for layer in layers { features.append(try layer.forward(features)) }
            return try Kernels.concatenate(features, dim: 1)
        }
    }

    let features: Sequential, classifier: Linear

    init(growthRate: Int, blockConfig: [Int], numInitFeatures: Int, bnSize: Int, numClasses: Int) throws {
        var layers: [(String, Module)] = [
            ("conv0", Conv2d(3, numInitFeatures, kernelSize: 7, stride: 2, padding: 3, bias: false)),
            ("norm0", BatchNorm2d(numInitFeatures)),
            ("relu0", ReLU()),
            ("pool0", MaxPool2d(kernelSize: 3, stride: 2, padding: 1)),
        ]
        var numFeatures = numInitFeatures
        for (i, numLayers) in blockConfig.enumerated() {
            layers.append(("denseblock\(i + 1)", DenseBlock(
                numLayers: numLayers, numInputFeatures: numFeatures, bnSize: bnSize, growthRate: growthRate)))
            numFeatures += numLayers * growthRate
            if i != blockConfig.count - 1 {
                guard numFeatures >= 2 else {
                    throw ModelError.invalidConfiguration("DenseNet transition\(i + 1) would halve \(numFeatures) channels to none")
                }
                // `_Transition`, an `nn.Sequential` of named layers.
                layers.append(("transition\(i + 1)", Sequential(named: [
                    ("norm", BatchNorm2d(numFeatures)),
                    ("relu", ReLU()),
                    ("conv", Conv2d(numFeatures, numFeatures / 2, kernelSize: 1, bias: false)),
                    ("pool", AvgPool2d(kernelSize: 2, stride: 2)),
                ])))
                numFeatures /= 2
            }
        }
        layers.append(("norm5", BatchNorm2d(numFeatures)))
        features = Sequential(named: layers)
        classifier = Linear(numFeatures, numClasses)
        super.init()
        registerModule("features", features)
        registerModule("classifier", classifier)
    }

    public override func forward(_ input: Tensor) throws -> Tensor {
        let out = Kernels.activated(try features(input), .relu)  // `F.relu(features, inplace=True)`
        return try classifier(Kernels.flatten(Kernels.adaptiveAvgPool2d(out, outputSize: (1, 1)), startDim: 1))
    }
}

extension ModelZoo {
    /// name -> (growth_rate, block_config, num_init_features): torchvision's builders as a table.
    private static let densenetConfigurations: [String: (Int, [Int], Int)] = [
        "densenet121": (32, [6, 12, 24, 16], 64),
        "densenet161": (48, [6, 12, 36, 24], 96),
        "densenet169": (32, [6, 12, 32, 32], 64),
        "densenet201": (32, [6, 12, 48, 32], 64),
    ]

    static let densenetBuilders: [String: Builder] = densenetConfigurations.mapValues { configuration in
        { arguments in
            // torchvision's builders pass growth_rate, block_config and num_init_features themselves:
            // given again, torch raises "got multiple values", and so they are unknown arguments here.
            let (growthRate, blockConfig, numInitFeatures) = configuration
            let bnSize = try arguments.int("bn_size", default: 4, in: 1...64)
            // Dropout after each layer and gradient checkpointing: training only.
            _ = try arguments.double("drop_rate", default: 0, in: 0...1)
            _ = try arguments.bool("memory_efficient", default: false)
            return try DenseNet(
                growthRate: growthRate, blockConfig: blockConfig, numInitFeatures: numInitFeatures, bnSize: bnSize,
                numClasses: try arguments.numClasses())
        }
    }
}
