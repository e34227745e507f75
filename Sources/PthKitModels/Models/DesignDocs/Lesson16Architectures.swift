import PthKitRuntime

/// design-docs `lesson-16-architectures.md`: the two VGG16 cells, NiN, GoogLeNet with batch norm
/// (`Lesson16Architectures+GoogLeNet.swift`) and ResNet from `ResidualUnit`/`Bottleneck`
/// (`Lesson16Architectures+ResNet.swift`), key for key (the oracle transcription is
/// `Scripts/oracle/design_docs/lesson16.py`). Where a cell has a bug the design-docs README lists, the
/// inference forward the lesson intends is run: `F.dropout` is the identity, and the ResNet's forward
/// returns its logits.
public enum Lesson16Architectures {
    /// VGG16's convolution widths and max pools, which both VGG16 cells spell out layer by layer.
    static let vgg16Configuration: [VGG.Layer] = [
        64, 64, .M, 128, 128, .M, 256, 256, 256, .M, 512, 512, 512, .M, 512, 512, 512, .M,
    ]

    /// `x.view(-1, width)`: rows of `width` values. Both VGG16s flatten to 512x7x7 without an adaptive
    /// pool, so only a 7x7 final map (224 to 255 px inputs) gives one row per image.
    static func view(_ x: Tensor, width: Int) throws -> Tensor {
        guard x.count > 0, x.count % width == 0 else {
            throw RuntimeError.shapeMismatch(
                operation: "view", expected: "a multiple of \(width) values", found: "shape \(x.shape)")
        }
        return try x.reshaped([x.count / width, width])
    }

    /// The first `VGG16` cell (1.2): `conv1`...`conv13` and `pool1`...`pool5` as attributes, ReLUs in
    /// the forward, `fc1`...`fc3` for 10 classes. The last Linear is followed by a ReLU too, then the
    /// softmax: the output is probabilities. (The document's second cell redefines `VGG16`; this one
    /// is `VGG16Flat` here and in the oracle.)
    public final class VGG16Flat: Module, @unchecked Sendable {
        /// conv1, conv2, pool1, conv3, ... in the order `__init__` assigns and `forward` applies them.
        let trunk: [Module]
        let fc1 = Linear(7 * 7 * 512, 4096), fc2 = Linear(4096, 4096), fc3 = Linear(4096, 10)

        override init() {
            var named: [(String, Module)] = []
            var (inChannels, convs, pools) = (3, 0, 0)
            for layer in vgg16Configuration {
                switch layer {
                case .conv(let width):
                    convs += 1
                    named.append(("conv\(convs)", Conv2d(inChannels, width, kernelSize: 3, padding: 1)))
                    inChannels = width
                case .M:
                    pools += 1
                    named.append(("pool\(pools)", MaxPool2d(kernelSize: 2)))
                }
            }
            trunk = named.map(\.1)
            super.init()
            for (name, module) in named { registerModule(name, module) }
            registerModule("fc1", fc1)
            registerModule("fc2", fc2)
            registerModule("fc3", fc3)
        }

        public override func forward(_ input: Tensor) throws -> Tensor {
            var x = input
            for layer in trunk {
                x = try layer(x)
                if layer is Conv2d { Kernels.activate(&x, .relu) }
            }
            x = try view(x, width: 7 * 7 * 512)
            // `F.dropout(x, p=0.5)` before fc1 and fc2: the identity in inference.
            for fc in [fc1, fc2, fc3] {
                x = try fc(x)
                Kernels.activate(&x, .relu)
            }
            return try Kernels.softmax(x, dim: 1)
        }
    }

    /// The second `VGG16` cell (2.1): `features_` (torchvision's VGG16 layers, index for index) and
    /// `clf_` = Dropout, Linear, ReLU, Dropout, Linear, Linear, Softmax. The document passes a ReLU as
    /// the second Linear's `bias` argument: that Linear has a bias and no ReLU follows it.
    public final class VGG16: Module, @unchecked Sendable {
        let features_: Sequential, clf_: Sequential

        override init() {
            features_ = VGG.makeLayers(vgg16Configuration, batchNorm: false)
            clf_ = Sequential(
                Dropout(0.5),
                Linear(512 * 7 * 7, 4096), ReLU(),
                Dropout(0.5),
                Linear(4096, 4096, bias: true),
                Linear(4096, 1000), Softmax(dim: 1))
            super.init()
            registerModule("features_", features_)
            registerModule("clf_", clf_)
        }

        public override func forward(_ input: Tensor) throws -> Tensor {
            try clf_(view(features_(input), width: 512 * 7 * 7))
        }
    }

    /// `NiN` for 32x32 inputs: three blocks of a spatial convolution and two 1x1 ones; the last block
    /// ends in a 7x7 average pool and a softmax over the 10 channels, so the output is N x 10 x 1 x 1.
    public final class NiN: Module, @unchecked Sendable {
        let block1: Sequential, block2: Sequential, block3: Sequential

        override init() {
            block1 = Sequential(
                Conv2d(3, 192, kernelSize: 5, padding: 2), ReLU(),
                Conv2d(192, 160, kernelSize: 1), ReLU(),
                Conv2d(160, 96, kernelSize: 1), ReLU(),
                MaxPool2d(kernelSize: 3, stride: 2),
                Dropout(0.25))
            block2 = Sequential(
                Conv2d(96, 192, kernelSize: 5, padding: 2), ReLU(),
                Conv2d(192, 192, kernelSize: 1), ReLU(),
                Conv2d(192, 192, kernelSize: 1), ReLU(),
                MaxPool2d(kernelSize: 3, stride: 2),
                Dropout(0.25))
            block3 = Sequential(
                Conv2d(192, 192, kernelSize: 3, padding: 1), ReLU(),
                Conv2d(192, 192, kernelSize: 1), ReLU(),
                Conv2d(192, 10, kernelSize: 1), ReLU(),
                AvgPool2d(kernelSize: 7, stride: 1),
                Softmax(dim: 1))
            super.init()
            registerModule("block1", block1)
            registerModule("block2", block2)
            registerModule("block3", block3)
        }

        public override func forward(_ input: Tensor) throws -> Tensor {
            try block3(block2(block1(input)))
        }
    }
}

extension ModelZoo {
    /// Every lesson-16 architecture: the VGG16s and NiN take no arguments, GoogLeNet and ResNet
    /// `num_classes`.
    static let lesson16Builders: [String: Builder] = {
        let builders: [String: Builder] = [
            "vgg16_flat": { _ in Lesson16Architectures.VGG16Flat() },
            "vgg16_lesson": { _ in Lesson16Architectures.VGG16() },
            "nin": { _ in Lesson16Architectures.NiN() },
            "googlenet_lesson": { arguments in Lesson16Architectures.GoogLetNet(numClasses: try arguments.numClasses()) },
        ]
        return builders.merging(lesson16ResNetBuilders) { first, _ in first }
    }()
}
