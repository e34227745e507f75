import PthKitRuntime

/// design-docs `mobilenet-chapter.md`: MobileNetV1, key for key (the oracle transcription is
/// `Scripts/oracle/design_docs/mobilenet_chapter.py`). The chapter's V2 and V3 are not ported.
public enum MobileNetChapter {
    /// `MobileNetV1(ch_in, n_classes)`: a strided conv then thirteen depthwise-separable blocks, all in
    /// one Sequential `model` that ends with the global average pool, then `fc`.
    public final class MobileNetV1: Module, @unchecked Sendable {
        /// `conv_dw(inp, oup, stride)` calls after `conv_bn(ch_in, 32, 2)`.
        static let depthwiseSeparable: [(inp: Int, oup: Int, stride: Int)] = [
            (32, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1), (256, 512, 2),
            (512, 512, 1), (512, 512, 1), (512, 512, 1), (512, 512, 1), (512, 512, 1),
            (512, 1024, 2), (1024, 1024, 1),
        ]

        let model: Sequential, fc: Linear

        init(chIn: Int, nClasses: Int) {
            // `conv_bn`: 3x3 conv, batch norm, ReLU.
            let convBN = Sequential(
                Conv2d(chIn, 32, kernelSize: 3, stride: 2, padding: 1, bias: false), BatchNorm2d(32), ReLU())
            // `conv_dw`: 3x3 depthwise and 1x1 pointwise, each with batch norm and ReLU.
            let convDW = Self.depthwiseSeparable.map { inp, oup, stride in
                Sequential(
                    Conv2d(inp, inp, kernelSize: 3, stride: Pair(stride, stride), padding: 1, groups: inp, bias: false),
                    BatchNorm2d(inp), ReLU(),
                    Conv2d(inp, oup, kernelSize: 1, bias: false), BatchNorm2d(oup), ReLU())
            }
            model = Sequential([convBN] + convDW + [AdaptiveAvgPool2d(1)])
            fc = Linear(1024, nClasses)
            super.init()
            registerModule("model", model)
            registerModule("fc", fc)
        }

        public override func forward(_ input: Tensor) throws -> Tensor {
            let pooled = try model(input)
            // `x.view(-1, 1024)`: rows of 1024 features, whatever the batch.
            return try fc(pooled.reshaped([pooled.count / 1024, 1024]))
        }
    }
}

extension ModelZoo {
    static let mobilenetChapterBuilders: [String: Builder] = [
        "mobilenet_v1": { arguments in
            // The constructor has no defaults; RGB input and ImageNet's classes are the usual choice.
            MobileNetChapter.MobileNetV1(
                chIn: try arguments.int("ch_in", default: 3, in: 1...4096),
                nClasses: try arguments.int("n_classes", default: 1000, in: 1...1 << 20))
        },
    ]
}
