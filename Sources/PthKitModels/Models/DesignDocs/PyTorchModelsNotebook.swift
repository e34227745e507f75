import PthKitRuntime

/// design-docs `pytorch-models-notebook.md`: LeNet5, the half-width AlexNet and GoogLeNet without batch
/// norm, key for key (the oracle transcription is `Scripts/oracle/design_docs/pytorch_models_notebook.py`).
/// The notebook's EfficientNet is `EfficientNetV1Notes`. Its VGG, ResNet/ResNeXt, MobileNetV2/V3 and
/// ShuffleNetV2 cells have torchvision's keys and shapes, so they are the torchvision ports, which also
/// take the two arguments where the notebook differs: `mobilenet_v2`'s `alpha` (the last conv narrows to
/// 1280 * alpha where torchvision keeps 1280) and `include_top` of its five ResNets (`ResNet.swift`).
public enum PyTorchModelsNotebook {
    /// `LeNet5`: for 1x28x28 MNIST digits, padded to 32x32 by the first conv. The classifier has no
    /// activation between its two Linears, as written. The notebook fixes 10 classes; `numClasses`
    /// (builder argument `num_classes`, a PthKit addition) sizes `classifier.1` for other label sets.
    public final class LeNet5: Module, @unchecked Sendable {
        let conv: Sequential, classifier: Sequential

        init(numClasses: Int = 10) {
            conv = Sequential(
                Conv2d(1, 6, kernelSize: 5, padding: 2), ReLU(), AvgPool2d(kernelSize: 2, stride: 2),
                Conv2d(6, 16, kernelSize: 5), ReLU(), AvgPool2d(kernelSize: 2, stride: 2),
                Conv2d(16, 120, kernelSize: 5),
                Flatten(startDim: 1))
            classifier = Sequential(Linear(120 * 1 * 1, 84), Linear(84, numClasses))
            super.init()
            registerModule("conv", conv)
            registerModule("classifier", classifier)
        }

        public override func forward(_ input: Tensor) throws -> Tensor {
            try classifier(conv(input))
        }
    }

    /// `AlexNet` with one GPU's half of the channels (48/128/192) and 2048-wide hidden layers. There is
    /// no adaptive pool: the flattened features must be 128x6x6, which inputs of 223 to 254 px give.
    public final class AlexNet: Module, @unchecked Sendable {
        let feature: Sequential, classifier: Sequential

        init(numClasses: Int) {
            feature = Sequential(
                Conv2d(3, 48, kernelSize: 11, stride: 4, padding: 2), ReLU(),
                MaxPool2d(kernelSize: 3, stride: 2),
                Conv2d(48, 128, kernelSize: 5, padding: 2), ReLU(),
                MaxPool2d(kernelSize: 3, stride: 2),
                Conv2d(128, 192, kernelSize: 3, padding: 1), ReLU(),
                Conv2d(192, 192, kernelSize: 3, padding: 1), ReLU(),
                Conv2d(192, 128, kernelSize: 3, padding: 1), ReLU(),
                MaxPool2d(kernelSize: 3, stride: 2),
                Flatten())
            classifier = Sequential(
                Dropout(0.5), Linear(128 * 6 * 6, 2048), ReLU(),
                Dropout(0.5), Linear(2048, 2048), ReLU(),
                Linear(2048, numClasses))
            super.init()
            registerModule("feature", feature)
            registerModule("classifier", classifier)
        }

        public override func forward(_ input: Tensor) throws -> Tensor {
            try classifier(feature(input))
        }
    }

    /// `BasicConv2d`: a convolution with bias, then ReLU (no batch norm, unlike torchvision's).
    final class BasicConv2d: Module, @unchecked Sendable {
        let conv: Conv2d, relu = ReLU()

        init(_ inChannels: Int, _ outChannels: Int, kernelSize: Pair, stride: Pair = 1, padding: Pair = 0) {
            conv = Conv2d(inChannels, outChannels, kernelSize: kernelSize, stride: stride, padding: padding)
            super.init()
            registerModule("conv", conv)
            registerModule("relu", relu)
        }

