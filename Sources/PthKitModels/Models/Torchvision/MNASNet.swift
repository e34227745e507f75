import PthKitRuntime

/// torchvision `models/mnasnet.py`: MNASNet B1 at depth multipliers 0.5, 0.75, 1.0 and 1.3, key for key.
///
/// torchvision's `_version` 2 scales the stem with `alpha` too (version 1 kept it at 32 and 16
/// channels); the official state dicts and every model torchvision builds today are version 2.
public final class MNASNet: Module, @unchecked Sendable {
    /// `_InvertedResidual`: 1x1 expansion, depthwise `kernel_size`, linear 1x1 projection, all with
    /// batch norm, plus the input when the block keeps the shape.
    final class InvertedResidual: InvertedResidualBlock, @unchecked Sendable {
        init(_ inCh: Int, _ outCh: Int, kernelSize: Int, stride: Int, expansionFactor: Int) {
            let midCh = inCh * expansionFactor
            super.init("layers", [
                Conv2d(inCh, midCh, kernelSize: 1, bias: false), BatchNorm2d(midCh), ReLU(),
                Conv2d(
                    midCh, midCh, kernelSize: Pair(kernelSize, kernelSize), stride: Pair(stride, stride),
                    padding: Pair(kernelSize / 2, kernelSize / 2), groups: midCh, bias: false),
                BatchNorm2d(midCh), ReLU(),
                Conv2d(midCh, outCh, kernelSize: 1, bias: false), BatchNorm2d(outCh),
            ], useResConnect: inCh == outCh && stride == 1)
        }
    }

    /// `_stack`: the first block changes width and resolution, the rest repeat at the new width.
    static func stack(
        _ inCh: Int, _ outCh: Int, kernelSize: Int, stride: Int, expFactor: Int, repeats: Int
    ) -> Sequential {
        Sequential((0..<repeats).map { i in
            InvertedResidual(
                i == 0 ? inCh : outCh, outCh, kernelSize: kernelSize, stride: i == 0 ? stride : 1,
                expansionFactor: expFactor)
        })
    }

    /// `_round_to_multiple_of` with its default bias 0.9: like `_make_divisible`, rounding up when
    /// rounding to the nearest multiple would lose more than 10%.
    static func roundToMultipleOf(_ value: Double, _ divisor: Int) -> Int {
        let rounded = max(divisor, Int(value + Double(divisor) / 2) / divisor * divisor)
        return Double(rounded) >= 0.9 * value ? rounded : rounded + divisor
    }

    /// `_get_depths`: the channel counts of the stem and the six stacks, scaled by `alpha`.
    static func depths(alpha: Double) -> [Int] {
        [32, 16, 24, 40, 80, 96, 192, 320].map { roundToMultipleOf(Double($0) * alpha, 8) }
    }

    /// The six `_stack` calls: kernel, stride, expansion, repeats.
    static let stacks: [(kernel: Int, stride: Int, expansion: Int, repeats: Int)] = [
        (3, 2, 3, 3), (5, 2, 3, 3), (5, 2, 6, 3), (3, 1, 6, 2), (5, 2, 6, 4), (3, 1, 6, 1),
    ]

    let layers: Sequential, classifier: Sequential

    init(alpha: Double, numClasses: Int, dropout: Double) {
        let d = Self.depths(alpha: alpha)
        var layers: [Module] = [
            Conv2d(3, d[0], kernelSize: 3, stride: 2, padding: 1, bias: false), BatchNorm2d(d[0]), ReLU(),
            Conv2d(d[0], d[0], kernelSize: 3, padding: 1, groups: d[0], bias: false), BatchNorm2d(d[0]), ReLU(),
            Conv2d(d[0], d[1], kernelSize: 1, bias: false), BatchNorm2d(d[1]),
        ]
        for (i, s) in Self.stacks.enumerated() {
            layers.append(Self.stack(
                d[i + 1], d[i + 2], kernelSize: s.kernel, stride: s.stride, expFactor: s.expansion, repeats: s.repeats))
        }
        layers += [Conv2d(d[7], 1280, kernelSize: 1, bias: false), BatchNorm2d(1280), ReLU()]
        self.layers = Sequential(layers)
        classifier = Sequential(Dropout(dropout), Linear(1280, numClasses))
        super.init()
        registerModule("layers", self.layers)
        registerModule("classifier", classifier)
    }

    public override var metadataVersion: Int { 2 }

    public override func forward(_ input: Tensor) throws -> Tensor {
        // `x.mean([2, 3])`: the same sum over each plane divided by its size.
        let pooled = try Kernels.adaptiveAvgPool2d(layers(input), outputSize: (1, 1))
        return try classifier(Kernels.flatten(pooled, startDim: 1))
    }
}

extension ModelZoo {
    private static let mnasnetAlphas: [String: Double] = [
        "mnasnet0_5": 0.5, "mnasnet0_75": 0.75, "mnasnet1_0": 1.0, "mnasnet1_3": 1.3,
    ]

    static let mnasnetBuilders: [String: Builder] = mnasnetAlphas.mapValues { alpha in
        { arguments in
            MNASNet(
                alpha: alpha, numClasses: try arguments.numClasses(),
                dropout: try arguments.double("dropout", default: 0.2, in: 0...1))
        }
    }
}
