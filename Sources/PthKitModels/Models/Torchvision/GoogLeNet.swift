import PthKitRuntime

/// torchvision `models/googlenet.py`: GoogLeNet (Inception v1), key for key, in eval mode.
public final class GoogLeNet: Module, @unchecked Sendable {
    /// `BasicConv2d`: conv without bias, batch norm with eps 0.001, ReLU.
    final class BasicConv2d: Module, @unchecked Sendable {
        let conv: Conv2d, bn: BatchNorm2d

        init(_ inChannels: Int, _ outChannels: Int, kernelSize: Pair, stride: Pair = 1, padding: Pair = 0) {
            conv = Conv2d(inChannels, outChannels, kernelSize: kernelSize, stride: stride, padding: padding, bias: false)
            bn = BatchNorm2d(outChannels, eps: 0.001)
            super.init()
            registerModule("conv", conv)
            registerModule("bn", bn)
        }

        override func forward(_ input: Tensor) throws -> Tensor {
            // torchvision: `F.relu(self.bn(self.conv(x)), inplace=True)`.
            Kernels.activated(try bn(conv(input)), .relu)
        }
    }

    /// `InceptionAux`: the auxiliary classifier. Its weights are in the state dict, but the eval
    /// forward pass never calls it.
    final class InceptionAux: Module, @unchecked Sendable {
        let conv: BasicConv2d, fc1: Linear, fc2: Linear, dropout: Dropout

        init(_ inChannels: Int, numClasses: Int, dropout: Double) {
            conv = BasicConv2d(inChannels, 128, kernelSize: 1)
            fc1 = Linear(2048, 1024)
            fc2 = Linear(1024, numClasses)
            self.dropout = Dropout(dropout)
            super.init()
            registerModule("conv", conv)
            registerModule("fc1", fc1)
            registerModule("fc2", fc2)
            registerModule("dropout", self.dropout)
        }

        override func forward(_ input: Tensor) throws -> Tensor {
            let pooled = try Kernels.adaptiveAvgPool2d(input, outputSize: (4, 4))
            var hidden = try fc1(Kernels.flatten(conv(pooled), startDim: 1))
            Kernels.activate(&hidden, .relu)
            return try fc2(dropout(hidden))
        }
    }

    let transformInput: Bool
    /// conv1 ... inception5b, in the order `_forward` applies them (also their registration order).
    let trunk: [(name: String, module: Module)]
    let aux1: InceptionAux?, aux2: InceptionAux?
    let avgpool = AdaptiveAvgPool2d(1), dropout: Dropout, fc: Linear

    init(numClasses: Int, auxLogits: Bool, transformInput: Bool, dropout: Double, dropoutAux: Double) {
        self.transformInput = transformInput
        // torchvision's `Inception` has a 3x3 kernel in its "5x5" branch (a known bug, vision#906, that its
        // weights depend on) and ceil mode in its pool branch; its `maxpool4` is 2x2 where the paper's is 3x3.
        trunk = GoogLeNetParts.trunk(
            inceptionPrefix: "inception", lastPoolKernel: 2, branch3Kernel: 3, branch4CeilMode: true,
            basicConv: { BasicConv2d($0, $1, kernelSize: Pair($2, $2), stride: Pair($3, $3), padding: Pair($4, $4)) })
        aux1 = auxLogits ? InceptionAux(512, numClasses: numClasses, dropout: dropoutAux) : nil
        aux2 = auxLogits ? InceptionAux(528, numClasses: numClasses, dropout: dropoutAux) : nil
        self.dropout = Dropout(dropout)
        fc = Linear(1024, numClasses)
        super.init()
        for (name, module) in trunk { registerModule(name, module) }
        if let aux1, let aux2 {
            registerModule("aux1", aux1)
            registerModule("aux2", aux2)
        }
        registerModule("avgpool", avgpool)
        registerModule("dropout", self.dropout)
        registerModule("fc", fc)
    }

    /// `_transform_input`: maps an input normalized with ImageNet's mean and std to one normalized
    /// with 0.5 and 0.5, per channel x * (std / 0.5) + (mean - 0.5) / 0.5.
    private static let inputScale: [Float] = [0.229 / 0.5, 0.224 / 0.5, 0.225 / 0.5]
    private static let inputShift: [Float] = [(0.485 - 0.5) / 0.5, (0.456 - 0.5) / 0.5, (0.406 - 0.5) / 0.5]

    /// `_transform_input` (Inception v3 has the same one).
    static func transformInput(_ input: Tensor) throws -> Tensor {
        var x = input
        try Kernels.scaleShiftChannels(&x, scale: inputScale, shift: inputShift)
        return x
    }

    public override func forward(_ input: Tensor) throws -> Tensor {
        var x = input
        if transformInput { x = try Self.transformInput(x) }
        for (_, module) in trunk { x = try module(x) }
        return try fc(dropout(Kernels.flatten(avgpool(x), startDim: 1)))
    }
}

extension ModelZoo {
    static let googlenetBuilders: [String: Builder] = [
        "googlenet": { arguments in
            // Without weights torchvision's builder passes its kwargs straight to `GoogLeNet`, whose
            // defaults apply: aux_logits=True, transform_input=False.
            let numClasses = try arguments.numClasses()
            let auxLogits = try arguments.bool("aux_logits", default: true)
            let transformInput = try arguments.bool("transform_input", default: false)
            // Accepted as torchvision does; it only chooses the initial weights, which a checkpoint replaces.
            _ = try arguments.bool("init_weights", default: true)
            return GoogLeNet(
                numClasses: numClasses, auxLogits: auxLogits, transformInput: transformInput,
                dropout: try arguments.double("dropout", default: 0.2, in: 0...1),
                dropoutAux: try arguments.double("dropout_aux", default: 0.7, in: 0...1))
        },
    ]
}
