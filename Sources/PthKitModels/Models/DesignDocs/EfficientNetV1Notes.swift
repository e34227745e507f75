import PthKitRuntime

/// design-docs `efficientnet-v1-notes.md` (and the same code in `pytorch-models-notebook.md`, cell 8.3):
/// EfficientNet V1 whose blocks are named by stage and letter (`features.1a`, `features.2b`, ...), key
/// for key (the oracle transcription is `Scripts/oracle/design_docs/efficientnet_v1_notes.py`).
public enum EfficientNetV1Notes {
    /// `ConvBNActivation(nn.Sequential)`: conv without bias, batch norm, activation, as `0`, `1`, `2`.
    static func convBNActivation(
        _ inPlanes: Int, _ outPlanes: Int, kernelSize: Int = 3, stride: Int = 1, groups: Int = 1,
        activationLayer: Module = SiLU()
    ) -> Sequential {
        let padding = (kernelSize - 1) / 2
        return Sequential(
            Conv2d(
                inPlanes, outPlanes, kernelSize: Pair(kernelSize, kernelSize), stride: Pair(stride, stride),
                padding: Pair(padding, padding), groups: groups, bias: false),
            // `partial(nn.BatchNorm2d, eps=1e-3, momentum=0.1)`
            BatchNorm2d(outPlanes, eps: 1e-3),
            activationLayer)
    }

    /// `SqueezeExcitation(input_c, expand_c)`: squeezed to a quarter of the block's input channels, SiLU,
    /// then a sigmoid scale per channel of the expanded features.
    final class SqueezeExcitation: Module, @unchecked Sendable {
        let fc1: Conv2d, ac1 = SiLU(), fc2: Conv2d, ac2 = Sigmoid()

        init(inputC: Int, expandC: Int, squeezeFactor: Int = 4) {
            let squeezeC = inputC / squeezeFactor
            fc1 = Conv2d(expandC, squeezeC, kernelSize: 1)
            fc2 = Conv2d(squeezeC, expandC, kernelSize: 1)
            super.init()
            registerModule("fc1", fc1)
            registerModule("ac1", ac1)
            registerModule("fc2", fc2)
            registerModule("ac2", ac2)
        }

        override func forward(_ input: Tensor) throws -> Tensor {
            let scale = try ac2(fc2(ac1(fc1(Kernels.adaptiveAvgPool2d(input, outputSize: (1, 1))))))
            return try Kernels.multiplyChannels(input, by: scale)
        }
    }

    /// `InvertedResidualConfig`: one block, its channels scaled by the width coefficient.
    struct InvertedResidualConfig {
        let kernel: Int, inputC: Int, expandedC: Int, outC: Int, useSE: Bool, stride: Int
        let dropRate: Double, index: String

        init(
            kernel: Int, inputC: Int, outC: Int, expandedRatio: Int, stride: Int, useSE: Bool, dropRate: Double,
            index: String, widthCoefficient: Double
        ) {
            self.kernel = kernel
            self.inputC = Self.adjustChannels(inputC, widthCoefficient)
            // Expanded from the already scaled input width.
            expandedC = self.inputC * expandedRatio
            self.outC = Self.adjustChannels(outC, widthCoefficient)
            self.useSE = useSE
            self.stride = stride
            self.dropRate = dropRate
            self.index = index
        }

        static func adjustChannels(_ channels: Int, _ widthCoefficient: Double) -> Int {
            makeDivisible(Double(channels) * widthCoefficient, 8)
        }
    }

    /// `InvertedResidual` (MBConv): a named `block` of expand_conv (unless the ratio is 1), dwconv, se,
    /// project_conv; `dropout` is DropPath on residual blocks with a positive rate, else Identity, and
    /// the identity either way in eval.
    final class InvertedResidual: Module, @unchecked Sendable {
        let block: Sequential, dropout: Module
        let useResConnect: Bool

        init(_ cnf: InvertedResidualConfig) throws {
            guard cnf.stride == 1 || cnf.stride == 2 else {
                throw ModelError.invalidConfiguration("illegal stride value.")
            }
            useResConnect = cnf.stride == 1 && cnf.inputC == cnf.outC
            var layers: [(String, Module)] = []
            if cnf.expandedC != cnf.inputC {
                layers.append(("expand_conv", convBNActivation(cnf.inputC, cnf.expandedC, kernelSize: 1)))
            }
            layers.append(("dwconv", convBNActivation(
                cnf.expandedC, cnf.expandedC, kernelSize: cnf.kernel, stride: cnf.stride, groups: cnf.expandedC)))
            if cnf.useSE { layers.append(("se", SqueezeExcitation(inputC: cnf.inputC, expandC: cnf.expandedC))) }
            layers.append(("project_conv", convBNActivation(
                cnf.expandedC, cnf.outC, kernelSize: 1, activationLayer: Identity())))
            block = Sequential(named: layers)
            dropout = useResConnect && cnf.dropRate > 0 ? Dropout(cnf.dropRate) : Identity()
            super.init()
            registerModule("block", block)
            registerModule("dropout", dropout)
        }