        override func forward(_ input: Tensor) throws -> Tensor {
            try relu(conv(input))
        }
    }

    /// `InceptionAux`: the auxiliary classifier, run by GoogLeNet only in training. Its functional
    /// dropouts follow `self.training`, so in eval they are the identity.
    final class InceptionAux: Module, @unchecked Sendable {
        let averagePool = AvgPool2d(kernelSize: 5, stride: 3), conv: BasicConv2d, fc1: Linear, fc2: Linear

        init(_ inChannels: Int, _ numClasses: Int) {
            conv = BasicConv2d(inChannels, 128, kernelSize: 1)
            fc1 = Linear(2048, 1024)
            fc2 = Linear(1024, numClasses)
            super.init()
            registerModule("averagePool", averagePool)
            registerModule("conv", conv)
            registerModule("fc1", fc1)
            registerModule("fc2", fc2)
        }

        override func forward(_ input: Tensor) throws -> Tensor {
            var hidden = try fc1(Kernels.flatten(conv(averagePool(input)), startDim: 1))
            Kernels.activate(&hidden, .relu)
            return try fc2(hidden)
        }
    }

    /// `GoogLeNet(num_classes, aux_logits)`: the paper's plan (`GoogLeNetParts`) with `BasicConv2d`
    /// blocks and a 3x3 `maxpool4`, where torchvision's is 2x2. With `aux_logits` the state dict holds
    /// `aux1`/`aux2`, which the eval forward skips.
    public final class GoogLeNet: Module, @unchecked Sendable {
        /// conv1 ... inception5b, in forward order (also their registration order).
        let trunk: [(name: String, module: Module)]
        let aux1: InceptionAux?, aux2: InceptionAux?
        let avgpool = AdaptiveAvgPool2d(1), dropout = Dropout(0.4), fc: Linear

        init(numClasses: Int, auxLogits: Bool) {
            // `Inception`'s "5x5" branch is a real 5x5, and its pool branch has no ceil mode.
            trunk = GoogLeNetParts.trunk(
                inceptionPrefix: "inception", lastPoolKernel: 3, branch3Kernel: 5, branch4CeilMode: false,
                basicConv: { BasicConv2d($0, $1, kernelSize: Pair($2, $2), stride: Pair($3, $3), padding: Pair($4, $4)) })
            aux1 = auxLogits ? InceptionAux(512, numClasses) : nil
            aux2 = auxLogits ? InceptionAux(528, numClasses) : nil
            fc = Linear(1024, numClasses)
            super.init()
            for (name, module) in trunk { registerModule(name, module) }
            if let aux1, let aux2 {
                registerModule("aux1", aux1)
                registerModule("aux2", aux2)
            }
            registerModule("avgpool", avgpool)
            registerModule("dropout", dropout)
            registerModule("fc", fc)
        }

        public override func forward(_ input: Tensor) throws -> Tensor {
            var x = input
            for (_, module) in trunk { x = try module(x) }
            return try fc(dropout(Kernels.flatten(avgpool(x), startDim: 1)))
        }
    }
}

extension ModelZoo {
    static let pytorchModelsNotebookBuilders: [String: Builder] = [
        "lenet5": { arguments in
            // Not in the notebook, whose LeNet5 always has 10 outputs: lets a new head be trained.
            PyTorchModelsNotebook.LeNet5(numClasses: try arguments.int("num_classes", default: 10, in: 1...1 << 20))
        },
        "alexnet_half": { arguments in
            let numClasses = try arguments.numClasses()
            // `init_weights` only chooses the initial weights, which a checkpoint replaces.
            _ = try arguments.bool("init_weights", default: false)
            return PyTorchModelsNotebook.AlexNet(numClasses: numClasses)
        },
        "googlenet_nobn": { arguments in
            let numClasses = try arguments.numClasses()
            let auxLogits = try arguments.bool("aux_logits", default: true)
            _ = try arguments.bool("init_weights", default: false)
            return PyTorchModelsNotebook.GoogLeNet(numClasses: numClasses, auxLogits: auxLogits)
        },
    ]
}
