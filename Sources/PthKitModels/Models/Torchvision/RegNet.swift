import Foundation
import PthKitRuntime

/// torchvision `models/regnet.py`: RegNetX and RegNetY (squeeze-excitation), key for key.
public final class RegNet: Module, @unchecked Sendable {
    /// `BlockParams`: per stage its depth, width, group width and bottleneck multiplier.
    struct BlockParams {
        var depths: [Int], widths: [Int], groupWidths: [Int], bottleneckMultipliers: [Double]
        var strides: [Int]
        let seRatio: Double?

        /// `BlockParams.from_init_params`: block widths on a quantized log-linear ramp, w_0 + w_a * i
        /// snapped to w_0 * w_m^k and to multiples of 8; runs of equal width form the stages. Computed in
        /// float32 with round-half-to-even, as torch computes it (the tensors are float32).
        static func fromInitParams(
            depth: Int, w0: Int, wA: Double, wM: Double, groupWidth: Int, bottleneckMultiplier: Double = 1,
            seRatio: Double? = nil
        ) throws -> BlockParams {
            let quant: Float = 8
            guard wA >= 0, w0 > 0, wM > 1, w0 % 8 == 0 else { throw ModelError.invalidConfiguration("Invalid RegNet settings") }
            let logWM = Float(Foundation.log(wM))  // `math.log(w_m)`, a double made float32 by the division
            let blockWidths = (0..<depth).map { i -> Int in
                let widthCont = Float(i) * Float(wA) + Float(w0)
                let blockCapacity = (Foundation.log(widthCont / Float(w0)) / logWM).rounded(.toNearestOrEven)
                let width = Float(w0) * Foundation.pow(Float(wM), blockCapacity)
                return Int((width / quant).rounded(.toNearestOrEven) * quant)
            }
            // A stage starts wherever the width changes.
            var stageWidths: [Int] = [], stageDepths: [Int] = []
            for width in blockWidths {
                if width == stageWidths.last { stageDepths[stageDepths.count - 1] += 1 } else {
                    stageWidths.append(width)
                    stageDepths.append(1)
                }
            }
            let stages = stageWidths.count
            let multipliers = [Double](repeating: bottleneckMultiplier, count: stages)
            // `_adjust_widths_groups_compatibilty`: a bottleneck width divisible by its group width.
            let bottleneckWidths = zip(stageWidths, multipliers).map { Int(Double($0) * $1) }
            let groupWidths = bottleneckWidths.map { min(groupWidth, $0) }
            let adjusted = zip(bottleneckWidths, groupWidths).map { makeDivisible(Double($0), $1) }
            return BlockParams(
                depths: stageDepths, widths: zip(adjusted, multipliers).map { Int(Double($0) / $1) },
                groupWidths: groupWidths, bottleneckMultipliers: multipliers,
                strides: [Int](repeating: 2, count: stages), seRatio: seRatio)
        }
    }

    /// `BottleneckTransform`, an `nn.Sequential` of `a` (1x1), `b` (grouped 3x3 with the stride),
    /// `se` (RegNetY only, squeezed relative to the block's input width) and `c` (linear 1x1).
    static func bottleneckTransform(
        widthIn: Int, widthOut: Int, stride: Int, groupWidth: Int, bottleneckMultiplier: Double, seRatio: Double?
    ) -> Sequential {
        let wB = Int((Double(widthOut) * bottleneckMultiplier).rounded(.toNearestOrEven))
        let g = wB / groupWidth
        var layers: [(String, Module)] = [
            ("a", Conv2dNormActivation(widthIn, wB, kernelSize: 1)),
            ("b", Conv2dNormActivation(wB, wB, kernelSize: 3, stride: stride, groups: g)),
        ]
        if let seRatio, seRatio != 0 {
            let widthSeOut = Int((seRatio * Double(widthIn)).rounded(.toNearestOrEven))
            layers.append(("se", SqueezeExcitation(wB, widthSeOut, activation: ReLU.init)))
        }
        layers.append(("c", Conv2dNormActivation(wB, widthOut, kernelSize: 1, activationLayer: nil)))
        return Sequential(named: layers)
    }

    /// `ResBottleneckBlock`: x + F(x), through a strided 1x1 projection when the shape changes.
    final class ResBottleneckBlock: Module, @unchecked Sendable {
        let proj: Conv2dNormActivation?, f: Sequential, activation = ReLU()