        override func forward(_ input: Tensor) throws -> Tensor {
            var result = try dropout(block(input))
            if useResConnect { try Kernels.addInPlace(&result, input) }
            return result
        }
    }

    /// `EfficientNet(width_coefficient, depth_coefficient, num_classes, dropout_rate, drop_connect_rate)`:
    /// `features`, `avgpool`, `classifier`.
    public final class EfficientNet: FeaturesPoolClassifier, @unchecked Sendable {
        /// `default_cnf`: kernel_size, in_channel, out_channel, exp_ratio, strides, use_SE, repeats (the
        /// drop_connect_rate column is the constructor's argument in every row).
        typealias Stage = (kernel: Int, inputC: Int, outC: Int, expandedRatio: Int, stride: Int, useSE: Bool, repeats: Int)
        static let defaultCnf: [Stage] = [
            (3, 32, 16, 1, 1, true, 1),
            (3, 16, 24, 6, 2, true, 2),
            (5, 24, 40, 6, 2, true, 2),
            (3, 40, 80, 6, 2, true, 3),
            (5, 80, 112, 6, 1, true, 3),
            (5, 112, 192, 6, 2, true, 4),
            (3, 192, 320, 6, 1, true, 1),
        ]

        init(
            widthCoefficient: Double, depthCoefficient: Double, numClasses: Int, dropoutRate: Double,
            dropConnectRate: Double
        ) throws {
            func roundRepeats(_ repeats: Int) -> Int { Int((depthCoefficient * Double(repeats)).rounded(.up)) }
            let numBlocks = Double(EfficientNet.defaultCnf.reduce(0) { $0 + roundRepeats($1.repeats) })
            var setting: [InvertedResidualConfig] = []
            for (stage, row) in EfficientNet.defaultCnf.enumerated() {
                for i in 0..<roundRepeats(row.repeats) {
                    // `index = str(stage + 1) + chr(i + 97)`: 1a, 2a, 2b, ...
                    guard let letter = Unicode.Scalar(UInt32(97 + i)) else {
                        throw ModelError.invalidConfiguration("no block letter for repeat \(i)")
                    }
                    // Only a stage's first block changes the width and the resolution.
                    setting.append(InvertedResidualConfig(
                        kernel: row.kernel, inputC: i > 0 ? row.outC : row.inputC, outC: row.outC,
                        expandedRatio: row.expandedRatio, stride: i > 0 ? 1 : row.stride, useSE: row.useSE,
                        dropRate: dropConnectRate * Double(setting.count) / numBlocks,
                        index: "\(stage + 1)\(Character(letter))", widthCoefficient: widthCoefficient))
                }
            }
            guard let last = setting.last else {
                throw ModelError.invalidConfiguration("depth_coefficient \(depthCoefficient) leaves no blocks")
            }
            let adjustChannels = { InvertedResidualConfig.adjustChannels($0, widthCoefficient) }
            var layers: [(String, Module)] = [
                ("stem_conv", convBNActivation(3, adjustChannels(32), kernelSize: 3, stride: 2)),
            ]
            for cnf in setting { layers.append((cnf.index, try InvertedResidual(cnf))) }
            let lastConvOutputC = adjustChannels(1280)
            layers.append(("top", convBNActivation(last.outC, lastConvOutputC, kernelSize: 1)))
            // Without dropout the Linear is `classifier.0`.
            let dropout: [Module] = dropoutRate > 0 ? [Dropout(dropoutRate)] : []
            super.init(
                features: Sequential(named: layers), avgpool: AdaptiveAvgPool2d(1),
                classifier: Sequential(dropout + [Linear(lastConvOutputC, numClasses)]))
        }
    }
}

extension ModelZoo {
    /// efficientnet_bN(num_classes): (width_coefficient, depth_coefficient, dropout_rate).
    private static let letteredConfigurations: [String: (Double, Double, Double)] = [
        "efficientnet_b0_lettered": (1.0, 1.0, 0.2),
        "efficientnet_b1_lettered": (1.0, 1.1, 0.2),
        "efficientnet_b2_lettered": (1.1, 1.2, 0.3),
        "efficientnet_b3_lettered": (1.2, 1.4, 0.3),
        "efficientnet_b4_lettered": (1.4, 1.8, 0.4),
        "efficientnet_b5_lettered": (1.6, 2.2, 0.4),
        "efficientnet_b6_lettered": (1.8, 2.6, 0.5),
        "efficientnet_b7_lettered": (2.0, 3.1, 0.5),
    ]

    /// The builders take `num_classes`; the other `EfficientNet` constructor arguments override the variant's.
    static let efficientnetLetteredBuilders: [String: Builder] = letteredConfigurations.mapValues { configuration in
        { arguments in
            let (width, depth, dropout) = configuration
            return try EfficientNetV1Notes.EfficientNet(
                widthCoefficient: try arguments.double("width_coefficient", default: width, in: 0.01...8),
                depthCoefficient: try arguments.double("depth_coefficient", default: depth, in: 0.01...8),
                numClasses: try arguments.numClasses(),
                dropoutRate: try arguments.double("dropout_rate", default: dropout, in: 0...1),
                dropConnectRate: try arguments.double("drop_connect_rate", default: 0.2, in: 0...1))
        }
    }
}
