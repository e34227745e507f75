import PthKitRuntime

/// lesson-16 section 1.3: GoogLeNet (Inception V1) with batch norm inside each `conv` Sequential, the
/// Inception blocks `in3a`...`in5b` (the shared `GoogLeNetParts.Inception`) and two `AuxClf` heads.
extension Lesson16Architectures {
    /// `BasicConv2d`: `conv` = Sequential(Conv2d without bias, BatchNorm2d, ReLU).
    final class BasicConv2d: Module, @unchecked Sendable {
        let conv: Sequential

        init(_ inChannels: Int, _ outChannels: Int, kernelSize: Pair, stride: Pair = 1, padding: Pair = 0) {
            conv = Sequential(
                Conv2d(inChannels, outChannels, kernelSize: kernelSize, stride: stride, padding: padding, bias: false),
                BatchNorm2d(outChannels),
                ReLU())
            super.init()
            registerModule("conv", conv)
        }

        override func forward(_ input: Tensor) throws -> Tensor {
            try conv(input)
        }
    }

    /// `AuxClf`: `feature_` = 5x5/3 average pool + 1x1 BasicConv2d to 128, then `clf_` on the map viewed
    /// as rows of 128x4x4. Its weights are in the state dict; inference takes the main logits only.
    final class AuxClf: Module, @unchecked Sendable {
        let feature_: Sequential, clf_: Sequential

        init(_ inChannels: Int, numClasses: Int) {
            feature_ = Sequential(AvgPool2d(kernelSize: 5, stride: 3), BasicConv2d(inChannels, 128, kernelSize: 1))
            clf_ = Sequential(Linear(4 * 4 * 128, 1024), ReLU(), Dropout(0.7), Linear(1024, numClasses))
            super.init()
            registerModule("feature_", feature_)
            registerModule("clf_", clf_)
        }

        override func forward(_ input: Tensor) throws -> Tensor {
            try clf_(view(feature_(input), width: 128 * 4 * 4))
        }
    }

    /// `GoogLetNet` (sic, the document's class name). Its forward returns (main, aux1, aux2); PthKit
    /// returns the main logits and, as in eval mode, skips the auxiliary heads, whose outputs nothing
    /// uses (so inputs that their 4x4 view would reject in PyTorch still run here).
    public final class GoogLetNet: Module, @unchecked Sendable {
        /// conv1 ... in5b, in forward order (also their registration order).
        let trunk: [(name: String, module: Module)]
        let avgpool = AdaptiveAvgPool2d(1), dropout = Dropout(0.4), fc: Linear
        let aux1: AuxClf, aux2: AuxClf

        init(numClasses: Int) {
            // The paper's plan (`GoogLeNetParts`) with `in3a`...`in5b`, a real 5x5 in `Inception`'s third
            // branch, a ceil-mode pool in its fourth and a 3x3 `maxpool4`.
            trunk = GoogLeNetParts.trunk(
                inceptionPrefix: "in", lastPoolKernel: 3, branch3Kernel: 5, branch4CeilMode: true,
                basicConv: { BasicConv2d($0, $1, kernelSize: Pair($2, $2), stride: Pair($3, $3), padding: Pair($4, $4)) })
            fc = Linear(1024, numClasses)
            aux1 = AuxClf(512, numClasses: numClasses)
            aux2 = AuxClf(528, numClasses: numClasses)
            super.init()
            for (name, module) in trunk { registerModule(name, module) }
            registerModule("avgpool", avgpool)
            registerModule("dropout", dropout)
            registerModule("fc", fc)
            registerModule("aux1", aux1)
            registerModule("aux2", aux2)
        }

        public override func forward(_ input: Tensor) throws -> Tensor {
            var x = input
            for (_, module) in trunk { x = try module(x) }
            return try fc(dropout(Kernels.flatten(avgpool(x), startDim: 1)))
        }
    }
}