        init(widthIn: Int, widthOut: Int, stride: Int, groupWidth: Int, bottleneckMultiplier: Double, seRatio: Double?) {
            proj = widthIn != widthOut || stride != 1
                ? Conv2dNormActivation(widthIn, widthOut, kernelSize: 1, stride: stride, activationLayer: nil) : nil
            f = RegNet.bottleneckTransform(
                widthIn: widthIn, widthOut: widthOut, stride: stride, groupWidth: groupWidth,
                bottleneckMultiplier: bottleneckMultiplier, seRatio: seRatio)
            super.init()
            if let proj { registerModule("proj", proj) }
            registerModule("f", f)
            registerModule("activation", activation)
        }

        override func forward(_ input: Tensor) throws -> Tensor {
            let x = if let proj { try proj(input) + f(input) } else { try input + f(input) }
            return try activation(x)
        }
    }

    let stem: Conv2dNormActivation, trunkOutput: Sequential, avgpool = AdaptiveAvgPool2d(1), fc: Linear

    init(blockParams: BlockParams, numClasses: Int, stemWidth: Int) {
        stem = Conv2dNormActivation(3, stemWidth, kernelSize: 3, stride: 2)  // `SimpleStemIN`
        var currentWidth = stemWidth
        var stages: [(String, Module)] = []
        for i in blockParams.depths.indices {
            let widthOut = blockParams.widths[i]
            // `AnyStage`: blocks named `block{stage}-{index}`.
            stages.append(("block\(i + 1)", Sequential(named: (0..<blockParams.depths[i]).map { j in
                ("block\(i + 1)-\(j)", ResBottleneckBlock(
                    widthIn: j == 0 ? currentWidth : widthOut, widthOut: widthOut,
                    stride: j == 0 ? blockParams.strides[i] : 1, groupWidth: blockParams.groupWidths[i],
                    bottleneckMultiplier: blockParams.bottleneckMultipliers[i], seRatio: blockParams.seRatio))
            })))
            currentWidth = widthOut
        }
        trunkOutput = Sequential(named: stages)
        fc = Linear(currentWidth, numClasses)
        super.init()
        registerModule("stem", stem)
        registerModule("trunk_output", trunkOutput)
        registerModule("avgpool", avgpool)
        registerModule("fc", fc)
    }

    public override func forward(_ input: Tensor) throws -> Tensor {
        let x = try trunkOutput(stem(input))
        return try fc(Kernels.flatten(avgpool(x), startDim: 1))
    }
}

extension ModelZoo {
    /// name -> `BlockParams.from_init_params` arguments (depth, w_0, w_a, w_m, group_width, se_ratio):
    /// torchvision's builders as a table.
    private static let regnetConfigurations: [String: (Int, Int, Double, Double, Int, Double?)] = [
        "regnet_y_400mf": (16, 48, 27.89, 2.09, 8, 0.25),
        "regnet_y_800mf": (14, 56, 38.84, 2.4, 16, 0.25),
        "regnet_y_1_6gf": (27, 48, 20.71, 2.65, 24, 0.25),
        "regnet_y_3_2gf": (21, 80, 42.63, 2.66, 24, 0.25),
        "regnet_y_8gf": (17, 192, 76.82, 2.19, 56, 0.25),
        "regnet_y_16gf": (18, 200, 106.23, 2.48, 112, 0.25),
        "regnet_y_32gf": (20, 232, 115.89, 2.53, 232, 0.25),
        "regnet_y_128gf": (27, 456, 160.83, 2.52, 264, 0.25),
        "regnet_x_400mf": (22, 24, 24.48, 2.54, 16, nil),
        "regnet_x_800mf": (16, 56, 35.73, 2.28, 16, nil),
        "regnet_x_1_6gf": (18, 80, 34.01, 2.25, 24, nil),
        "regnet_x_3_2gf": (25, 88, 26.31, 2.25, 48, nil),
        "regnet_x_8gf": (23, 80, 49.56, 2.88, 120, nil),
        "regnet_x_16gf": (22, 216, 55.59, 2.1, 128, nil),
        "regnet_x_32gf": (23, 320, 69.86, 2.0, 168, nil),
    ]

    static let regnetBuilders: [String: Builder] = regnetConfigurations.mapValues { configuration in
        { arguments in
            let (depth, w0, wA, wM, groupWidth, seRatio) = configuration
            let params = try RegNet.BlockParams.fromInitParams(
                depth: depth, w0: w0, wA: wA, wM: wM, groupWidth: groupWidth, seRatio: seRatio)
            return RegNet(
                blockParams: params, numClasses: try arguments.numClasses(),
                stemWidth: try arguments.int("stem_width", default: 32, in: 1...4096))
        }
    }
}
